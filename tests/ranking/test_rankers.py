"""Rankers: BM25, gzip, e5-mistral, mistral-embed, mistral-rerank, names and bad input.

API rankers talk to a real HTTP server on 127.0.0.1 through the real ``mistralai`` SDK;
e5-mistral loads a tiny MistralModel saved as a sentence-transformers folder.
"""

from __future__ import annotations

import math
import re
import warnings
import zlib

import numpy as np
import pytest
import torch

from llmlingstral import LLMLingstralError, MistralAPIError, PromptCompressor, load_tokenizer
from llmlingstral.api import MistralAPI, RetryPolicy
from llmlingstral.ranking.e5_mistral import DEFAULT_TASK, E5MistralRanker, query_prompt
from llmlingstral.ranking.mistral_rerank import (APIMistralReranker, LocalMistralReranker,
                                                 relevance_prompt)
from llmlingstral.ranking.registry import (LEGACY_RANK_METHODS, RANK_METHODS, build_ranker,
                                           cached_ranker,
                                           resolve_rank_method)
from local_api import LocalAPIServer, chat_completion_payload, embeddings_payload

QUESTION = "What is the capital city of France?"
DOCS = [
    "Bananas are a yellow fruit rich in potassium and grown in the tropics.",
    "Paris is the capital city of France and sits on the river Seine.",
    "The Python language was created by Guido van Rossum in the early nineties.",
    "Mount Everest is the highest mountain above sea level, in the Himalayas.",
]
RELEVANT = 1


# ----------------------------------------------------------------------------- helpers


def bag_of_words(text: str, dim: int = 64) -> list[float]:
    """A deterministic embedding: hashed word counts (shared words -> similar vectors)."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        vector[zlib.crc32(word.encode()) % dim] += 1.0
    return vector


def embeddings_route(body):
    return 200, embeddings_payload(body["model"], [bag_of_words(t) for t in body["input"]])


def api_config(server: LocalAPIServer, **extra) -> dict:
    return {"api_key": "test-key", "server_url": server.url, "max_attempts": 3,
            "retry_base_delay": 0.001, "retry_max_delay": 0.01, **extra}


@pytest.fixture
def embed_server():
    with LocalAPIServer({"/v1/embeddings": embeddings_route}) as server:
        yield server


# ----------------------------------------------------------------------------- names


def test_every_legacy_name_maps_with_a_deprecation_warning():
    for legacy, replacement in LEGACY_RANK_METHODS.items():
        with pytest.warns(DeprecationWarning, match=replacement):
            assert resolve_rank_method(legacy) == replacement
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [resolve_rank_method(m) for m in RANK_METHODS] == list(RANK_METHODS)
        assert resolve_rank_method("e5_mistral") == "e5-mistral"


def test_legacy_name_ranks_through_its_replacement(compressor):
    with pytest.warns(DeprecationWarning, match="mistral-rerank") as caught:
        ranking = compressor.get_rank_results(DOCS, QUESTION, "bge_reranker")
    assert caught[0].filename == __file__  # the warning points at the caller
    assert sorted(i for i, _ in ranking) == list(range(len(DOCS)))


@pytest.mark.parametrize("call", ["rank", "compress"])
def test_unknown_rank_method_lists_the_valid_names(compressor, call):
    with pytest.raises(ValueError, match="unknown rank_method 'tfidf'.*bm25.*mistral-rerank"):
        if call == "rank":
            compressor.get_rank_results(DOCS, QUESTION, "tfidf")
        else:
            compressor.compress_prompt(DOCS, question=QUESTION, rank_method="tfidf")


# ----------------------------------------------------------------------------- bad input


def test_question_without_contexts_is_an_error(compressor):
    with pytest.raises(ValueError, match="no contexts"):
        compressor.get_rank_results([], QUESTION, "bm25")
    with pytest.raises(ValueError, match="non-empty document"):
        compressor.compress_prompt([], question=QUESTION, rank_method="longllmlingua")


def test_contexts_of_empty_strings_are_an_error(compressor):
    with pytest.raises(ValueError, match="every context is empty"):
        compressor.get_rank_results(["", "  \n"], QUESTION, "gzip")
    with pytest.raises(ValueError, match="non-empty document"):
        compressor.compress_prompt(["", " "], question=QUESTION, rate=0.5,
                                   rank_method="longllmlingua")


def test_non_string_documents_are_a_type_error(compressor):
    with pytest.raises(TypeError, match=r"context\[1\]"):
        compressor.get_rank_results(["fine", 7], QUESTION, "bm25")


# ----------------------------------------------------------------------------- lexical


@pytest.mark.parametrize("method", ["bm25", "gzip"])
def test_lexical_rankers_put_the_relevant_document_first(compressor, method):
    ranking = compressor.get_rank_results(DOCS + [""], QUESTION, method)
    assert ranking[0][0] == RELEVANT
    # Blank documents rank last: the worst score, +inf for gzip's distance (lowest first).
    worst = float("inf") if method == "gzip" else float("-inf")
    assert ranking[-1] == (len(DOCS), worst)
    assert sorted(i for i, _ in ranking) == list(range(len(DOCS) + 1))


def test_bm25_ranking_drives_reorder_and_the_context_filter(compressor):
    docs = [d * 3 for d in DOCS]
    result = compressor.compress_prompt(docs, question=QUESTION, rate=0.3, rank_method="bm25",
                                        reorder_context="sort", use_token_level_filter=False,
                                        context_budget="+0")
    assert result["compressed_prompt"].startswith(docs[RELEVANT])
    assert docs[0] not in result["compressed_prompt"]


def test_longllmlingua_call_written_for_llmlingua_runs_unchanged(compressor):
    docs = [d * 4 for d in DOCS]
    result = compressor.compress_prompt(
        docs, question=QUESTION, rate=0.5, condition_in_question="after_condition",
        reorder_context="sort", dynamic_context_compression_ratio=0.3, condition_compare=True,
        context_budget="+100", rank_method="longllmlingua")
    assert 0 < result["compressed_tokens"] < result["origin_tokens"]
    assert result["compressed_prompt"].endswith(QUESTION)


# ----------------------------------------------------------------------------- e5-mistral


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory):
    """A tiny MistralModel with last-token pooling, saved as a sentence-transformers model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import MistralConfig, MistralModel

    root = tmp_path_factory.mktemp("e5")
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=32768, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=8, max_position_embeddings=512, sliding_window=None,
                           bos_token_id=1, eos_token_id=2, pad_token_id=2, dtype=torch.float32)
    MistralModel(config).save_pretrained(root / "hf")
    load_tokenizer("v3").to_hf().save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=256)
    pooling = Pooling(32, pooling_mode="lasttoken")
    SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu").save(
        str(root / "st"))
    return root / "st"


def test_e5_embeds_queries_with_the_instruction_and_pools_the_eos_token(e5_dir):
    from transformers import AutoModel

    ranker = E5MistralRanker(e5_dir, device="cpu", batch_size=2)
    got = ranker.embed([QUESTION], query=True)[0]
    tokenizer = load_tokenizer("v3")
    ids = tokenizer.encode(query_prompt(DEFAULT_TASK) + QUESTION) + [tokenizer.eos_id]
    model = AutoModel.from_pretrained(e5_dir).eval()
    with torch.no_grad():
        last = model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
    expected = torch.nn.functional.normalize(last, dim=-1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_e5_documents_get_no_instruction_and_batching_changes_nothing(e5_dir):
    small = E5MistralRanker(e5_dir, device="cpu", batch_size=2)
    query_text = query_prompt(DEFAULT_TASK) + QUESTION
    docs = DOCS + [query_text]  # embedded without the prefix, it equals the query exactly
    ranking = small.rank(docs, QUESTION)
    assert ranking[0][0] == len(DOCS) and math.isclose(ranking[0][1], 1.0, abs_tol=1e-5)
    large = E5MistralRanker(e5_dir, device="cpu", batch_size=16)
    np.testing.assert_allclose(small.scores(docs, QUESTION), large.scores(docs, QUESTION),
                               atol=1e-5)


def test_e5_plain_transformers_folder_is_pooled_on_the_last_token(e5_dir):
    """A checkpoint without sentence-transformers files would be mean-pooled by default."""
    plain = E5MistralRanker(e5_dir.parent / "hf", device="cpu")
    configured = E5MistralRanker(e5_dir, device="cpu")
    texts = DOCS + ["港口节将于七月十二日开始。", "Фестиваль начнётся в пятницу."]
    for query in (True, False):
        np.testing.assert_allclose(plain.embed(texts, query=query),
                                   configured.embed(texts, query=query), atol=1e-5)
    ours, theirs = plain.rank(DOCS, QUESTION), configured.rank(DOCS, QUESTION)
    assert [i for i, _ in ours] == [i for i, _ in theirs]
    np.testing.assert_allclose([v for _, v in ours], [v for _, v in theirs], atol=1e-5)


def test_e5_folder_configured_for_another_pooling_is_refused(e5_dir, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(e5_dir.parent / "hf"), max_seq_length=256)
    SentenceTransformer(modules=[transformer, Pooling(32, pooling_mode="mean")],
                        device="cpu").save(str(tmp_path / "mean"))
    ranker = E5MistralRanker(tmp_path / "mean", device="cpu")
    with pytest.raises(LLMLingstralError, match="lasttoken"):
        ranker.rank(DOCS, QUESTION)


def test_e5_default_prompt_never_reaches_documents(e5_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_dir), device="cpu")
    model.prompts = {"query": query_prompt(DEFAULT_TASK)}
    model.default_prompt_name = "query"
    model.save(str(tmp_path / "prompted"))
    prompted = E5MistralRanker(tmp_path / "prompted", device="cpu")
    plain = E5MistralRanker(e5_dir, device="cpu")
    np.testing.assert_allclose(prompted.embed(DOCS, query=False),
                               plain.embed(DOCS, query=False), atol=1e-5)


def test_e5_through_the_compressor_loads_the_model_named_in_the_config(v03_dir, e5_dir):
    compressor = PromptCompressor(str(v03_dir), device_map="cpu",
                                  open_api_config={"e5_model": str(e5_dir), "e5_device": "cpu"})
    ranking = compressor.get_rank_results(DOCS + ["   "], QUESTION, "e5-mistral")
    assert sorted(i for i, _ in ranking[:-1]) == list(range(len(DOCS)))
    assert ranking[-1][0] == len(DOCS)
    with pytest.warns(DeprecationWarning):
        assert compressor.get_rank_results(DOCS, QUESTION, "sentbert") == \
            compressor.get_rank_results(DOCS, QUESTION, "e5-mistral")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compressor.get_rank_results(DOCS, QUESTION, "mistral") == \
            compressor.get_rank_results(DOCS, QUESTION, "e5-mistral")


@pytest.fixture
def unreachable_hub(monkeypatch):
    """No offline flag set, and the hub's address is a closed port on 127.0.0.1: a model
    that is not cached can only be looked for, and not found."""
    import socket

    from huggingface_hub import constants

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        constants.HUGGINGFACE_CO_URL_TEMPLATE.replace(constants.ENDPOINT, closed))
    monkeypatch.setattr(constants, "ENDPOINT", closed)


def test_an_uncached_ranker_model_fails_fast_with_the_fetch_command(v03_dir, unreachable_hub):
    """It took 71 s (sentence-transformers retrying each file) before the same error."""
    import time

    from llmlingstral import ModelUnavailableError

    compressor = PromptCompressor(str(v03_dir), device_map="cpu",
                                  open_api_config={"e5_model": "llmlingstral-tests/uncached-e5"})
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError,
                       match="hf download llmlingstral-tests/uncached-e5.*rank_method='bm25'"):
        compressor.get_rank_results(DOCS, QUESTION, "e5-mistral")
    assert time.monotonic() - start < 10


# ----------------------------------------------------------------------------- mistral-embed


def test_mistral_embed_batches_requests_and_ranks(v03_dir, embed_server):
    compressor = PromptCompressor(str(v03_dir), device_map="cpu",
                                  open_api_config=api_config(embed_server, embed_batch_size=2))
    ranking = compressor.get_rank_results(DOCS, QUESTION, "mistral-embed")
    assert ranking[0][0] == RELEVANT
    sizes = [len(r.body["input"]) for r in embed_server.requests]
    assert sizes == [2, 2, 1]  # the question and 4 documents, 2 per request
    assert all(r.authorization == "Bearer test-key" for r in embed_server.requests)
    assert embed_server.requests[0].body["model"] == "mistral-embed"


def test_mistral_embed_retries_a_429_then_succeeds(embed_server):
    ranker = build_ranker("mistral-embed", config=api_config(embed_server))
    embed_server.fail_next(429)
    assert ranker.rank(DOCS, QUESTION)[0][0] == RELEVANT
    assert len(embed_server.requests) == 2


def test_mistral_embed_persistent_500_gives_a_clear_error(embed_server):
    ranker = build_ranker("mistral-embed", config=api_config(embed_server))
    embed_server.fail_next(500, 500, 500, 500)
    with pytest.raises(MistralAPIError, match=r"HTTP 500 after 3 attempts.*Retry later") as info:
        ranker.rank(DOCS, QUESTION)
    assert info.value.status_code == 500
    assert len(embed_server.requests) == 3  # ours only: the SDK's retries are off


def test_mistral_embed_does_not_retry_a_bad_key(embed_server):
    ranker = build_ranker("mistral-embed", config=api_config(embed_server))
    embed_server.fail_next(401)
    with pytest.raises(MistralAPIError, match="MISTRAL_API_KEY"):
        ranker.rank(DOCS, QUESTION)
    assert len(embed_server.requests) == 1


def test_api_key_comes_from_the_environment(embed_server, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "env-key")
    config = api_config(embed_server)
    del config["api_key"]
    build_ranker("mistral-embed", config=config).rank(DOCS, QUESTION)
    assert embed_server.requests[0].authorization == "Bearer env-key"
    monkeypatch.delenv("MISTRAL_API_KEY")
    with pytest.raises(MistralAPIError, match="MISTRAL_API_KEY"):
        build_ranker("mistral-embed", config=config)


def test_unreachable_server_gives_a_clear_error():
    api = MistralAPI("k", server_url="http://127.0.0.1:9", retry=RetryPolicy(2, 0.001, 0.01))
    with pytest.raises(MistralAPIError, match="could not reach the server"):
        api.embed(["x"])


# ----------------------------------------------------------------------------- mistral-rerank


def test_local_rerank_batches_match_single_sequences(compressor):
    reranker = LocalMistralReranker(compressor.loaded, batch_tokens=10_000)
    rows = [reranker.prompt_ids(doc, QUESTION) for doc in DOCS]
    assert len({len(r) for r in rows}) > 1  # padding is exercised
    batched = reranker.log_odds(rows)
    model = compressor.loaded.model
    for row, value in zip(rows, batched):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([row])).logits[0, -1]
        logp = torch.log_softmax(logits.float(), -1)
        expected = torch.logsumexp(logp[reranker.yes_ids], 0) - \
            torch.logsumexp(logp[reranker.no_ids], 0)
        assert value == pytest.approx(float(expected), abs=1e-4)
    assert rows[0][:2] == [1, 3] and rows[0][-1] == 4  # <s>[INST] ... [/INST]


def _logprob_entry(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode()), "token_id": 0}


def rerank_route(requests_seen: list, with_logprobs: bool):
    def route(body):
        requests_seen.append(body)
        relevant = "Paris" in body["messages"][-1]["content"]
        if not with_logprobs:
            if body.get("logprobs"):
                return 422, {"detail": [{"msg": "logprobs not supported", "loc": ["body"],
                                         "type": "value_error"}]}
            return 200, chat_completion_payload(body["model"], "Yes" if relevant else "No.")
        yes, no = (-0.1, -2.4) if relevant else (-3.0, -0.06)
        payload = chat_completion_payload(body["model"], "Yes" if relevant else "No")
        first = _logprob_entry("Yes" if relevant else "No", max(yes, no))
        first["top_logprobs"] = [_logprob_entry("Yes", yes), _logprob_entry("No", no),
                                 _logprob_entry("Maybe", -5.0)]
        payload["choices"][0]["logprobs"] = {"content": [first]}
        return 200, payload
    return route


def test_api_rerank_scores_by_yes_no_log_odds():
    seen: list = []
    with LocalAPIServer({"/v1/chat/completions": rerank_route(seen, True)}) as server:
        ranker = build_ranker("mistral-rerank", config=api_config(
            server, rerank_backend="api", rerank_model="ministral-8b-latest"))
        ranking = ranker.rank(DOCS, QUESTION)
    assert ranking[0] == (RELEVANT, pytest.approx(-0.1 - -2.4))
    assert ranking[1][1] == pytest.approx(-3.0 - -0.06)
    assert all(b["logprobs"] and b["max_tokens"] == 1 and b["model"] == "ministral-8b-latest"
               for b in seen)
    assert seen[0]["messages"][-1]["content"] in {relevance_prompt(d, QUESTION) for d in DOCS}


def test_api_rerank_without_logprobs_parses_the_answer():
    seen: list = []
    with LocalAPIServer({"/v1/chat/completions": rerank_route(seen, False)}) as server:
        ranker = APIMistralReranker(MistralAPI.from_config(api_config(server)), concurrency=1)
        ranking = ranker.rank(DOCS, QUESTION)
    assert ranking[0] == (RELEVANT, 1.0)
    assert [s for _, s in ranking[1:]] == [-1.0, -1.0, -1.0]
    assert not ranker.logprobs_supported
    assert seen[0].get("logprobs") and not any(b.get("logprobs") for b in seen[1:])


# ----------------------------------------------------------------------------- hybrid


def test_hybrid_fuses_z_scored_bm25_and_longllmlingua_scores(compressor):
    from llmlingstral.ranking.base import relevance_scores
    from llmlingstral.ranking.hybrid import DEFAULT_MODEL_WEIGHT, zscores

    docs = DOCS + ["   "]
    hybrid = dict(compressor.get_rank_results(docs, QUESTION, "hybrid"))
    lexical = dict(compressor.get_rank_results(DOCS, QUESTION, "bm25"))
    # longllmlingua's pairs carry -log p(question | document), lowest first: negated here.
    model = relevance_scores(compressor.get_rank_results(DOCS, QUESTION, "longllmlingua"))
    order = range(len(DOCS))
    expected = zscores([lexical[i] for i in order]) + \
        DEFAULT_MODEL_WEIGHT * zscores([model[i] for i in order])
    np.testing.assert_allclose([hybrid[i] for i in order], expected, atol=1e-9)
    assert hybrid[len(DOCS)] == -math.inf
    assert compressor.get_rank_results(docs, QUESTION, "hybrid")[0][0] == RELEVANT


def test_hybrid_falls_back_on_the_model_when_no_word_is_shared(compressor):
    docs = ["Les bananes poussent sous les tropiques.", "東京は日本の首都です。",
            "Paris est la capitale de la France."]
    question = "xylophone quartz?"
    hybrid = [i for i, _ in compressor.get_rank_results(docs, question, "hybrid")]
    model = [i for i, _ in compressor.get_rank_results(docs, question, "longllmlingua")]
    assert hybrid == model


def test_hybrid_weight_comes_from_the_config(v03_dir):
    compressor = PromptCompressor(str(v03_dir), device_map="cpu",
                                  open_api_config={"hybrid_model_weight": 0.0})
    assert [i for i, _ in compressor.get_rank_results(DOCS, QUESTION, "hybrid")] == \
        [i for i, _ in compressor.get_rank_results(DOCS, QUESTION, "bm25")]
    bad = PromptCompressor(str(v03_dir), device_map="cpu",
                           open_api_config={"hybrid_model_weight": float("nan")})
    with pytest.raises(ValueError, match="hybrid_model_weight"):
        bad.get_rank_results(DOCS, QUESTION, "hybrid")


def test_hybrid_needs_a_causal_lm():
    classifier = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    with pytest.raises(ValueError, match="causal"):
        classifier.get_rank_results(DOCS, QUESTION, "hybrid")


def test_rankers_are_cached_per_compressor_not_globally():
    first, second = {}, {}
    ranker = cached_ranker(first, "bm25")
    assert cached_ranker(first, "bm25") is ranker
    assert cached_ranker(second, "bm25") is not ranker
    assert cached_ranker(first, "bm25", {"api_key": "x"}) is not ranker
