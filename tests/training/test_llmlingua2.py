"""The LLMLingua-2 recipe on tiny replicas: collect -> label -> filter -> train -> compress."""

from __future__ import annotations

import argparse
import json
import random
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llmlingstral import PromptCompressor
from llmlingstral.api import MistralAPIError
from llmlingstral.tokenization import load_tokenizer
from llmlingstral.training.cli import add_training_commands
from llmlingstral.training.collect import (SYSTEM_PROMPT, CollectConfig, chunk_text,
                                           clean_completion, collect)
from llmlingstral.training.labels import filter_labelled, label_pairs, label_words, text_words
from llmlingstral.training.llmlingua2 import (IGNORE, TrainConfig, collate, load_examples,
                                              split_examples, text_examples, train_llmlingua2)
from llmlingstral.text.protect import DEFAULT_PROTECTION, Protection, protected_spans
from llmlingstral.training.records import read_jsonl, read_pairs, write_jsonl
from local_api import LocalAPIServer, chat_completion_payload
from texts import stdlib_prose

NOISE_MARKER = "Zanzibar"


# ----------------------------------------------------------------------------- labels


def labels_of(original: str, compressed: str) -> list[tuple[str, int]]:
    result = label_words(original, compressed)
    return list(zip(result.words, result.labels))


def test_repeated_words_align_with_their_neighbours():
    assert labels_of("the cat saw the dog", "the dog") == [
        ("the", 0), ("cat", 0), ("saw", 0), ("the", 1), ("dog", 1)]


def test_punctuation_is_labelled_on_its_own():
    assert labels_of("Hello, world! How are you?", "Hello world?") == [
        ("Hello", 1), (",", 0), ("world", 1), ("!", 0), ("How", 0), ("are", 0), ("you", 0),
        ("?", 1)]


def test_case_and_typographic_quotes_do_not_break_alignment():
    result = label_words("The Meeting\u2019s start is at 10am.", "meeting's start 10am")
    assert result.labels == [0, 1, 1, 0, 0, 1, 0]
    assert result.variation_rate == 0 and result.alignment_gap == 0


FACT_TEACHING = [
    # (original, teacher's compression that drops the facts, the fact's words)
    ("The new line opens on 12 September 2024 and costs $3.5M in total.",
     "The new line opens and costs in total.", ["12", "September", "2024", "$3.5M"]),
    ("Le conseil a approuvé la ligne à 3,5 millions d'euros hier.",
     "Le conseil a approuvé la ligne hier.", ["3,5", "millions", "d'euros"]),
    ("Der Zug fährt um 14:30 Uhr von Gleis 7 ab.", "Der Zug fährt ab.", ["14:30", "Uhr", "7"]),
    ("会议于2024年9月12日开始，共150人。", "会议开始。", ["2024", "年", "9", "月", "12", "日", "150", "人"]),
    ("祭りは九月十二日に始まります。", "祭りは始まります。", ["九", "月", "十", "二", "日"]),
    ("Contact ana@example.org about CVE-2024-3094 in xz.", "Contact about in xz.",
     ["ana@example.org", "CVE-2024-3094"]),
]


@pytest.mark.parametrize("original, compressed, facts", FACT_TEACHING)
def test_protection_labels_every_word_of_a_fact_keep(original, compressed, facts):
    plain = label_words(original, compressed)
    taught = label_words(original, compressed, DEFAULT_PROTECTION)
    is_fact = [word in facts for word in taught.words]
    assert sum(is_fact) == len(facts)
    # The teacher dropped every fact word; with protection each one is labelled keep.
    assert all(plain.labels[i] == 0 and taught.labels[i] == 1
               for i, fact in enumerate(is_fact) if fact)
    # Every other word keeps the teacher's label, and the alignment metrics are the teacher's.
    assert all(taught.labels[i] == plain.labels[i] for i, fact in enumerate(is_fact) if not fact)
    assert taught.metrics() == plain.metrics()
    assert taught.protected == len(facts) and plain.protected == 0


def test_protection_classes_follow_the_protection():
    text, compressed = "Mail ana@example.org about 40 fixes.", "Mail about fixes."
    only_numbers = label_words(text, compressed, Protection().only("numbers"))
    assert dict(zip(only_numbers.words, only_numbers.labels)) == {
        "Mail": 1, "ana@example.org": 0, "about": 1, "40": 1, "fixes": 1, ".": 1}
    with pytest.raises(TypeError, match="Protection"):
        label_words(text, compressed, True)


def test_variation_rate_and_alignment_gap():
    added = label_words("one two three four", "one two five")
    assert added.variation_rate == pytest.approx(1 / 3)
    assert added.compression_rate == pytest.approx(3 / 4)
    swapped = label_words("alpha beta gamma", "gamma alpha")
    assert swapped.matching_rate == pytest.approx(1 / 3)
    assert swapped.hitting_rate == pytest.approx(2 / 3)
    assert swapped.alignment_gap == pytest.approx(1 / 3)
    empty = label_words("some words here", "")
    assert empty.labels == [0, 0, 0] and empty.variation_rate == 1.0


def test_percentile_filter_drops_the_noisiest_records():
    records = [{"id": i, "variation_rate": v, "alignment_gap": g}
               for i, (v, g) in enumerate([(0, 0), (0, 0.1), (0, 0), (0.5, 0), (0, 0.9)])]
    kept, report = filter_labelled(records, variation_percentile=80, gap_percentile=80)
    assert [r["id"] for r in kept] == [0, 1, 2]
    assert report.total == 5 and report.kept == 3
    extractive = [{"id": i, "variation_rate": 0.0, "alignment_gap": 0.0} for i in range(4)]
    assert len(filter_labelled(extractive)[0]) == 4
    with pytest.raises(ValueError, match="variation_percentile"):
        filter_labelled(records, variation_percentile=120)
    with pytest.raises(ValueError, match="gap_percentile"):
        filter_labelled(records, gap_percentile=float("nan"))
    with pytest.raises(TypeError, match="variation_percentile must be a number"):
        filter_labelled(records, variation_percentile="90")


def test_meetingbank_style_records(tmp_path):
    path = tmp_path / "mb.jsonl"
    write_jsonl(path, [{"idx": 7, "prompt": "a b. c d.", "compressed_prompt": "a c",
                        "prompt_list": ["a b.", " c d."], "compressed_prompt_list": ["a", "c"]},
                       {"prompt": "x y z", "compressed_prompt": "x z"}])
    pairs = list(read_pairs(path))
    assert [(p.id, p.prompt, p.compressed_prompt) for p in pairs] == [
        ("7#0", "a b.", "a"), ("7#1", " c d.", "c"), ("1", "x y z", "x z")]


# ----------------------------------------------------------------------------- collection


def extractive_reply(body):
    """A chat endpoint that keeps every other word (and invents one for noisy texts)."""
    text = body["messages"][-1]["content"].split("Text:\n", 1)[1]
    words = text.split()
    kept = " ".join(words[::2])
    if NOISE_MARKER in text:
        kept = "Invented words entirely absent " + kept
    return 200, chat_completion_payload(body["model"], f"```\n{kept}\n```")


@pytest.fixture
def api_server():
    server = LocalAPIServer({"/v1/chat/completions": extractive_reply}).start()
    yield server
    server.stop()


def sources() -> list[dict]:
    prose = stdlib_prose(14000)
    texts = [{"id": f"doc{i}", "text": prose[i * 900:(i + 1) * 900]} for i in range(8)]
    texts.append({"id": "long", "text": prose[8000:13500]})
    texts.append({"id": "noisy", "text": f"{NOISE_MARKER} " + prose[:700]})
    return texts


def collect_config(server, **overrides) -> CollectConfig:
    settings = dict(model="mistral-large-latest", api_key="test-key", server_url=server.url,
                    concurrency=3, requests_per_second=500.0, initial_backoff=0.01,
                    max_backoff=0.05, show_progress=False)
    settings.update(overrides)
    return CollectConfig(**settings)


def test_chunks_end_at_sentences_and_fit_the_limit():
    tokenizer = load_tokenizer("v3")
    text = stdlib_prose(9000)
    chunks = chunk_text(text, tokenizer, 512)
    assert len(chunks) > 3
    assert all(tokenizer.count(c) <= 512 for c in chunks)
    assert "".join(chunks).split() == text.split()
    assert sum(c.rstrip().endswith((".", ":", "?", "!")) or c.endswith("\n") for c in chunks) \
        >= len(chunks) - 2
    giant = "word " * 2000
    assert all(tokenizer.count(c) <= 100 for c in chunk_text(giant, tokenizer, 100))


def test_clean_completion():
    assert clean_completion("```text\nkeep these\n```") == "keep these"
    assert clean_completion('Compressed text: "keep these"') == "keep these"


def test_collect_retries_and_resumes(api_server, tmp_path):
    output = tmp_path / "pairs.jsonl"
    api_server.fail_next(429, 503)
    stats = collect(sources(), output, collect_config(api_server))
    assert stats.failed == 0 and stats.written == stats.chunks > len(sources())
    first_requests = len(api_server.requests)
    assert first_requests == stats.chunks + 2  # two scripted failures were retried
    request = api_server.requests[-1]
    assert request.authorization == "Bearer test-key"
    assert request.body["model"] == "mistral-large-latest"
    assert request.body["messages"][0]["content"] == SYSTEM_PROMPT
    records = list(read_jsonl(output))
    assert all(not r["compressed_prompt"].startswith("```") for r in records)
    tokenizer = load_tokenizer("v3")
    assert all(tokenizer.count(r["prompt"]) <= 512 for r in records)
    # Simulate an interrupted run: two lines lost and one half written.
    lines = output.read_text().splitlines(keepends=True)
    output.write_text("".join(lines[:-2]) + lines[-2][:25])
    again = collect(sources(), output, collect_config(api_server))
    assert again.skipped == stats.chunks - 2 and again.written == 2
    assert len(api_server.requests) == first_requests + 2
    ids = [r["id"] for r in read_jsonl(output)]
    assert sorted(ids) == sorted({r["id"] for r in records}) and len(ids) == len(set(ids))


def test_collect_stops_on_authentication_errors(tmp_path):
    server = LocalAPIServer({"/v1/chat/completions": lambda body: (
        401, {"object": "error", "message": "bad key"})}).start()
    try:
        with pytest.raises(MistralAPIError, match="401"):
            collect(sources()[:1], tmp_path / "x.jsonl", collect_config(server))
    finally:
        server.stop()


# ----------------------------------------------------------------------------- training data


def test_token_labels_ignore_bos_padding_and_whitespace():
    tokenizer = load_tokenizer("v3")
    text = "Keep this word.\n\n"
    labels = [1, 0, 1, 0]
    examples = text_examples(text, labels, tokenizer, 64)
    assert len(examples) == 1
    example = examples[0]
    assert example.labels[-2:] == [IGNORE, IGNORE]  # the two newline tokens at the end
    assert set(example.labels[:-2]) == {0, 1}
    short = text_examples("Drop", [0], tokenizer, 64)[0]
    batch = collate([example, short], tokenizer.bos_id, 0)
    assert batch["input_ids"][0, 0] == tokenizer.bos_id
    assert (batch["labels"][:, 0] == IGNORE).all()
    assert (batch["labels"][1, 1 + len(short.ids):] == IGNORE).all()
    assert (batch["attention_mask"][1, 1 + len(short.ids):] == 0).all()
    with pytest.raises(Exception, match="labels"):
        text_examples(text, [1, 0], tokenizer, 64)


def test_split_is_seeded_and_by_record():
    tokenizer = load_tokenizer("v3")
    examples = []
    for record in range(20):
        examples += text_examples("alpha beta gamma " * 40, [1, 0, 1] * 40, tokenizer, 32, record)
    train, valid = split_examples(examples, 0.2, seed=3)
    again, _ = split_examples(examples, 0.2, seed=3)
    other, _ = split_examples(examples, 0.2, seed=4)
    assert [e.record for e in train] == [e.record for e in again]
    assert {e.record for e in train} != {e.record for e in other}
    assert not {e.record for e in train} & {e.record for e in valid}
    assert len({e.record for e in valid}) == 4


# ----------------------------------------------------------------------------- end to end


def test_pipeline_collect_label_filter_train_compress(api_server, tmp_path, v03_dir):
    pairs_path, labelled_path = tmp_path / "pairs.jsonl", tmp_path / "labelled.jsonl"
    collect(sources(), pairs_path, collect_config(api_server))
    labelled = list(label_pairs(read_pairs(pairs_path)))
    noisy = [r for r in labelled if r["id"].startswith("noisy")]
    assert noisy and all(r["variation_rate"] > 0 for r in noisy)
    kept, report = filter_labelled(labelled, variation_percentile=90, gap_percentile=90)
    assert not any(r["id"].startswith("noisy") for r in kept)
    assert report.kept < report.total
    write_jsonl(labelled_path, kept)

    output = tmp_path / "classifier"
    trained = train_llmlingua2(TrainConfig(
        data=str(labelled_path), base=str(v03_dir), output=str(output), epochs=1, max_steps=3,
        batch_size=4, max_length=128, device="cpu", show_progress=False))
    assert trained.steps == 3 and trained.valid_examples > 0
    assert set(trained.best) >= {"accuracy", "keep_f1", "keep_precision", "keep_recall"}
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["MistralForTokenClassification"]
    assert config["llmlingua2_max_length"] == 128 and config["id2label"]["1"] == "keep"
    assert (output / "training_report.json").is_file()

    compressor = PromptCompressor(str(output), device_map="cpu", use_llmlingua2=True)
    assert compressor.classifier.max_seq_len == 128
    text = stdlib_prose(4000)
    result = compressor.compress_prompt(text, rate=0.4, force_tokens=["\n"])
    assert abs(result["compressed_tokens"] / result["origin_tokens"] - 0.4) <= 0.04


def test_training_learns_a_word_rule(tmp_path, v03_dir):
    prose = stdlib_prose(6000)
    records = [{"id": i, "prompt": prose[i * 300:(i + 1) * 300],
                "labels": [int(len(w) > 4) for w in text_words(prose[i * 300:(i + 1) * 300])]}
               for i in range(16)]
    write_jsonl(tmp_path / "rule.jsonl", records)
    report = train_llmlingua2(TrainConfig(
        data=str(tmp_path / "rule.jsonl"), base=str(v03_dir), output=str(tmp_path / "rule"),
        epochs=3, lr=1e-2, batch_size=8, max_length=64, warmup_ratio=0.0, valid_fraction=0.25,
        device="cpu", show_progress=False))
    accuracy = [h["accuracy"] for h in report.history]
    assert len(accuracy) == 3 and accuracy[-1] > max(0.75, accuracy[0])
    assert report.best["keep_f1"] > 0.75


def test_gradient_clipping_happens_before_the_update(tmp_path, v03_dir):
    records = [{"prompt": "alpha beta gamma delta " * 20, "labels": [1, 0, 0, 1] * 20}] * 4
    write_jsonl(tmp_path / "d.jsonl", records)
    train_llmlingua2(TrainConfig(
        data=str(tmp_path / "d.jsonl"), base=str(v03_dir), output=str(tmp_path / "clipped"),
        max_steps=2, lr=1e-2, max_grad_norm=0.0, weight_decay=0.0, valid_fraction=0.0,
        batch_size=2, max_length=64, device="cpu", show_progress=False))
    before = load_file(v03_dir / "model.safetensors")
    after = load_file(tmp_path / "clipped" / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(before[key], after[key])


def test_cli_lora_on_ministral3_layout(tmp_path, vlm_dir):
    records = [{"prompt": "Ministral keeps these words. " * 10 + str(i),
                "compressed_prompt": "Ministral keeps words. " * 10 + str(i)} for i in range(6)]
    write_jsonl(tmp_path / "pairs.jsonl", records)
    parser = argparse.ArgumentParser()
    add_training_commands(parser.add_subparsers(dest="command"))
    output = tmp_path / "lora"
    args = parser.parse_args([
        "train-llmlingua2", "--data", str(tmp_path / "pairs.jsonl"), "--base", str(vlm_dir),
        "--output", str(output), "--lora", "--lora-r", "4", "--bf16", "--max-steps", "2",
        "--batch-size", "2", "--max-length", "64", "--device", "cpu", "--quiet"])
    assert args.handler(args) == 0
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["Ministral3ForTokenClassification"]
    assert (output / "tekken.json").is_file()
    weights = load_file(output / "model.safetensors")
    assert not any("lora" in k for k in weights)
    base = load_file(vlm_dir / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    base_key = next(k for k in base if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.allclose(weights[key].float(), base[base_key].float())
    compressor = PromptCompressor(str(output), device_map="cpu", use_llmlingua2=True)
    loaded = compressor.model.state_dict()
    for name in (key, "score.weight"):
        assert torch.equal(loaded[name].float(), weights[name].float())
    result = compressor.compress_prompt_llmlingua2("Ministral keeps these words. " * 30, rate=0.5)
    assert 0 < result["compressed_tokens"] < result["origin_tokens"]
    assert re.search(r"\w", result["compressed_prompt"])


def test_label_command_writes_filtered_records(tmp_path):
    write_jsonl(tmp_path / "pairs.jsonl", [
        {"id": str(i), "prompt": "one two three four five", "compressed_prompt": "one three five"}
        for i in range(5)] + [{"id": "bad", "prompt": "one two", "compressed_prompt": "three"}])
    from llmlingstral.cli import main

    assert main(["label-llmlingua2", "--input", str(tmp_path / "pairs.jsonl"),
                 "--output", str(tmp_path / "labels.jsonl")]) == 0
    records = list(read_jsonl(tmp_path / "labels.jsonl"))
    assert [r["id"] for r in records] == ["0", "1", "2", "3", "4"]
    assert records[0]["labels"] == [1, 0, 1, 0, 1]
    assert np.isclose(records[0]["compression_rate"], 0.6)


def test_label_command_teaches_facts_unless_told_not_to(tmp_path):
    pair = {"id": "0", "prompt": "The bus leaves at 11:40 from stop 3 every day.",
            "compressed_prompt": "bus leaves every day."}
    write_jsonl(tmp_path / "pairs.jsonl", [pair])
    from llmlingstral.cli import main

    outputs = {}
    for option in ("--protect", "--no-protect", None):
        output = tmp_path / f"labels{option}.jsonl"
        assert main(["label-llmlingua2", "--input", str(tmp_path / "pairs.jsonl"),
                     "--output", str(output), *([option] if option else [])]) == 0
        (record,) = read_jsonl(output)
        outputs[option] = dict(zip(text_words(pair["prompt"]), record["labels"]))
    assert outputs[None] == outputs["--protect"]
    assert outputs[None]["11:40"] == outputs[None]["3"] == 1
    assert outputs["--no-protect"]["11:40"] == outputs["--no-protect"]["3"] == 0
    assert outputs[None]["from"] == outputs["--no-protect"]["from"] == 0


def test_training_labels_compressions_with_protection(tmp_path):
    tokenizer = load_tokenizer("v3")
    pair = {"prompt": "Invoice INV-2024-0042 is due on 3 May.", "compressed_prompt": "Invoice due."}
    write_jsonl(tmp_path / "pairs.jsonl", [pair])
    taught = load_examples(tmp_path / "pairs.jsonl", tokenizer, 64, DEFAULT_PROTECTION)
    plain = load_examples(tmp_path / "pairs.jsonl", tokenizer, 64)
    ids, keep = taught[0].ids, taught[0].labels
    fact_tokens = [tokenizer.decode([t]) for t, k, p in zip(ids, keep, plain[0].labels)
                   if k == 1 and p == 0]
    assert "".join(fact_tokens).replace(" ", "") == "INV-2024-00423May"


def test_fact_template_passages_keep_their_facts_in_five_languages():
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "training"
    spec = importlib.util.spec_from_file_location("fact_sentences", folder / "fact_sentences.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fact_sentences", module)
    spec.loader.exec_module(module)
    records = module.fact_records(40, seed=3)
    assert {r["language"] for r in records} == {"en", "fr", "de", "zh", "ja"}
    assert records == module.fact_records(40, seed=3)
    for record in records:
        # The compression is the passage with words deleted: it aligns exactly.
        labels = label_words(record["prompt"], record["compressed_prompt"])
        assert labels.variation_rate == 0 and 0.2 < labels.compression_rate < 0.95
    rng = random.Random(5)
    for language, templates in module.TEMPLATES.items():
        values: list[str] = []
        fillers = {name: (lambda r, make=make: values.append(make(r)) or values[-1])
                   for name, make in module._filler(language).items()}
        for template in templates:
            values.clear()
            full, short = module.fill(template, fillers, rng)
            # Every fact put in a slot is a protected fact, kept whole and in order.
            cursor = 0
            for value in values:
                assert any(full[s.start:s.end] == value or value in full[s.start:s.end]
                           for s in protected_spans(full)), (language, value)
                cursor = short.index(value, cursor) + len(value)
