"""JSON compression (formats/json.py) on a tiny Mistral replica."""

from __future__ import annotations

import json

import pytest

from multilingual import PARAGRAPHS
from texts import CODE, documents, is_subsequence, words


# ----------------------------------------------------------------------------- JSON

PERSON = {
    "id": 987654,
    "name": "John Doe",
    "active": True,
    "score": 3.5,
    "skills": ["Python programming for data pipelines", "cloud computing", "AI", "SQL"],
    "biography": " ".join(documents(1, 600)),
    "address": {"city": "New York", "note": "lives near the park and walks the dog daily"},
    "nothing": None,
}
CONFIG = {
    "id": {"rate": 1, "compress": False, "value_type": "int", "pair_remove": True},
    "name": {"rate": 0.7, "compress": False, "value_type": "str", "pair_remove": False},
    "skills": {"rate": 0.3, "compress": True, "value_type": "list", "pair_remove": True},
    "biography": {"rate": 0.3, "compress": True, "value_type": "str", "pair_remove": True},
    # Keys with the defaults: json_config names every key, as in llmlingua.
    "active": {}, "score": {}, "address": {}, "nothing": {},
}


def test_compress_json_round_trips_and_keeps_structure(compressor):
    result = compressor.compress_json(PERSON, CONFIG, rate=0.5)
    out = result["compressed_prompt"]
    assert json.loads(json.dumps(out)) == out
    assert list(out) == list(PERSON)
    for key in ("id", "name", "active", "score", "nothing"):
        assert out[key] == PERSON[key]
    assert out["address"]["city"] and set(out["address"]) == {"city", "note"}
    assert is_subsequence(words(out["biography"]), words(PERSON["biography"]))
    bio_tokens = compressor.tokenizer.count(out["biography"])
    assert bio_tokens == pytest.approx(0.3 * compressor.tokenizer.count(PERSON["biography"]),
                                       rel=0.25)
    assert all(any(is_subsequence(words(item), words(source)) for source in PERSON["skills"])
               for item in out["skills"])
    assert result["origin_tokens"] == compressor.tokenizer.count(
        json.dumps(PERSON, ensure_ascii=False))
    assert result["compressed_tokens"] < result["origin_tokens"]


def test_keyvalue_filter_drops_removable_pairs_only(compressor):
    data = {f"note{i}": text for i, text in enumerate(documents(5, 400))}
    data["keep"] = "tiny but protected"
    config = {key: {} for key in data} | {"keep": {"pair_remove": False}}
    result = compressor.compress_json(data, config, rate=0.2, use_keyvalue_level_filter=True,
                                      context_budget="+0", use_token_level_filter=False,
                                      rank_method="bm25", question="protected")
    out = result["compressed_prompt"]
    assert out["keep"] == "tiny but protected"
    assert 1 < len(out) < len(data)
    assert all(out[k] == data[k] for k in out)


# The shape of llmlingua's DOCUMENT.md example: two short pairs, a list, a long biography
# with its own low rate.
PROFILE = {
    "id": 987654,
    "name": "Jane Roe",
    "skills": ["Rust", "Go", "Distributed systems", "Stream processing", "Kernel tuning"],
    "biography": ("Jane Roe, born in Toronto in 1987, is a systems engineer with more than "
                  "twelve years of experience building storage engines and message queues. "
                  "She studied computer engineering at Waterloo and worked for several "
                  "payment companies before joining a cloud provider, where she led the team "
                  "that rewrote the replication layer. She speaks at database conferences "
                  "about consensus protocols and the cost of tail latency, and she maintains "
                  "an open source load generator used by many teams. In her spare time she "
                  "climbs, restores old bicycles and plays the cello in a community orchestra. "
                  "At her last employer she designed the tiered storage that moved cold data "
                  "to object stores and cut the hardware bill by a third."),
}
PROFILE_CONFIG = {
    "id": {"rate": 1, "compress": False, "value_type": "int", "pair_remove": True},
    "name": {"rate": 0.7, "compress": False, "value_type": "str", "pair_remove": False},
    "skills": {"rate": 0.2, "compress": True, "value_type": "list", "pair_remove": True},
    "biography": {"rate": 0.3, "compress": True, "value_type": "str", "pair_remove": True},
}


@pytest.mark.parametrize("model", ["compressor", "nano"])
def test_keyvalue_filter_keeps_every_pair_when_the_target_has_room(model, request):
    """The per-key rates already bring the object under the target, so the key-value filter
    has no room to make and must not drop a pair (llmlingua keeps "id" here too)."""
    compressor = request.getfixturevalue(model)
    plain = compressor.compress_json(PROFILE, PROFILE_CONFIG, rate=0.5)
    assert plain["compressed_tokens"] <= 0.5 * plain["origin_tokens"]
    for budget in ("+100", "+0"):
        filtered = compressor.compress_json(PROFILE, PROFILE_CONFIG, rate=0.5,
                                            use_keyvalue_level_filter=True,
                                            context_budget=budget)
        assert list(filtered["compressed_prompt"]) == list(PROFILE)
        assert filtered["compressed_prompt"]["id"] == PROFILE["id"]


def test_keyvalue_filter_counts_compressed_pairs_in_every_script(nano):
    """Pairs in Chinese, Japanese, Thai and Arabic at low rates, next to short protected
    pairs: the compressed pairs fit the target, so none is dropped."""
    languages = ("zh", "ja", "th", "ar")
    data = {"id": 42, "title": "港口节"} | {lang: PARAGRAPHS[lang] for lang in languages}
    config = {"id": {"compress": False}, "title": {"compress": False, "pair_remove": False}} \
        | {lang: {"rate": 0.3} for lang in languages}
    result = nano.compress_json(data, config, rate=0.5, use_keyvalue_level_filter=True,
                                context_budget="+0")
    assert list(result["compressed_prompt"]) == list(data)
    assert result["compressed_tokens"] <= 0.5 * result["origin_tokens"]


def test_keyvalue_filter_drops_a_pair_when_the_compressed_pairs_exceed_the_target(compressor):
    """Once even the compressed pairs cannot fit, the filter drops removable pairs until
    they do; the result then lands near the target, not far below it."""
    data = {f"note{i}": text for i, text in enumerate(documents(4, 500))}
    config = {key: {"rate": 0.6} for key in data}
    result = compressor.compress_json(data, config, rate=0.3, use_keyvalue_level_filter=True,
                                      context_budget="+0")
    out = result["compressed_prompt"]
    assert 0 < len(out) < len(data)
    assert result["compressed_tokens"] <= 0.3 * result["origin_tokens"] * 1.15
    assert result["compressed_tokens"] >= 0.3 * result["origin_tokens"] * 0.6


def test_json_config_from_a_yaml_file(compressor, tmp_path):
    path = tmp_path / "config.yaml"
    others = "".join(f"{key}: {{}}\n" for key in PERSON if key not in ("biography", "skills"))
    path.write_text("biography:\n  compress: false\nskills:\n  rate: 0.5\n" + others)
    out = compressor.compress_json(json.dumps(PERSON), str(path))["compressed_prompt"]
    assert out["biography"] == PERSON["biography"]


@pytest.mark.parametrize("data,config,error,match", [
    (PERSON, {"skills": {"value_type": "set"}}, ValueError, "no sets"),
    (PERSON, {"id": {"value_type": "str"}}, ValueError, "declares value_type 'str'"),
    (PERSON, {"name": {"rate": 0}}, ValueError, r"rate'\] must be in"),
    (PERSON, {"name": {"ratio": 0.5}}, ValueError, "unknown field"),
    (["not", "an", "object"], {}, TypeError, "JSON object"),
    ("{broken", {}, ValueError, "not valid JSON"),
    ({"a": {1, 2}}, {}, TypeError, "only JSON values"),
])
def test_bad_json_input_gives_a_clear_error(compressor, data, config, error, match):
    with pytest.raises(error, match=match):
        compressor.compress_json(data, config)


def test_compress_json_hands_protect_to_its_string_values_unchanged():
    from llmlingstral.options import JsonOptions
    from llmlingstral.text.protect import Protection

    protection = Protection.off(force_tokens=["zebra"], patterns=[r"ORD-\d+"])
    assert JsonOptions(protect=protection).for_strings(0.5).protect is protection
    assert JsonOptions(protect=False).for_strings(0.5).protect is False


def test_compress_json_takes_a_protection_and_refuses_a_bad_protect(compressor):
    from llmlingstral.text.protect import Protection

    protection = Protection().only("numbers", "dates_times")
    out = compressor.compress_json(PERSON, CONFIG, rate=0.5, protect=protection)
    assert list(out["compressed_prompt"]) == list(PERSON)
    with pytest.raises(TypeError, match="protect must be True"):
        compressor.compress_json(PERSON, CONFIG, protect="yes")


FACT_SENTENCE = ("The harbour festival began in 1874, and the last bus back leaves the "
                 "harbour at 11:40 pm; tickets cost 3 pounds for adults.")


# Words around the facts, so that the facts of a value fit in their share of its budget.
FILLER = (" The crowd was cheerful, the music carried across the water, and everyone agreed "
          "that the long afternoon had been a pleasant one for the whole town.")

# A value whose facts fit in the facts' share of its budget (a shorter one may lose them:
# facts take at most 80 % of a budget, see llmlingstral.fact_budget).
FRENCH = ("Après un long débat au conseil municipal, il a approuvé la nouvelle ligne de "
          "chemin de fer à 3,5 millions d'euros.")


def test_compress_json_keeps_the_facts_of_its_strings_by_default(compressor):
    data = {"notes": " ".join(documents(1, 400)) + " " + FACT_SENTENCE,
            "items": [FACT_SENTENCE + FILLER, FRENCH]}
    out = compressor.compress_json(data, rate=0.5)["compressed_prompt"]
    for fact in ("1874", "11:40"):
        assert fact in out["notes"] and fact in out["items"][0]
    assert "3,5" in out["items"][1]


def test_structured_and_json_on_an_llmlingua2_classifier(tmp_path):
    import replicas
    from llmlingstral import PromptCompressor

    folder = replicas.mistral_token_classifier(tmp_path / "clf")
    compressor = PromptCompressor(str(folder), device_map="cpu", use_llmlingua2=True)
    context = f"{documents(1, 400)[0]} <llmlingua, compress=False>{CODE}</llmlingua>"
    assert CODE in compressor.structured_compress_prompt([context], rate=0.4)["compressed_prompt"]
    out = compressor.compress_json(PERSON, CONFIG, rate=0.5)["compressed_prompt"]
    assert json.loads(json.dumps(out)) == out and out["name"] == PERSON["name"]
    assert 0 < len(out["biography"]) < len(PERSON["biography"])
