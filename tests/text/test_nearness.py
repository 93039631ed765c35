"""How near a fact is to a question: the question's words in the sentence or clause around it."""

import numpy as np

from llmlingstral.text.nearness import nearness, question_terms


def _pieces(text: str, *facts: str) -> list[tuple[int, int]]:
    return [(text.index(f), text.index(f) + len(f)) for f in facts]


def test_a_semicolon_parts_the_facts_of_two_clauses():
    text = "The last bus back leaves the harbour at 11:40 pm; tickets cost 3 pounds."
    near = nearness(text, _pieces(text, "11:40 pm", "3 pounds"),
                    question_terms("When does the last bus leave?"))
    assert near[0] > 0 and near[1] == 0


def test_clauses_in_other_scripts_are_parted_too():
    cases = [("末班车晚上11点40分开；票价3英镑。", "11点40分", "3英镑", "末班车几点开？"),
             ("آخر حافلة تغادر الساعة 11:40؛ التذكرة بثلاثة 3 جنيهات.", "11:40", "3 جنيهات",
              "متى تغادر آخر حافلة؟")]
    for text, answer, other, question in cases:
        near = nearness(text, _pieces(text, answer, other), question_terms(question))
        assert near[0] > near[1], text


def test_facts_of_one_sentence_are_equally_near():
    text = "Das Museum wurde 1874 eröffnet und 1962 umgebaut. Der Eintritt kostet 5 Euro."
    near = nearness(text, _pieces(text, "1874", "1962", "5 Euro"),
                    question_terms("Wann wurde das Museum eröffnet?"))
    assert near[0] == near[1] > near[2]
    assert np.array_equal(nearness(text, _pieces(text, "1874"), frozenset()), [0])
