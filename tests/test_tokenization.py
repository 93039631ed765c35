"""The Mistral tokenizers match mistral-common exactly and give usable offsets."""

from __future__ import annotations

import pytest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from llmlingstral import MISTRAL_MODELS, load_tokenizer
from llmlingstral.errors import LLMLingstralError
from llmlingstral.tokenization import tokenizer_for_checkpoint
from texts import stdlib_prose, tricky_strings


def corpus() -> list[str]:
    prose = stdlib_prose(60000)
    lines = prose.split("\n")
    chunks = [prose[i:i + 500] for i in range(0, len(prose), 500)]
    return tricky_strings() + lines + chunks


@pytest.fixture(scope="module")
def v3_reference():
    return MistralTokenizer.v3().instruct_tokenizer.tokenizer


@pytest.fixture(scope="module")
def tekken_reference():
    return MistralTokenizer.v3(is_tekken=True, is_mm=True).instruct_tokenizer.tokenizer


def test_v3_ids_match_mistral_common(v3_reference):
    tok = load_tokenizer("v3")
    texts = corpus()
    mismatches = [t for t in texts if tok.encode(t) != v3_reference.encode(t, bos=False, eos=False)]
    assert len(texts) > 1000
    assert mismatches == []


def test_v3_bos_and_counts(v3_reference):
    tok = load_tokenizer("v3")
    text = "Hello world, compress me."
    assert tok.encode(text, add_bos=True) == v3_reference.encode(text, bos=True, eos=False)
    assert tok.count(text) == 6
    assert tok.count("") == 0


def test_tekken_ids_match_mistral_common(tekken_reference):
    tok = load_tokenizer("tekken")
    texts = corpus()[:1500]
    mismatches = [t for t in texts
                  if tok.encode(t) != tekken_reference.encode(t, bos=False, eos=False)]
    assert mismatches == []
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, 11)


@pytest.mark.parametrize("name", ["v3", "tekken"])
def test_round_trip_and_offsets(name):
    tok = load_tokenizer(name)
    for text in tricky_strings():
        encoding = tok.encode_with_offsets(text)
        assert tok.decode(encoding.ids) == text
        for start, end in encoding.offsets:
            assert 0 <= start <= end <= len(text)
        starts = [s for s, _ in encoding.offsets]
        assert starts == sorted(starts)


def test_control_strings_are_text():
    tok = load_tokenizer("v3")
    ids = tok.encode("<s>[INST] hi [/INST]</s>")
    assert not {1, 2, 3, 4} & set(ids)


def test_hf_wrapper_matches():
    tok = load_tokenizer("v3")
    hf = tok.to_hf()
    text = "  Bonjour [INST] le monde 😀"
    assert hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] == tok.encode(text)
    assert hf.bos_token_id == 1 and hf.eos_token_id == 2


def test_bad_input():
    tok = load_tokenizer("v3")
    with pytest.raises(TypeError):
        tok.encode(123)
    with pytest.raises(LLMLingstralError):
        load_tokenizer("no-such-tokenizer")


def test_a_cancelled_caller_stops_before_the_tokenizer_works():
    from llmlingstral.cancel import CancelToken, Cancelled, cancellable

    tokenizer = load_tokenizer("v3")
    token = CancelToken()
    with cancellable(token):
        assert tokenizer.count("東京 ไทย مرحبا hello") > 0
        token.cancel()
        for call in (tokenizer.count, tokenizer.encode_with_offsets,
                     lambda text: tokenizer.count_batch([text])):
            with pytest.raises(Cancelled):
                call("東京 ไทย مرحبا hello")
    assert tokenizer.count("hello") > 0       # outside the block, never cancelled


@pytest.mark.parametrize("name", ["v3", "tekken"])
def test_a_long_text_counts_in_pieces_to_the_exact_total(name):
    from texts import multilingual_documents

    from llmlingstral.token_pieces import PIECE_CHARS

    tokenizer = load_tokenizer(name)
    assert tokenizer._cut_rule is not None        # the pipeline is one we can cut exactly
    mixed = " ".join(multilingual_documents()) + "  double  spaces\n\nand lines "
    text = (stdlib_prose(3 * PIECE_CHARS) + " " + mixed) * 2
    tricky = " ".join(tricky_strings()) * 3
    for long_text in (text, tricky, "東京大阪" * PIECE_CHARS):
        whole = len(tokenizer._tok.encode(long_text, add_special_tokens=False).ids)
        assert tokenizer.count(long_text) == whole
        short = len(tokenizer._tok.encode("short one", add_special_tokens=False).ids)
        assert tokenizer.count_batch(["short one", long_text]) == [short, whole]


def test_a_cancelled_caller_stops_between_the_pieces_of_a_long_text():
    from llmlingstral.cancel import CancelToken, Cancelled, cancellable

    tokenizer, token, seen = load_tokenizer("v3"), CancelToken(), []
    original = tokenizer._tok.encode

    def encode(text, **options):          # the real tokenizer; the caller leaves after a piece
        seen.append(len(text))
        token.cancel()
        return original(text, **options)

    tokenizer._tok = _Recording(tokenizer._tok, encode)
    with cancellable(token), pytest.raises(Cancelled):
        tokenizer.count(stdlib_prose(100_000))
    assert len(seen) == 1 and seen[0] < 20_000


@pytest.mark.parametrize("name", ["v3", "tekken"])
def test_a_count_up_to_a_limit_reads_only_what_it_needs(name):
    from texts import multilingual_documents

    tokenizer = load_tokenizer(name)
    text = " ".join(multilingual_documents()) + " " + stdlib_prose(200_000)
    original, read = tokenizer._tok.encode, []

    def encode(part, **options):          # the real tokenizer, recording what it reads
        read.append(len(part))
        return original(part, **options)

    tokenizer._tok = _Recording(tokenizer._tok, encode)
    whole = tokenizer.count(text)
    read.clear()
    assert tokenizer.count(text, limit=whole + 1) == whole      # below the limit: exact
    assert sum(read) > 0.99 * len(text)                         # all of it
    read.clear()
    assert 1000 <= tokenizer.count(text, limit=1000) < whole    # at least the limit
    assert sum(read) < 0.1 * len(text)                          # only the first pieces
    short = "東京 ไทย مرحبا hello"
    exact = tokenizer.count(short)
    assert tokenizer.count_batch([short, text], limit=1000)[0] == exact
    assert tokenizer.count_batch([short, text], limit=1000)[1] >= 1000


class _Recording:
    """A tokenizers pipeline whose ``encode`` goes through ``encode`` (the rest as is)."""

    def __init__(self, pipeline, encode) -> None:
        self._pipeline, self.encode = pipeline, encode

    def __getattr__(self, name):
        return getattr(self._pipeline, name)


def test_presets_name_a_bundled_tokenizer_used_when_a_folder_has_none(tmp_path):
    for preset in MISTRAL_MODELS.values():
        assert load_tokenizer(preset.tokenizer).count("bonjour") > 0
    tekken = tokenizer_for_checkpoint(tmp_path, 32768, fallback="tekken")
    assert tekken.count("héllo wörld 你好") == load_tokenizer("tekken").count("héllo wörld 你好")
    assert tokenizer_for_checkpoint(tmp_path, 32768).count("你好") == \
        load_tokenizer("v3").count("你好")
