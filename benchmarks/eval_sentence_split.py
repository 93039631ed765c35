"""Sentence splitters compared on hand-written text in many languages, and on NQ passages.

Each case is a list of sentences written for this benchmark; the text is the sentences joined
by a space (or by nothing, for scripts written without spaces). A splitter is scored by the
sentence starts it finds: F1 of the boundaries, per language and in all, and how many cases
it splits exactly right. A second table counts the sentences each splitter finds in NQ-open
dev passages, its time, and (when nltk's punkt data is installed) how often it cuts a
passage exactly as punkt, llmlingua's splitter, does.

    python benchmarks/eval_sentence_split.py

Splitters: ``ours`` (llmlingstral's ``split_sentences``, which guesses the rules from the
script, as a user gets it), ``sentencex`` (with English rules,
and with each case's language), ``pysbd`` (where it has the language), ``punkt`` (nltk,
English, as llmlingua; skipped when its data is not installed).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table  # noqa: E402

# (language, joiner, sentences); each list is one text.
CASES: list[tuple[str, str, list[str]]] = [
    ("en", " ", ["It was popular in the 1880s.", "The tune came later."]),
    ("en", " ", ["Prices rose in the 1970s and 80s.", "Wages did not."]),
    ("en", " ", ["Dr. Smith met Mr. J. R. Jones at 5 p.m. on Jan. 3.", "They talked."]),
    ("en", " ", ["The U.S. Army left in 1945.", "Its base closed, e.g. the one at St. Louis."]),
    ("en", " ", ["J. K. Rowling wrote it.", "It sold 3.5 million copies in 1998.",
                 "Sales fell after that."]),
    ("en", " ", ['He said "Go home."', "Then he left.", "Why?", "Nobody knows!"]),
    ("en", " ", ["Item no. 5 costs $4.99 vs. $5.99 elsewhere.", "Buy it."]),
    ("en", " ", ["The film (released in 2001) won.", "Critics were unsure at first..."]),
    ("en", " ", ["See Fig. 2 and Sect. 4.1 of the report.", "It is short."]),
    ("en", " ", ["The war ended in 1918.", "In 1919 the treaty was signed."]),
    ("fr", " ", ["M. Dupont est arrivé à 8 h. ce matin.", "Il est reparti à midi."]),
    ("fr", " ", ["La tour Eiffel a été achevée en 1889.", "Elle mesure 330 m de haut.",
                 "Qui l'a construite ?"]),
    ("de", " ", ["Er kam am 3. Oktober 1990 an.", "Das war z. B. ein Montag."]),
    ("de", " ", ["Die Firma wurde 1886 gegründet.", "Heute hat sie ca. 400.000 Mitarbeiter.",
                 "Wo ist der Sitz?"]),
    ("es", " ", ["La Sra. García vive en Madrid.", "¿Dónde vive usted?",
                 "¡Qué bonito día!"]),
    ("es", " ", ["El edificio se terminó en 1931.", "Tiene 102 pisos."]),
    ("it", " ", ["Il sig. Rossi è partito ieri.", "Tornerà domani, forse."]),
    ("pt", " ", ["O Brasil tornou-se independente em 1822.", "A capital é Brasília."]),
    ("ru", " ", ["Москва — столица России.", "В ней живёт около 13 млн. человек.",
                 "Это много?"]),
    ("ru", " ", ["А. С. Пушкин родился в 1799 г. в Москве.", "Он писал стихи."]),
    ("el", " ", ["Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.", "Είναι πολύ παλιά πόλη;"]),
    ("zh", "", ["我昨天去了北京。", "天气很好！", "你去过长城吗？"]),
    ("zh", "", ["埃菲尔铁塔于1889年建成。", "它高330米。"]),
    ("ja", "", ["今日は晴れです。", "明日は雨が降るでしょう。", "傘を持っていきますか？"]),
    ("ja", "", ["東京タワーは1958年に完成した。", "高さは333メートルだ！"]),
    ("ko", " ", ["서울은 한국의 수도입니다.", "인구는 약 천만 명입니다.", "가 보셨나요?"]),
    ("th", " ", ["ฉันไปตลาดเมื่อวานนี้", "วันนี้ฝนตกหนักมาก"]),
    ("th", " ", ["กรุงเทพฯ เป็นเมืองหลวงของประเทศไทย", "มีประชากรมากกว่าสิบล้านคน"]),
    ("ar", " ", ["القاهرة هي عاصمة مصر.", "هل زرتها من قبل؟", "إنها مدينة جميلة!"]),
    ("ar", " ", ["بُني البرج في عام 1889.", "يبلغ ارتفاعه 330 متراً."]),
    ("hi", " ", ["दिल्ली भारत की राजधानी है।", "क्या आप वहाँ गए हैं?",
                 "यह एक बड़ा शहर है।"]),
    ("hi", " ", ["ताजमहल 1653 में बना।", "यह आगरा में है।"]),
    ("fa", " ", ["تهران پایتخت ایران است.", "آیا آنجا رفته‌اید؟"]),
    ("tr", " ", ["Ankara Türkiye'nin başkentidir.", "İstanbul ise en büyük şehirdir."]),
]

PYSBD_LANGUAGES = {"en", "fr", "de", "es", "it", "ru", "zh", "ja", "ar", "hi", "fa", "el"}


def gold_starts(joiner: str, sentences: list[str]) -> set[int]:
    starts, offset = set(), 0
    for sentence in sentences[:-1]:
        offset += len(sentence) + len(joiner)
        starts.add(offset)
    return starts


def found_starts(text: str, pieces: list[str]) -> set[int]:
    """Where each piece after the first begins, moved past leading whitespace."""
    starts, offset = set(), 0
    for piece in pieces:
        offset = text.index(piece, offset) if piece else offset
        start = offset + len(piece) - len(piece.lstrip())
        if 0 < start < len(text):
            starts.add(start)
        offset += len(piece)
    return starts


def splitters() -> dict[str, Callable[[str, str], list[str] | None]]:
    from llmlingstral.text import sentences as ours

    found: dict[str, Callable[[str, str], list[str] | None]] = {
        "ours": lambda lang, text: ours.split_sentences(text)}
    try:
        from sentencex import segment
        found["sentencex (en)"] = lambda lang, text: list(segment("en", text))
        found["sentencex (language)"] = lambda lang, text: list(segment(lang, text))
    except ImportError:
        pass
    try:
        import pysbd
        found["pysbd (language)"] = lambda lang, text: (
            pysbd.Segmenter(language=lang, clean=False).segment(text)
            if lang in PYSBD_LANGUAGES else None)
    except ImportError:
        pass
    try:
        import nltk
        nltk.data.find("tokenizers/punkt_tab")
        found["punkt (en)"] = lambda lang, text: nltk.sent_tokenize(text)
    except (ImportError, LookupError):
        pass
    return found


def compare(split: Callable[[str, str], list[str] | None]) -> dict[str, list[int]]:
    """Per language: [true positives, found, gold, exact cases, cases]."""
    counts: dict[str, list[int]] = {}
    for lang, joiner, sentences in CASES:
        text = joiner.join(sentences)
        pieces = split(lang, text)
        if pieces is None:
            continue
        gold, got = gold_starts(joiner, sentences), found_starts(text, pieces)
        row = counts.setdefault(lang, [0, 0, 0, 0, 0])
        row[0] += len(gold & got)
        row[1] += len(got)
        row[2] += len(gold)
        row[3] += gold == got
        row[4] += 1
    return counts


def f1(tp: int, found: int, gold: int) -> float:
    return 2 * tp / (found + gold) if found + gold else 1.0


def nq_table(found: dict[str, Callable[[str, str], list[str] | None]],
             passages: list[str]) -> list[list]:
    """Per splitter: sentences found, passages split exactly as punkt splits them (when
    nltk's punkt data is installed), seconds."""
    punkt = found.get("punkt (en)")
    rows = []
    for name, split in found.items():
        start = time.perf_counter()
        pieces = [split("en", text) or [] for text in passages]
        seconds = time.perf_counter() - start
        count = sum(1 for p in pieces for s in p if s.strip())
        same = "-" if punkt is None else sum(
            found_starts(t, p) == found_starts(t, punkt("en", t))
            for t, p in zip(passages, pieces))
        rows.append([name, count, same, f"{seconds:.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nq", type=int, default=400,
                        help="NQ-open dev passages for the agreement with punkt (0: none)")
    args = parser.parse_args()
    found = splitters()
    languages = list(dict.fromkeys(lang for lang, _, _ in CASES))
    results = {name: compare(split) for name, split in found.items()}
    rows = []
    for name, counts in results.items():
        total = [sum(c[i] for c in counts.values()) for i in range(5)]
        per_language = [f"{f1(*counts[lang][:3]):.2f}" if lang in counts else "-"
                        for lang in languages]
        rows.append([name, f"{f1(*total[:3]):.3f}", f"{total[3]}/{total[4]}", *per_language])
    print(f"{len(CASES)} hand-written cases in {len(languages)} languages; {machine()}\n")
    print(markdown_table(["splitter", "boundary F1", "cases exact", *languages], rows))
    if args.nq:
        import eval_nq
        records = eval_nq.load_dev(eval_nq.DEFAULT_DATA)[: args.nq]
        passages = [eval_nq.passage(r) for r in records]
        print(f"\n{len(passages)} NQ-open dev passages (records 0..{len(passages) - 1})\n")
        print(markdown_table(["splitter", "sentences", "passages split as punkt", "seconds"],
                             nq_table(found, passages)))

if __name__ == "__main__":
    main()
