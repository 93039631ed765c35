"""Generated texts full of facts, in many scripts, and the properties compression must keep.

:func:`fact_texts` writes paragraphs in English, French, Chinese, Japanese, Thai, Arabic,
Hindi, Russian and Korean, or a mix of them, with numbers (in each script's digits and in
Han numerals), dates, times, amounts, URLs, e-mail addresses and identifiers inside. The
checks take what a compression kept (``result.kept``: ranges of the uncompressed prompt) and
its output, and are shared by every method's tests:

* :func:`split_spans`: protected spans the kept ranges cut (each must be kept whole or
  dropped whole);
* :func:`split_clusters`: kept ranges that start or end inside a character cluster;
* :func:`glued_runs`: words or numbers of the output that are no word or number of the input
  (two kept pieces glued together, or a piece of a word).
"""

from __future__ import annotations

import random
from typing import Sequence

import regex

from llmlingstral.text.protect import Protection, protected_spans
from llmlingstral.text.scripts import UNSPACED_RANGES, cluster_starts

LANGUAGES = ("en", "fr", "zh", "ja", "th", "ar", "hi", "ru", "ko", "mixed")

# Sentence templates per language; {n} a number, {d} a date, {t} a time, {m} an amount,
# {u} a URL, {e} an e-mail address, {i} an identifier.
_TEMPLATES = {
    "en": ["The harbour festival began in {n} and draws about {n} visitors every year.",
           "The last bus leaves the square at {t} on {d}.",
           "Tickets cost {m} for adults, and the programme is at {u}.",
           "Write to {e} about order {i} before {d}.",
           "The committee has {n} members and meets at {t} in the old net loft."],
    "fr": ["La fête du port a commencé en {n} et attire {n} visiteurs.",
           "Le dernier bus part à {t} le {d}.",
           "La nouvelle ligne a coûté {m}, selon le rapport {i}.",
           "Écrivez à {e} ou consultez {u} avant le {d}."],
    "zh": ["港口节始于{n}年，每年吸引约{n}名游客。", "末班车在{d}{t}从广场出发。",
           "门票价格是{m}，详情见{u}。", "请在{d}前发邮件到{e}，注明订单{i}。",
           "委员会共有{c}名成员，节日持续{c}天。"],
    "ja": ["港祭りは{n}年に始まり、毎年{n}人が訪れます。", "最終バスは{d}の{t}に出ます。",
           "入場料は{m}で、詳しくは{u}をご覧ください。", "注文{i}については{e}までご連絡ください。",
           "祭りは{c}日間続き、提灯は{c}個あります。"],
    "th": ["เทศกาลท่าเรือเริ่มในปี {n} และมีผู้มาเที่ยวราว {n} คน",
           "รถเมล์เที่ยวสุดท้ายออกเวลา {t} วันที่ {d}", "ค่าเข้าชม {m} ดูรายละเอียดที่ {u}",
           "ติดต่อ {e} เรื่องคำสั่งซื้อ {i}"],
    "ar": ["بدأ مهرجان الميناء عام {n} ويزوره نحو {n} زائر كل عام.",
           "تغادر الحافلة الأخيرة الساعة {t} يوم {d}.", "سعر التذكرة {m} والتفاصيل على {u}.",
           "راسلونا على {e} بخصوص الطلب {i}."],
    "hi": ["बंदरगाह उत्सव {n} में शुरू हुआ और हर साल लगभग {n} लोग आते हैं।",
           "आखिरी बस {d} को {t} बजे निकलती है।", "टिकट की कीमत {m} है, विवरण {u} पर है।",
           "ऑर्डर {i} के लिए {e} पर लिखें।"],
    "ru": ["Праздник порта начался в {n} году и собирает около {n} гостей.",
           "Последний автобус уходит в {t} {d}.", "Билет стоит {m}, программа на {u}.",
           "Пишите на {e} по заказу {i}."],
    "ko": ["항구 축제는 {n}년에 시작되었고 매년 약 {n}명이 찾습니다.",
           "마지막 버스는 {d} {t}에 출발합니다.", "입장료는 {m}이며 자세한 내용은 {u}에 있습니다.",
           "주문 {i}에 대해서는 {e}로 문의하세요."],
}

_FACTS = {
    "n": {"*": ["1874", "1962", "14,720", "3,5", "250", "12.5", "1 200"],
          "ar": ["١٨٧٤", "٣٥٠", "1911"], "hi": ["२०२४", "1874", "३५"], "th": ["๒๕๖๗", "1962"],
          "ja": ["1874", "１２", "250"], "zh": ["1874", "250", "３０"]},
    "c": {"*": ["一百八十", "十二", "三十", "五十", "一百二十"]},
    "d": {"*": ["2024-09-12", "12/09/2024"], "en": ["12 September 2024", "September 12, 2024"],
          "fr": ["12 septembre 2024"], "zh": ["2024年9月12日", "九月十二日"],
          "ja": ["2024年9月12日", "九月十二日"], "ko": ["2024년 9월 12일"],
          "ru": ["12 сентября 2024"]},
    "t": {"*": ["11:40", "19:30", "07:15"], "fr": ["14h30", "11:40"], "en": ["11:40 pm", "7:15"]},
    "m": {"*": ["$3.5M", "€12", "USD 40"], "fr": ["3,5 millions d'euros", "12,50 €"],
          "zh": ["100元", "200元"], "ja": ["3000円", "１２円"], "th": ["350 บาท"],
          "hi": ["₹500"], "ru": ["100 рублей"]},
    "u": {"*": ["https://example.org/festival?day=2", "www.kestrel-bay.example/tickets"]},
    "e": {"*": ["ana@example.org", "bob.smith@kestrel.example"]},
    "i": {"*": ["ABC-1234", "CVE-2024-3094", "v2.3.1", "iPhone15", "ORD_77Z"]},
}


def fact_texts(count: int, seed: int = 0, sentences: tuple[int, int] = (8, 14)) -> list[tuple[str, str]]:
    """``count`` generated ``(language, text)`` pairs, cycling through :data:`LANGUAGES`."""
    rng = random.Random(seed)
    spoken = [lang for lang in LANGUAGES if lang != "mixed"]
    texts = []
    for index in range(count):
        language = LANGUAGES[index % len(LANGUAGES)]
        parts = []
        for _ in range(rng.randint(*sentences)):
            lang = rng.choice(spoken) if language == "mixed" else language
            parts.append(_sentence(lang, rng))
        joiner = "" if language in ("zh", "ja") else " "
        texts.append((language, joiner.join(parts)))
    return texts


def _sentence(language: str, rng: random.Random) -> str:
    template = rng.choice(_TEMPLATES[language])
    if "{c}" in template and language not in ("zh", "ja"):
        template = template.replace("{c}", "{n}")
    return regex.sub(r"\{(\w)\}", lambda m: _fact(m.group(1), language, rng), template)


def _fact(kind: str, language: str, rng: random.Random) -> str:
    choices = _FACTS[kind]
    return rng.choice(choices.get(language, choices["*"]))


# ----------------------------------------------------------------------------- checks

Range = tuple[int, int]


def _kept_mask(source: str, ranges: Sequence[Range]) -> list[bool]:
    mask = [False] * len(source)
    for start, end in ranges:
        mask[start:end] = [True] * (end - start)
    return mask


def split_spans(source: str, ranges: Sequence[Range],
                protection: Protection = Protection()) -> list[str]:
    """The protected spans of ``source`` that ``ranges`` keep only part of."""
    mask = _kept_mask(source, ranges)
    return [source[s.start:s.end] for s in protected_spans(source, protection)
            if 0 < sum(mask[s.start:s.end]) < s.end - s.start]


def split_clusters(source: str, ranges: Sequence[Range]) -> list[int]:
    """Edges of ``ranges`` that fall inside a character cluster of ``source``."""
    starts = set(cluster_starts(source))
    return [edge for start, end in ranges for edge in (start, end) if edge not in starts]


# A word or number: letters and digits of scripts written with spaces, with their marks.
_RUN = regex.compile(rf"(?:(?![{UNSPACED_RANGES}])[\p{{L}}\p{{M}}\p{{Nd}}_])+")


def glued_runs(source: str, output: str) -> list[str]:
    """Words and numbers of ``output`` that are no whole word or number of ``source``."""
    whole = set(_RUN.findall(source))
    return [run for run in _RUN.findall(output) if run not in whole]
