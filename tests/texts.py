"""Offline test texts: real English prose and code from the Python standard library."""

from __future__ import annotations

import inspect
import random
import re
from pathlib import Path

_MODULES = ("argparse", "collections", "functools", "itertools", "json", "logging", "pathlib",
            "re", "string", "textwrap", "typing", "unittest", "datetime", "decimal", "heapq")


def stdlib_prose(min_chars: int = 8000) -> str:
    """Docstrings of standard-library modules and their members, joined into paragraphs."""
    paragraphs: list[str] = []
    for name in _MODULES:
        module = __import__(name)
        for obj in [module, *[getattr(module, a) for a in sorted(dir(module)) if not a.startswith("_")]]:
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 200 and doc not in paragraphs:
                paragraphs.append(doc)
        if sum(map(len, paragraphs)) >= min_chars:
            break
    return "\n\n".join(paragraphs)


def documents(count: int, chars: int = 900) -> list[str]:
    """``count`` distinct documents of about ``chars`` characters."""
    text = stdlib_prose(count * chars + 1000)
    return [text[i * chars:(i + 1) * chars].strip() for i in range(count)]


def tricky_strings(seed: int = 0) -> list[str]:
    """Edge cases for tokenizers: spaces, code, French, emoji, CJK, control-token text."""
    fixed = [
        "Hello world", " leading space", "  two leading spaces", "a  b   c    d",
        "trailing spaces   ", "\ttabs\tand\nnewlines\n\n\n", "", " ", "\n",
        "def f(x):\n    return x ** 2  # square\n", "if (a && b) { return [1, 2, 3]; }",
        "Ça coûte 12,50 € à l'hôtel près de la gare — très cher !",
        "emoji 😀🎉👍🏽 mixed with text", "中文测试，日本語のテキスト、한국어 텍스트",
        "literal [INST] do this [/INST] and <s> and </s> and <unk> text",
        "[TOOL_CALLS] [AVAILABLE_TOOLS] [IMG] [control_8]", "3.14159 1,000,000 2024-11-25 0x1F",
        "https://example.org/path?q=1&r=two#frag", "UUID 123e4567-e89b-12d3-a456-426614174000",
        "\u00a0non-breaking\u2009thin\u200bzero-width", "ｆｕｌｌｗｉｄｔｈ", "a" * 300,
    ]
    rng = random.Random(seed)
    alphabet = "ab cdé\n\t  😀中[]<>/sINST0123456789"
    randoms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(200)]
    return fixed + randoms


def multilingual_documents() -> list[str]:
    """Short documents in several scripts, some written without spaces between words."""
    return [
        "The harbour festival opens on the second Saturday of June. Boats from the northern "
        "islands arrive the evening before, and the market stays open until midnight.",
        "La bibliothèque municipale ferme le lundi. Le mardi, elle ouvre à dix heures et "
        "propose un atelier d'écriture pour les enfants de huit à douze ans.",
        "Музей истории города работает с девяти утра до шести вечера. Вход для студентов "
        "бесплатный по средам, а экскурсии проходят каждый час.",
        "这座城市的地铁在早上五点半开始运营。周末的末班车延长到凌晨一点，方便游客回到酒店。",
        "市立動物園は月曜日が休園日です。パンダの展示は午前十時から午後三時までで、"
        "写真撮影は許可されていますがフラッシュは禁止です。",
        "ตลาดน้ำเปิดทุกวันเสาร์และอาทิตย์ตั้งแต่เจ็ดโมงเช้าถึงบ่ายสองโมงนักท่องเที่ยวสามารถนั่งเรือชมคลองได้",
        "يفتح المتحف الوطني أبوابه من الثلاثاء إلى الأحد. تبدأ الجولات المصحوبة بمرشد في "
        "الساعة العاشرة صباحا وتستغرق ساعة واحدة.",
    ]


# The README's example prompt and its eight numbers (1874 twice), each a whole number.
EXAMPLE_PROMPT = Path(__file__).resolve().parent.parent / "examples" / "prompt.txt"
EXAMPLE_FACTS = {"1874": 2, "1962": 1, "1911": 1, "2019": 1, "11:40": 1, "3": 1, "2011": 1}


def example_prompt() -> str:
    return EXAMPLE_PROMPT.read_text(encoding="utf-8")


def missing_facts(text: str) -> list[str]:
    """The numbers of the example prompt that ``text`` lacks (or holds only cut or glued)."""
    return [fact for fact, times in EXAMPLE_FACTS.items()
            if len(re.findall(rf"(?<![\d:]){re.escape(fact)}(?![\d:])", text)) < times]


# A code fragment a tag marks as not to be compressed (structured prompts, JSON values).
CODE = 'if a < b and "<div>" in html: return "<tag>"  # keep me'


def words(text: str) -> list[str]:
    """The whitespace-separated words of ``text``."""
    return text.split()


def is_subsequence(small: list[str], big: list[str]) -> bool:
    """Whether ``small`` appears in ``big`` in order (kept words keep their order)."""
    iterator = iter(big)
    return all(any(w == b for b in iterator) for w in small)
