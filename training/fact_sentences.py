"""Fact-dense teacher passages in English, French, German, Chinese and Japanese.

The corpus and the human sentences hold few dates, times and amounts, and no text outside
English. These short passages are built from sentence templates: each template marks the
words a reader can do without as ``((...))``, the compression is the template without them,
and the slots (``{date}``, ``{amount}``, ...) are filled with random facts written the way
each language writes them. The facts themselves are never dropped, so with the labeller's
protection the classifier sees facts kept in every language, and it sees filler dropped
around them in scripts it never met in the corpus.

    records = fact_records(count=500, seed=7)  # (prompt, compressed_prompt) records
"""

from __future__ import annotations

import random
import re
from typing import Callable

EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
FR_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre")
DE_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember")
CJK_DIGITS = "〇一二三四五六七八九"

TEMPLATES = {
    "en": [
        "((According to the latest report,)) the company earned {amount} in {year}((, which "
        "was more than analysts had expected)).",
        "The meeting ((has been moved and)) will ((now)) start on {date} at {time}((, in the "
        "usual room)).",
        "((As far as we know,)) the last bus ((to the airport)) leaves at {time} ((every "
        "evening)).",
        "Prices ((in the region)) rose ((by)) {percent} ((over the last year)), to "
        "{amount}((, the office said)).",
        "((Please note that)) order {ident} ((was shipped and)) should arrive ((by)) {date}.",
        "The bridge((, which is very old,)) was built in {year} and ((is)) {number} metres "
        "long.",
        "((In total,)) {count} people ((had)) signed up ((for the event)) by {date}.",
        "((The team says that)) version {version} ((finally)) fixes {count} ((known)) bugs.",
    ],
    "fr": [
        "((Selon le dernier rapport,)) l'entreprise a gagné {amount} en {year}((, plus que "
        "prévu)).",
        "La réunion ((a été déplacée et)) commencera le {date} à {time}((, dans la salle "
        "habituelle)).",
        "((Il faut savoir que)) le dernier bus ((pour l'aéroport)) part à {time} ((tous les "
        "soirs)).",
        "Les prix ((de la région)) ont augmenté de {percent} ((en un an)), à {amount}((, "
        "selon l'office)).",
        "((Le conseil municipal a finalement)) approuvé la ligne ((de chemin de fer)) à "
        "{amount}.",
        "((Au total,)) {count} personnes ((se sont)) inscrites ((à l'événement)) avant le "
        "{date}.",
    ],
    "de": [
        "((Laut dem neuesten Bericht)) verdiente das Unternehmen {year} ((insgesamt)) "
        "{amount}((, mehr als erwartet)).",
        "Die Sitzung ((wurde verschoben und)) beginnt ((jetzt)) am {date} um {time}((, im "
        "üblichen Raum)).",
        "((Soweit wir wissen,)) fährt der letzte Bus ((zum Flughafen)) ((jeden Abend)) um "
        "{time}.",
        "Die Preise ((in der Region)) stiegen ((im letzten Jahr)) um {percent} auf {amount}.",
        "((Insgesamt)) haben sich {count} Personen ((für die Veranstaltung)) angemeldet.",
        "Die Brücke((, die sehr alt ist,)) wurde {year} gebaut und ist {number} Meter lang.",
    ],
    "zh": [
        "((据最新报告，))公司((在)){year}年((共))收入{amount}((，超过了预期))。",
        "会议((已经改期，))将于{date}{time}开始((，地点在大厅))。",
        "((据我们所知，))((开往机场的))末班车{time}发车。",
        "((该地区的))价格((在过去一年里))上涨了{percent}，达到{amount}。",
        "((截至)){date}，((共有)){count}人报名((参加活动))。",
        "((这座))桥((历史悠久，))建于{year}年，长{number}米。",
    ],
    "ja": [
        "会社は((昨年の報告によると)){year}年に{amount}の利益を上げました((と発表しました))。",
        "会議は((変更されて、)){date}{time}に始まります((。場所は大ホールです))。",
        "((空港行きの))最終バスは((毎晩)){time}に出発します。",
        "((この地域の))価格は((昨年から)){percent}上がり、{amount}になりました。",
        "{date}までに{count}人が((イベントに))申し込みました。",
        "((この))橋は{year}年に建てられ、((長さは)){number}メートルです。",
    ],
}


def _cjk_number(n: int) -> str:
    """A number below 100 in Chinese numerals (十二, 三十, 九)."""
    tens, units = divmod(n, 10)
    head = ("" if tens == 1 else CJK_DIGITS[tens]) + "十" if tens else ""
    return head + (CJK_DIGITS[units] if units or not tens else "")


def _filler(language: str) -> dict[str, Callable[[random.Random], str]]:
    """Slot name -> random fact, written as ``language`` writes it."""
    day = lambda r: r.randint(1, 28)  # noqa: E731
    month = lambda r: r.randint(1, 12)  # noqa: E731
    year = lambda r: str(r.randint(1850, 2025))  # noqa: E731
    count = lambda r: r.choice([str(r.randint(2, 99)), f"{r.randint(100, 9999):,}"])  # noqa: E731
    common = {"year": year, "count": count, "number": lambda r: str(r.randint(12, 2400)),
              "ident": lambda r: f"{r.choice(['INV', 'ORD', 'AB'])}-{r.randint(2019, 2025)}-"
                                 f"{r.randint(1, 9999):04d}",
              "version": lambda r: f"{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}"}
    if language == "en":
        return {**common,
                "date": lambda r: r.choice([f"{day(r)} {EN_MONTHS[month(r) - 1]} {year(r)}",
                                            f"{EN_MONTHS[month(r) - 1]} {day(r)}, {year(r)}"]),
                "time": lambda r: r.choice([f"{r.randint(0, 23)}:{r.randint(0, 59):02d}",
                                            f"{r.randint(1, 12)} pm"]),
                "amount": lambda r: r.choice([f"${r.randint(1, 99)}.{r.randint(1, 9)}M",
                                              f"€{r.randint(100, 99999):,}",
                                              f"{r.randint(2, 999)} dollars"]),
                "percent": lambda r: r.choice([f"{r.randint(1, 60)}.{r.randint(1, 9)} %",
                                               f"{r.randint(2, 90)} percent"])}
    if language in ("fr", "de"):
        months = FR_MONTHS if language == "fr" else DE_MONTHS
        dot = "" if language == "fr" else "."
        return {**common,
                "date": lambda r: f"{day(r)}{dot} {months[month(r) - 1]} {year(r)}",
                "time": lambda r: (f"{r.randint(0, 23)}h{r.randint(0, 59):02d}"
                                   if language == "fr"
                                   else f"{r.randint(0, 23)}:{r.randint(0, 59):02d} Uhr"),
                "amount": lambda r: r.choice(
                    [f"{r.randint(1, 99)},{r.randint(1, 9)} millions d'euros" if language == "fr"
                     else f"{r.randint(1, 99)},{r.randint(1, 9)} Mio. Euro",
                     f"{r.randint(10, 999)} {r.randint(0, 999):03d} €"]),
                "percent": lambda r: f"{r.randint(1, 60)},{r.randint(1, 9)} %"}
    unit = "元" if language == "zh" else "円"
    return {**common,
            "date": lambda r: r.choice([f"{year(r)}年{month(r)}月{day(r)}日",
                                        f"{_cjk_number(month(r))}月{_cjk_number(day(r))}日"]),
            "time": lambda r: (f"下午{r.randint(1, 11)}点" if language == "zh"
                               else f"午後{r.randint(1, 11)}時"),
            "amount": lambda r: r.choice([f"{r.randint(2, 999)}万{unit}",
                                          f"{r.randint(100, 9999)}{unit}"]),
            "percent": lambda r: r.choice([f"{r.randint(1, 60)}%", f"{r.randint(1, 60)}.5%"])}


_DROPPABLE = re.compile(r"\(\((.*?)\)\)")
_EXTRA_SPACE = re.compile(r" +(?=[ .,])|^ +")


def fill(template: str, fillers: dict[str, Callable[[random.Random], str]],
         rng: random.Random) -> tuple[str, str]:
    """The sentence and its compression (the template without its ``((...))`` parts)."""
    values = {name: fillers[name](rng) for name in re.findall(r"\{(\w+)\}", template)}
    filled = template.format(**values)
    full = _DROPPABLE.sub(lambda m: m.group(1), filled)
    return full, _EXTRA_SPACE.sub("", _DROPPABLE.sub("", filled))


def fact_records(count: int, seed: int, sentences: tuple[int, int] = (3, 6)) -> list[dict]:
    """``count`` passages of a few template sentences each, languages taken in turn."""
    rng = random.Random(seed)
    languages = sorted(TEMPLATES)
    records = []
    for index in range(count):
        language = languages[index % len(languages)]
        fillers = _filler(language)
        joiner = "" if language in ("zh", "ja") else " "
        pairs = [fill(rng.choice(TEMPLATES[language]), fillers, rng)
                 for _ in range(rng.randint(*sentences))]
        records.append({"prompt": joiner.join(p for p, _ in pairs),
                        "compressed_prompt": joiner.join(c for _, c in pairs),
                        "source": "fact-templates", "language": language})
    return records
