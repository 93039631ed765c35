"""Paragraphs in many scripts, written for these tests (all on one theme: a harbour festival).

Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese) sit
beside scripts written with spaces, so compression can be checked in both kinds of text.
:func:`fact_texts` mixes them with facts (numbers, dates, amounts, identifiers...), and
:func:`split_spans`, :func:`split_clusters` and :func:`glued_runs` check what a compression
kept of them.
"""

from __future__ import annotations

import random
import re

import numpy as np
import regex

from llmlingstral.text.scripts import UNSPACED_RANGES as _UNSPACED_CLASS

PARAGRAPHS: dict[str, str] = {
    "en": (
        "The harbour festival opens on the first Saturday of June. Fishing boats are painted in "
        "bright colours, and the old lighthouse is lit with lanterns for three nights. Families "
        "come from the villages along the coast to buy smoked fish, listen to the brass band and "
        "watch the boat race, which starts at noon near the northern pier."
    ),
    "zh": (
        "港口节在六月的第一个星期六开幕。渔船被漆成鲜艳的颜色，古老的灯塔连续三个晚上挂满灯笼。"
        "沿海村庄的家庭纷纷赶来购买熏鱼，聆听铜管乐队的演奏，并观看中午在北码头附近开始的划船比赛。"
        "节日期间，镇上的面包店会烤制一种只在这几天出售的蜂蜜面包，孩子们在沙滩上放风筝。"
    ),
    "ja": (
        "港祭りは六月の最初の土曜日に始まります。漁船は鮮やかな色に塗られ、古い灯台は三晩にわたって"
        "提灯で照らされます。海沿いの村から家族連れが集まり、燻製の魚を買ったり、吹奏楽団の演奏を"
        "聴いたり、正午に北の桟橋の近くで始まるボートレースを見物したりします。"
        "祭りの間だけ、町のパン屋は蜂蜜のパンを焼き、子どもたちは浜辺で凧を揚げます。"
    ),
    "th": (
        "เทศกาลท่าเรือเปิดในวันเสาร์แรกของเดือนมิถุนายน เรือประมงถูกทาด้วยสีสดใส "
        "และประภาคารเก่าถูกประดับด้วยโคมไฟตลอดสามคืน ครอบครัวจากหมู่บ้านริมชายฝั่งมาซื้อปลารมควัน "
        "ฟังวงดนตรีเครื่องทองเหลือง และชมการแข่งเรือซึ่งเริ่มตอนเที่ยงใกล้ท่าเทียบเรือทางเหนือ"
    ),
    "lo": (
        "ງານບຸນທ່າເຮືອເປີດໃນວັນເສົາທຳອິດຂອງເດືອນມິຖຸນາ ເຮືອຫາປາຖືກທາສີສົດໃສ "
        "ແລະປະພາຄານເກົ່າຖືກປະດັບດ້ວຍໂຄມໄຟເປັນເວລາສາມຄືນ ຄອບຄົວຈາກບ້ານແຄມທະເລມາຊື້ປາຢ້າງ "
        "ແລະເບິ່ງການແຂ່ງເຮືອທີ່ເລີ່ມຕອນທ່ຽງໃກ້ທ່າເຮືອທາງເໜືອ"
    ),
    "km": (
        "ពិធីបុណ្យកំពង់ផែបើកនៅថ្ងៃសៅរ៍ដំបូងនៃខែមិថុនា។ ទូកនេសាទត្រូវបានលាបពណ៌ភ្លឺស្រស់ "
        "ហើយប៉មភ្លើងចាស់ត្រូវបានតុបតែងដោយគោមអស់រយៈពេលបីយប់។ គ្រួសារមកពីភូមិតាមឆ្នេរសមុទ្រមកទិញត្រីជក់ "
        "និងមើលការប្រណាំងទូកដែលចាប់ផ្តើមនៅពេលថ្ងៃត្រង់ជិតផែខាងជើង។"
    ),
    "my": (
        "ဆိပ်ကမ်းပွဲတော်ကို ဇွန်လ ပထမ စနေနေ့တွင် ဖွင့်လှစ်သည်။ ငါးဖမ်းလှေများကို အရောင်တောက်တောက်ဖြင့် "
        "ဆေးသုတ်ထားပြီး မီးပြတိုက်ဟောင်းကို ညသုံးညတိုင်တိုင် မီးအိမ်များဖြင့် ထွန်းညှိထားသည်။ "
        "ကမ်းရိုးတန်းရွာများမှ မိသားစုများသည် ငါးကင်ဝယ်ရန်နှင့် မွန်းတည့်ချိန်တွင် စတင်သော "
        "လှေပြိုင်ပွဲကို ကြည့်ရှုရန် လာရောက်ကြသည်။"
    ),
    "ko": (
        "항구 축제는 6월 첫째 토요일에 시작됩니다. 어선들은 밝은 색으로 칠해지고, 오래된 등대는 사흘 "
        "밤 동안 등불로 밝혀집니다. 해안 마을의 가족들이 훈제 생선을 사고, 관악대의 연주를 듣고, "
        "정오에 북쪽 부두 근처에서 시작되는 보트 경주를 구경하러 옵니다."
    ),
    "ar": (
        "يفتتح مهرجان الميناء في أول يوم سبت من شهر يونيو. تطلى قوارب الصيد بألوان زاهية، ويضاء "
        "المنار القديم بالفوانيس لثلاث ليال. تأتي العائلات من القرى الساحلية لشراء السمك المدخن "
        "والاستماع إلى الفرقة النحاسية ومشاهدة سباق القوارب الذي يبدأ عند الظهر قرب الرصيف الشمالي."
    ),
    "hi": (
        "बंदरगाह उत्सव जून के पहले शनिवार को शुरू होता है। मछली पकड़ने वाली नावों को चमकीले रंगों से "
        "रंगा जाता है, और पुराने प्रकाशस्तंभ को तीन रातों तक लालटेनों से सजाया जाता है। तट के गाँवों "
        "से परिवार धुली हुई मछली खरीदने, बैंड का संगीत सुनने और दोपहर में उत्तरी घाट के पास शुरू होने "
        "वाली नाव दौड़ देखने आते हैं।"
    ),
    "ru": (
        "Портовый праздник открывается в первую субботу июня. Рыбацкие лодки красят в яркие цвета, "
        "а старый маяк три ночи подряд украшают фонарями. Семьи из прибрежных деревень приезжают "
        "купить копчёную рыбу, послушать духовой оркестр и посмотреть лодочные гонки, которые "
        "начинаются в полдень у северного причала."
    ),
    "fr": (
        "La fête du port commence le premier samedi de juin. Les bateaux de pêche sont peints de "
        "couleurs vives, et le vieux phare est illuminé de lanternes pendant trois nuits. Des "
        "familles viennent des villages de la côte pour acheter du poisson fumé, écouter la fanfare "
        "et regarder la course de bateaux, qui part à midi près de la jetée nord."
    ),
    "de": (
        "Das Hafenfest beginnt am ersten Samstag im Juni. Die Fischerboote werden in leuchtenden "
        "Farben gestrichen, und der alte Leuchtturm wird drei Nächte lang mit Laternen geschmückt. "
        "Familien aus den Küstendörfern kommen, um Räucherfisch zu kaufen, der Blaskapelle "
        "zuzuhören und die Bootsregatta zu sehen, die mittags an der Nordmole startet."
    ),
    "el": (
        "Η γιορτή του λιμανιού ξεκινά το πρώτο Σάββατο του Ιουνίου. Οι ψαρόβαρκες βάφονται με "
        "έντονα χρώματα και ο παλιός φάρος φωτίζεται με φανάρια για τρεις νύχτες. Οικογένειες από "
        "τα παραθαλάσσια χωριά έρχονται για να αγοράσουν καπνιστό ψάρι και να δουν τον αγώνα βαρκών."
    ),
    "he": (
        "פסטיבל הנמל נפתח בשבת הראשונה של יוני. סירות הדיג נצבעות בצבעים עזים, והמגדלור הישן "
        "מואר בפנסים במשך שלושה לילות. משפחות מהכפרים שלאורך החוף באות לקנות דג מעושן, להאזין "
        "לתזמורת ולצפות במרוץ הסירות שמתחיל בצהריים ליד המזח הצפוני."
    ),
}

# Languages whose words are not separated by spaces.
UNSPACED = ("zh", "ja", "th", "lo", "km", "my")


# ----------------------------------------------------------------------------- facts

# Sentences with facts in them, per language: each fact a placeholder filled from _FACTS.
_FACT_SENTENCES: dict[str, list[str]] = {
    "en": ["The lighthouse was first lit in {year}, and {count} people came to see it.",
           "The last ferry leaves the quay at {time} on {date}.",
           "A season ticket costs {money}; the timetable is at {url}.",
           "Questions about booking {id} go to {mail}."],
    "fr": ["Le phare a été allumé pour la première fois en {year} devant {count} personnes.",
           "Le dernier bateau part à {time} le {date}.",
           "La rénovation du quai a coûté {money}, selon le dossier {id}."],
    "de": ["Der Leuchtturm wurde {year} gebaut und hat {count} Stufen.",
           "Die letzte Fähre fährt am {date} um {time}."],
    "ru": ["Маяк построили в {year} году, на открытие пришли {count} человек.",
           "Билет стоит {money}, расписание на {url}."],
    "ar": ["بني المنار عام {year} وزاره {count} شخص في يوم الافتتاح.",
           "تغادر العبارة الأخيرة الساعة {time}."],
    "hi": ["प्रकाशस्तंभ {year} में बना और पहले दिन {count} लोग आए।"],
    "ko": ["등대는 {year}년에 세워졌고 첫날 {count}명이 찾았습니다."],
    "zh": ["灯塔建于{year}年，开放当天有{count}人参观。", "末班船在{date}{time}离开码头。",
           "他身高{han}厘米，票价是{money}。", "价格是{money}和{money}，用Python和Java开发。"],
    "ja": ["灯台は{year}年に建てられ、初日に{count}人が訪れました。",
           "祭りは{kdate}に始まり、最終便は{time}に出ます。", "入場料は{money}で、{han}人が来ました。",
           "ﾊﾞｽは{wide}時に出発します。"],
    "th": ["ประภาคารสร้างเมื่อปี {year} และมีผู้มาเยี่ยมชม {count} คน",
           "ค่าเข้าชม {money} เรือเที่ยวสุดท้ายออกเวลา {time}"],
}
_FACTS: dict[str, dict[str, list[str]]] = {
    "year": {"*": ["1874", "1911", "1962", "2011"], "ar": ["١٨٧٤", "1962"], "hi": ["१८७४", "1911"],
             "th": ["๒๔๑๗", "1874"]},
    "count": {"*": ["250", "1,200", "14,720", "3 500"], "zh": ["150", "３０"],
              "ja": ["１２", "3000"]},
    "time": {"*": ["11:40", "06:15", "19:30"], "en": ["11:40 pm", "6:15 am"], "fr": ["14h30"]},
    "date": {"*": ["2024-09-12", "12/09/2024"], "en": ["12 September 2024"],
             "fr": ["12 septembre 2024"], "de": ["12. September 2024"],
             "zh": ["2024年9月12日", "九月十二日"]},
    "kdate": {"*": ["九月十二日", "2024年9月12日"]},
    "money": {"*": ["$3.5M", "€12", "USD 40"], "fr": ["3,5 millions d'euros"],
              "ru": ["100 рублей"], "zh": ["100元", "200元"], "ja": ["１２００円", "3000円"],
              "th": ["350 บาท"]},
    "url": {"*": ["https://example.org/ferry?day=2", "www.kestrel-bay.example/tickets"]},
    "mail": {"*": ["ana@example.org", "harbour.office@kestrel.example"]},
    "id": {"*": ["ABC-1234", "CVE-2024-3094", "v2.3.1", "ord_8f3a2c91"]},
    "han": {"*": ["一百八十", "一百二十", "三十", "五十"]},
    "wide": {"*": ["１２", "１０"]},
}
_FIELD = re.compile(r"\{(\w+)\}")


def fact_texts(count: int, seed: int = 0, paragraphs: int = 3) -> list[str]:
    """``count`` texts, each a few of :data:`PARAGRAPHS` (prose in several scripts, some
    written without spaces) with sentences full of facts (numbers in several digit
    systems and in Han numerals, dates, times, amounts, URLs, e-mail addresses,
    identifiers) between them. The same seed gives the same texts."""
    rng = random.Random(seed)
    languages = sorted(_FACT_SENTENCES)
    texts = []
    for _ in range(count):
        parts = []
        for language in rng.sample(languages, paragraphs):
            sentences = [_with_facts(rng.choice(_FACT_SENTENCES[language]), language, rng)
                         for _ in range(rng.randint(1, 3))]
            joiner = "" if language in UNSPACED else " "
            prose = PARAGRAPHS.get(language, PARAGRAPHS["en"])
            parts.append(joiner.join([prose, *sentences]))
        texts.append("\n\n".join(parts))
    return texts


def _with_facts(template: str, language: str, rng: random.Random) -> str:
    def fill(match: re.Match) -> str:
        choices = _FACTS[match.group(1)]
        return rng.choice(choices.get(language, choices["*"]))
    return _FIELD.sub(fill, template)


# What a compression may not do to a text, given the ranges of it that it kept and its
# output (each check returns what it found wrong: an empty list when all is well).

def split_spans(source: str, ranges, protection=None) -> list[str]:
    """Protected spans of ``source`` that ``ranges`` keep only part of."""
    from llmlingstral.text.protect import Protection, protected_spans

    kept = np.zeros(len(source) + 1, dtype=np.int64)
    for start, end in ranges:
        kept[start] += 1
        kept[end] -= 1
    inside = np.cumsum(kept)[:len(source)] > 0
    return [source[s.start:s.end] for s in protected_spans(source, protection or Protection())
            if 0 < inside[s.start:s.end].sum() < s.end - s.start]


def split_clusters(source: str, ranges) -> list[int]:
    """Edges of ``ranges`` inside a character cluster of ``source`` (a mark cut from its
    letter, half of ﾊﾞ, a Thai vowel without its consonant, part of an emoji)."""
    from llmlingstral.text.scripts import cluster_starts

    starts = set(cluster_starts(source))
    return [edge for start, end in ranges for edge in (start, end) if edge not in starts]


def glued_runs(source: str, output: str) -> list[str]:
    """Words and numbers of ``output`` that are not whole words or numbers of ``source``:
    two kept pieces read as one ("100200", "PythonJava") or a piece of one ("十" of
    "三十")."""
    return [run for pattern in (_RUN, _NUMERAL_RUN)
            for run in pattern.findall(output) if run not in set(pattern.findall(source))]


# A word or number of a script written with spaces (any digits included), or a Han numeral.
_RUN = regex.compile(r"(?:[\p{Nd}_]|(?![%s])[\p{L}\p{M}])+" % _UNSPACED_CLASS)
_NUMERAL_RUN = regex.compile("[〇零一二三四五六七八九十百千万萬亿億两]+")
