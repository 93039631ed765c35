"""Prompts shaped like the ones llmlingua 0.2.2's tests and DOCUMENT.md use (few-shot
chain-of-thought demonstrations, a tagged JSON record, a tagged meeting transcript, a
two-speaker dialogue, Chinese news items), written for these tests."""

from __future__ import annotations

import json

MATH_DEMOS = (
    "Question: A baker makes 12 trays of rolls each morning and puts 8 rolls on every tray. "
    "In the afternoon she bakes 5 more trays with 6 rolls each. She sells 70 rolls before "
    "noon, 31 rolls in the afternoon, gives 6 to a neighbour and keeps 4 for her family. "
    "Rolls that are left at closing time are packed in bags of 3 for the food bank, and any "
    "rolls that do not fill a bag are fed to the ducks. How many bags does the food bank "
    "get, and how many rolls go to the ducks?\n"
    "Let's think step by step\n"
    "In the morning she makes 12 trays x 8 rolls = 96 rolls.\n"
    "In the afternoon she makes 5 trays x 6 rolls = 30 rolls, so she bakes 96 + 30 = 126 rolls.\n"
    "She sells 70 rolls before noon and 31 in the afternoon, so she sells 70 + 31 = 101 rolls.\n"
    "After the sales 126 - 101 = 25 rolls remain.\n"
    "She gives 6 rolls to the neighbour, so 25 - 6 = 19 rolls remain.\n"
    "She keeps 4 rolls for her family, so 19 - 4 = 15 rolls remain at closing time.\n"
    "Bags of 3 rolls: 15 / 3 = 5 bags, with 15 - 5 x 3 = 0 rolls over.\n"
    "So the food bank gets 5 bags and no rolls go to the ducks.\n"
    "The answer is 5"
    "\n\n"
    "Question: A cyclist rides 18 km to the lake, rests for 45 minutes and rides back by a "
    "road that is 4 km longer. If she rides at 11 km per hour, how many hours does the trip "
    "take in total?\n"
    "Let's think step by step\n"
    "The ride back is 18 + 4 = 22 km, so she rides 18 + 22 = 40 km.\n"
    "At 11 km per hour the riding takes 40 / 11 = 3.64 hours.\n"
    "The rest adds 45 / 60 = 0.75 hours, so the trip takes 3.64 + 0.75 = 4.39 hours.\n"
    "The answer is 4.39"
    "\n\n"
    "Question: A school orders 5 boxes of pencils with 24 pencils in each box and 3 packs "
    "of 10 erasers. Pencils cost $0.25 each and erasers $0.40 each. What is the total bill?\n"
    "Let's think step by step\n"
    "There are 5 x 24 = 120 pencils, which cost 120 x $0.25 = $30.\n"
    "There are 3 x 10 = 30 erasers, which cost 30 x $0.40 = $12.\n"
    "The total bill is $30 + $12 = $42.\n"
    "The answer is 42"
)
MATH_QUESTION = ("Question: A farmer plants 7 rows of 15 apple trees and loses 9 trees in a "
                 "storm. How many apple trees are left?")
MATH_FORCE_TOKENS = ["+", "-", "*", "×", "/", "÷", "=", "The answer is", "\n", "Question:"]

PROFILE = {
    "id": "458213",
    "name": "Amira Haddad",
    "active": "true",
    "biography": ("Amira Haddad, born in Marseille in 1988, is a structural engineer with "
                  "twelve years of experience designing bridges and stadium roofs. She studied "
                  "civil engineering in Lyon and later led the design office of a large "
                  "construction firm. She teaches a night class on timber structures and "
                  "writes about earthquake safety for a trade journal. In her free time she "
                  "climbs, restores old bicycles and plays the cello."),
    "role": "Principal Structural Engineer",
    "skills": "Steel design, Timber design, Finite element analysis, Site inspection",
}
_RATES = {"id": 0.8, "name": 0.8, "active": 0.8, "biography": 0.4, "role": 0.5, "skills": 0.4}


def _tagged_json() -> str:
    pieces = ["<llmlingua, compress=False>{\n"]
    for n, (key, value) in enumerate(PROFILE.items()):
        comma = "," if n < len(PROFILE) - 1 else ""
        pieces.append(f'    "{key}": "</llmlingua><llmlingua, rate={_RATES[key]}>{value}'
                      f'</llmlingua><llmlingua, compress=False>"{comma}\n')
    pieces.append("}</llmlingua>")
    return "".join(pieces)


JSON_PROMPT = _tagged_json()
STRUCTURED_QUESTION = "Question: What is the main idea of these materials?"

MEETING_PROMPT = (
    "<llmlingua, compress=False>Speaker 1:</llmlingua><llmlingua, rate=0.4> Thank you. Can we "
    "take the consent items now? I believe they are items 4, 7, 9 and 15.</llmlingua>"
    "<llmlingua, compress=False>\nSpeaker 2:</llmlingua><llmlingua, rate=0.3> Item 4 is a "
    "request from the parks committee to move 2,500 dollars from the events fund to the youth "
    "football league. Item 7 asks to approve the new lease for the library annex on Harbour "
    "Street. Item 9 is a report on the winter road salt budget, which ran over by 8 percent. "
    "Item 15 approves the contract with the company that cleans the market square.</llmlingua>"
    "<llmlingua, compress=False>\nSpeaker 1:</llmlingua><llmlingua, rate=0.6> Is there a motion "
    "and a second? Any comments from the council?</llmlingua>"
    "<llmlingua, compress=False>\nSpeaker 3:</llmlingua><llmlingua, rate=0.6> I move to approve "
    "and I thank the parks team for the football grant.</llmlingua>"
    "<llmlingua, compress=False>\nSpeaker 1:</llmlingua><llmlingua, rate=0.2> Thank you. Please "
    "call the roll. The motion carries seven to zero and we move on to the budget hearing, "
    "which will take most of the evening, so please keep your remarks short.</llmlingua>"
)

DIALOGUE = (
    "Mara: So, um, I have been looking at the launch plan, you know, and I think we need to, "
    "uh, move a few dates. I mean, we all want the launch to go well, right? So maybe we push "
    "the beta by a week.\n\n"
    "Theo: Yes, I agree, Mara. Honestly the schedule is, like, far too tight. You know what I "
    "mean? We should really give the testers more time.")

MEETING_TRANSCRIPT = (
    "Item 12 is the report from planning on the rezoning of the old depot site. Councilwoman "
    "Reyes moved the item. Is there anyone from the public who wishes to speak? Yes, sir, go "
    "ahead. Thank you. My name is Paul Brenner and I live two streets from the depot. I am "
    "not against new homes there, but the plan puts four tall blocks right on the edge of the "
    "park, and in winter they will shade the playground for most of the afternoon. The same "
    "number of homes could be built as lower buildings spread across the site, which would "
    "keep the light on the park and the trees along the canal. I also want to ask whether the "
    "traffic study counted the school buses that use the depot road every morning. Thank "
    "you. Thank you, Mr. Brenner. Members, please cast your vote. The motion carries eight "
    "to one. Next item, please.")

CHINESE_FORCE_TOKENS = ["\n", "。", "：", "？", "类别：", "体育", "教育", "经济", "科学技术"]
CHINESE_NEWS = [
    "新闻内容：\n市运动会本周六开幕\n本报讯 第十届市运动会将于本周六在体育中心开幕，共有三十二所学校的"
    "两千多名运动员参加田径、游泳和篮球等十五个项目的比赛。组委会提醒观众乘坐公共交通前往。\n类别：体育",
    "\n\n新闻内容：\n乡村小学新建图书室\n本报讯 在各方捐助下，山区的五所小学今年都建起了图书室，"
    "每所图书室藏书超过三千册。老师们说，学生课后读书的时间明显增加了。\n类别：教育",
    "\n\n新闻内容：\n本地小微企业贷款增长\n本报讯 今年前三季度，本地银行向小微企业发放的贷款同比增长"
    "百分之十二，其中大部分用于购买设备和扩大生产。\n类别：经济",
    "\n\n新闻内容：\n研究团队发布新型电池材料\n本报讯 大学材料学院的研究团队发布了一种新型电池材料，"
    "在低温下仍能保持较高的容量，有望用于寒冷地区的电动汽车。\n类别：科学技术",
]

DOCUMENTS = [
    "The harbour festival is held every year in the second week of May, with boat races and "
    "a night market along the quay.",
    "Lyon is known for its silk industry and for the traditional restaurants called bouchons.",
    "Tomatoes need at least six hours of sun a day and regular watering in dry weeks.",
]
DOCUMENT_QUESTION = "When is the harbour festival held?"


def untagged(text: str) -> str:
    """A tagged context without its tags."""
    import re

    return re.sub(r"</?llmlingua[^>]*>", "", text)


def parses_as_json(text: str) -> object:
    """The JSON value at the start of ``text`` (leading whitespace allowed)."""
    value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    return value
