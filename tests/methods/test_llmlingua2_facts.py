"""LLMLingua-2 keeps facts whole: numbers, dates, amounts, identifiers in every script, force
tokens inside words, whole grapheme clusters, no glued pieces, a fair share per context.

On the embedded ``nano-lingua2`` classifier, as a user gets it.
"""

from __future__ import annotations

import re
import warnings

import pytest

from llmlingstral import PromptCompressor
from llmlingstral.fact_budget import FactsOverBudgetWarning
from llmlingstral.text.protect import Protection, protected_spans
from multilingual import PARAGRAPHS, fact_texts, glued_runs, split_clusters, split_spans
from texts import documents

README_PROMPT = "examples/prompt.txt"
NUMBER = re.compile(r"\d+(?::\d+)?")


def compress(compressor, text, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FactsOverBudgetWarning)
        return compressor.compress_prompt_llmlingua2(text, **options)


def achieved(result) -> float:
    return result["compressed_tokens"] / result["origin_tokens"]


def assert_whole(result, source: str) -> None:
    """No protected span cut, no cluster cut, no two kept pieces read as one."""
    kept = result.kept
    assert kept.source == source
    assert split_spans(source, kept.ranges) == []
    assert split_clusters(source, kept.ranges) == []
    assert glued_runs(source, result["compressed_prompt"]) == []


# ----------------------------------------------------------------------------- reproductions


def test_readme_example_keeps_all_eight_numbers(nano_lingua2):
    with open(README_PROMPT, encoding="utf-8") as handle:
        text = handle.read()
    numbers = NUMBER.findall(text)
    assert len(numbers) == 8  # 1874 (twice), 1962, 1911, 2019, 11:40, 3, 2011
    result = compress(nano_lingua2, text, rate=0.5)
    assert NUMBER.findall(result["compressed_prompt"]) == numbers
    assert "11:40 pm" in result["compressed_prompt"]
    assert abs(achieved(result) - 0.5) <= 0.01
    assert_whole(result, text)


def test_french_amount_is_kept_whole(nano_lingua2):
    text = ("Le conseil municipal s'est réuni hier soir et après un long débat il a approuvé "
            "la nouvelle ligne de chemin de fer à 3,5 millions d'euros.")
    result = compress(nano_lingua2, text, rate=0.5)
    assert "3,5 millions d'euros" in result["compressed_prompt"]
    assert_whole(result, text)


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.7])
def test_han_numerals_are_kept_or_dropped_whole(nano_lingua2, rate):
    text = "他身高一百八十厘米，体重一百二十斤，今年三十岁，他父亲五十岁。这次旅行预计花费很多钱。"
    result = compress(nano_lingua2, text, rate=rate)
    out = result["compressed_prompt"]
    for numeral in ("一百八十", "一百二十", "三十", "五十"):
        out = out.replace(numeral, "")
    assert "十" not in out and "百" not in out  # no piece of a numeral left on its own
    assert_whole(result, text)


def test_chinese_and_japanese_facts_survive_beside_prose(nano_lingua2):
    text = PARAGRAPHS["ja"] + "京都の祭りは九月十二日に始まります。入場料は１２００円です。"
    result = compress(nano_lingua2, text, rate=0.5)
    assert "九月十二日" in result["compressed_prompt"]
    assert "１２００円" in result["compressed_prompt"]
    assert_whole(result, text)


@pytest.mark.parametrize("text, rate, options", [
    ("价格是100元和200元。", 0.3, {"force_reserve_digit": True}),
    ("价格是100元和200元。", 0.3, {"force_reserve_digit": True, "protect": False}),
    ("会议于2024年9月12日开始，共150人。", 0.5, {}),
    ("会议于2024年9月12日开始，共150人。", 0.5, {"protect": False}),
    ("用Python和Java开发。", 0.5, {}),
    ("用Python和Java开发。", 0.5, {"protect": False}),
])
def test_dropped_text_never_glues_the_pieces_around_it(nano_lingua2, text, rate, options):
    result = compress(nano_lingua2, text, rate=rate, **options)
    out = result["compressed_prompt"]
    assert "100200" not in out and "PythonJava" not in out
    assert glued_runs(text, out) == []
    assert result["compressed_tokens"] == nano_lingua2.tokenizer.count(out)


@pytest.mark.parametrize("text, token, whole", [
    ("Contact ana@example.org or bob@example.org for the tickets, the schedule and the "
     "list of stalls at the festival.", "@", ["ana@example.org", "bob@example.org"]),
    ("The last bus leaves the harbour at 11:40 tonight and the first one at 6:15 tomorrow "
     "morning from the square.", ":", ["11:40", "6:15"]),
    ("The a-b link and the c-d link were both closed for repairs during the long winter "
     "storm that hit the coast.", "-", ["a-b", "c-d"]),
])
@pytest.mark.parametrize("protect", [True, False])
def test_force_tokens_inside_words_keep_the_word(nano_lingua2, text, token, whole, protect):
    result = compress(nano_lingua2, text, rate=0.2, force_tokens=[token], protect=protect)
    for word in whole:
        assert word in result["compressed_prompt"]


# ----------------------------------------------------------------------------- fair shares


def context_rates(compressor, result, docs) -> list[float]:
    count = compressor.tokenizer.count
    return [count(text) / count(docs[i])
            for i, text in zip(result["kept_context_ids"], result["compressed_contexts"])]


def test_contexts_in_different_scripts_keep_the_same_share(nano_lingua2):
    docs = [PARAGRAPHS["en"], PARAGRAPHS["zh"], PARAGRAPHS["ja"], documents(1)[0],
            PARAGRAPHS["th"], PARAGRAPHS["ko"], PARAGRAPHS["ar"]]
    result = compress(nano_lingua2, docs, rate=0.5)
    rates = context_rates(nano_lingua2, result, docs)
    assert len(rates) == len(docs)
    assert all(abs(r - 0.5) <= 0.1 for r in rates), rates
    assert abs(achieved(result) - 0.5) <= 0.01


DENSE = " ".join(f"Order ORD-{1000 + i} shipped on 2024-09-{1 + i % 28:02d} for ${10 + i}.50 "
                 f"to ana{i}@example.org." for i in range(12))  # facts: over 80 % of its tokens


@pytest.mark.parametrize("rate", [0.5, 0.33])
def test_a_context_dense_in_facts_pays_for_them_out_of_its_own_share(nano_lingua2, rate):
    docs = [DENSE, PARAGRAPHS["en"], PARAGRAPHS["zh"], PARAGRAPHS["ja"], PARAGRAPHS["th"],
            PARAGRAPHS["ar"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = nano_lingua2.compress_prompt_llmlingua2(docs, rate=rate)
    rates = context_rates(nano_lingua2, result, docs)
    assert len(rates) == len(docs)
    assert all(abs(r - rate) <= 0.1 for r in rates), rates
    assert abs(achieved(result) - rate) <= 0.02 * rate
    assert sum(issubclass(w.category, FactsOverBudgetWarning) for w in caught) == 1
    dense = result["compressed_contexts"][0]
    facts = [DENSE[s.start:s.end] for s in protected_spans(DENSE)]
    kept = [f for f in facts if f in dense]
    # Its facts fill most of its share, whole, the first mentions first.
    tokens = nano_lingua2.tokenizer.count
    assert sum(tokens(f) for f in kept) >= 0.5 * rate * tokens(DENSE)
    assert facts[0] in kept


def test_contexts_the_filter_keeps_share_its_rate(nano_lingua2):
    docs = [PARAGRAPHS["en"], PARAGRAPHS["zh"], PARAGRAPHS["ja"], PARAGRAPHS["fr"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FactsOverBudgetWarning)
        result = nano_lingua2.compress_prompt(docs, rate=0.5)  # the context filter is on
    rates = context_rates(nano_lingua2, result, docs)
    count = nano_lingua2.tokenizer.count
    overall = sum(count(t) for t in result["compressed_contexts"]) / sum(
        count(docs[i]) for i in result["kept_context_ids"])
    assert all(abs(r - overall) <= 0.1 for r in rates), (rates, overall)


# ----------------------------------------------------------------------------- budget


def test_facts_over_budget_warn_once_and_the_rate_is_still_met(nano_lingua2):
    text = " ".join(f"Order ORD-{1000 + i} shipped on 2024-09-{1 + i % 28:02d} for "
                    f"${10 + i}.50 to ana{i}@example.org." for i in range(30))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = nano_lingua2.compress_prompt_llmlingua2(text, rate=0.25)
    over = [w for w in caught if issubclass(w.category, FactsOverBudgetWarning)]
    assert len(over) == 1
    assert over[0].filename == __file__  # it points at the caller's line
    assert abs(achieved(result) - 0.25) <= 0.02
    assert_whole(result, text)


def test_the_warning_counts_the_contexts_that_fell_short(nano_lingua2):
    # The dense orders fall short of their share; the prose beside them, whose facts fit,
    # adds neither its facts nor its budget to the message.
    dense = " ".join(f"Order ORD-{1000 + i} shipped on 2024-09-{1 + i % 28:02d} for "
                     f"${10 + i}.50." for i in range(12))
    prose = [PARAGRAPHS[language] for language in ("en", "zh", "ar")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nano_lingua2.compress_prompt_llmlingua2([dense, *prose], rate=0.33)
    over = [w for w in caught if issubclass(w.category, FactsOverBudgetWarning)]
    assert len(over) == 1
    need, budget = map(int, re.search(r"need (\d+) tokens, more than 80% of the budget of "
                                      r"(\d+)", str(over[0].message)).groups())
    assert need > 0.8 * budget  # what the message says is true of the numbers it gives
    tokens = nano_lingua2.tokenizer.count(dense)
    assert budget <= 0.35 * tokens  # about the dense context's share, not the call's


def test_facts_nearest_the_question_are_kept_first(nano_lingua2):
    filler = "Trains run often and the station has a small café near the platforms. "
    docs = [filler * 3 + f"Platform {n} opens at 0{n}:15 for line L{n}{n}0." for n in range(1, 7)]
    docs.append(filler + "The last bus back leaves the harbour at 11:40 pm.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FactsOverBudgetWarning)
        result = nano_lingua2.compress_prompt_llmlingua2(
            docs, rate=0.15, question="When does the last bus leave the harbour?")
    assert "11:40 pm" in result["compressed_prompt"]


def test_threshold_mode_keeps_every_fact(nano_lingua2):
    text = PARAGRAPHS["en"] + " Tickets cost $3.5 and the last bus leaves at 11:40 pm."
    result = compress(nano_lingua2, text, keep_threshold=0.99)
    for fact in ("$3.5", "11:40 pm"):
        assert fact in result["compressed_prompt"]
    # Protection only adds words to the threshold's choice (the classifier may keep the facts
    # by itself: it was trained to).
    plain = compress(nano_lingua2, text, keep_threshold=0.99, protect=False)
    assert set(plain["compressed_prompt"].split()) <= set(result["compressed_prompt"].split())


def test_protection_classes_can_be_chosen(nano_lingua2):
    text = PARAGRAPHS["en"] + " Write to ana@example.org before 12 September 2024."
    only = compress(nano_lingua2, text, rate=0.3, protect=Protection().only("urls_emails"))
    assert "ana@example.org" in only["compressed_prompt"]
    assert_whole(only, text)


def test_batches_keep_facts_as_single_calls_do(nano_lingua2):
    texts = fact_texts(3, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FactsOverBudgetWarning)
        batch = nano_lingua2.compress_prompts(texts, rate=0.4, show_progress=False)
        single = [nano_lingua2.compress_prompt(t, rate=0.4) for t in texts]
    assert [b["compressed_prompt"] for b in batch] == [s["compressed_prompt"] for s in single]


# ----------------------------------------------------------------------------- property


@pytest.mark.parametrize("rate", [0.5, 0.33])
@pytest.mark.parametrize("seed", range(4))
def test_generated_multilingual_texts_keep_facts_whole(nano_lingua2, rate, seed):
    for text in fact_texts(3, seed=seed):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = nano_lingua2.compress_prompt_llmlingua2(text, rate=rate)
        assert_whole(result, text)
        assert abs(achieved(result) - rate) <= 0.02 * rate + 2 / result["origin_tokens"]
        if not any(issubclass(w.category, FactsOverBudgetWarning) for w in caught):
            out = result["compressed_prompt"]
            missing = [text[s.start:s.end] for s in protected_spans(text)
                       if text[s.start:s.end] not in out]
            assert missing == []


@pytest.mark.parametrize("options", [{}, {"use_context_level_filter": True},
                                     {"keep_threshold": 0.5}, {"protect": False}],
                         ids=["tokens", "context-filter", "threshold", "unprotected"])
def test_generated_documents_keep_facts_whole_on_every_path(nano_lingua2, options):
    docs = fact_texts(5, seed=11, paragraphs=1)
    source = "\n\n".join(docs)
    result = compress(nano_lingua2, docs, rate=0.4, **options)
    kept = result.kept
    assert kept.source == source
    assert split_clusters(source, kept.ranges) == []
    glued = glued_runs(source, result["compressed_prompt"])
    if options.get("protect", True):
        assert split_spans(source, kept.ranges) == []
        assert glued == []
    else:  # llmlingua's behaviour may keep a piece of a Han numeral, but never glues
        assert all(re.fullmatch("[一二三四五六七八九十百千万]+", run) for run in glued), glued
