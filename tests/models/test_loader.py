"""Every checkpoint layout loads through the public loader with the right weights."""

from __future__ import annotations

import pytest
import torch

from llmlingstral import MISTRAL_MODELS, LLMLingstralError, ModelUnavailableError, load_model
from llmlingstral.models.loader import choose_device
import replicas

IDS = torch.tensor([[1, 1091, 1117, 1032, 2294, 29491]])


def reference_logits(folder, cls):
    model = cls.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.mark.parametrize("fixture", ["v03_dir", "v03_untied_dir"])
def test_mistral_v03_loads_exact(fixture, request):
    from transformers import MistralForCausalLM

    folder = request.getfixturevalue(fixture)
    loaded = load_model(folder, device_map="cpu")
    with torch.no_grad():
        logits = loaded.model(input_ids=IDS).logits
    assert torch.equal(logits, reference_logits(folder, MistralForCausalLM))
    assert loaded.tokenizer.kind == "sentencepiece" and loaded.tokenizer.vocab_size == 32768
    tied = loaded.model.lm_head.weight.data_ptr() == loaded.model.model.embed_tokens.weight.data_ptr()
    assert tied == (fixture == "v03_dir")


def test_ministral3_vlm_loads_text_only(vlm_dir):
    from transformers import Mistral3ForConditionalGeneration

    loaded = load_model(vlm_dir, device_map="cpu")
    assert type(loaded.model).__name__ == "Ministral3ForCausalLM"
    assert loaded.tokenizer.kind == "tekken"
    with torch.no_grad():
        logits = loaded.model(input_ids=IDS).logits
    assert torch.allclose(logits, reference_logits(vlm_dir, Mistral3ForConditionalGeneration),
                          atol=1e-5)


def test_text_only_load_does_not_report_the_unused_vision_tower(vlm_dir, capfd):
    load_model(vlm_dir, device_map="cpu")
    assert "vision_tower" not in capfd.readouterr().err


def test_text_only_model_saves_and_reloads_identically(vlm_dir, tmp_path):
    loaded = load_model(vlm_dir, device_map="cpu")
    loaded.model.save_pretrained(tmp_path / "text")
    again = load_model(tmp_path / "text", device_map="cpu")
    with torch.no_grad():
        assert torch.equal(loaded.model(input_ids=IDS).logits, again.model(input_ids=IDS).logits)


# The newer Mistral layouts transformers 5.24 builds: Mistral Large 3 (the `large` preset:
# Mistral 3 wrapper, DeepSeek-V3-style text model) and Mistral 4 (Mistral Small 4), alone
# and in the Mistral 3 wrapper.
NEWER_LAYOUTS = [
    (replicas.mistral_large3_vlm, "DeepseekV3ForCausalLM", "Mistral3ForConditionalGeneration"),
    (replicas.mistral4, "Mistral4ForCausalLM", "Mistral4ForCausalLM"),
    (replicas.mistral_small4_vlm, "Mistral4ForCausalLM", "Mistral3ForConditionalGeneration"),
]


@pytest.mark.parametrize("build, loaded_class, reference_class", NEWER_LAYOUTS,
                         ids=lambda item: getattr(item, "__name__", None))
def test_newer_mistral_layouts_load_with_their_weights_and_compress(tmp_path, build,
                                                                   loaded_class,
                                                                   reference_class):
    import transformers
    from llmlingstral import PromptCompressor
    from multilingual import PARAGRAPHS

    folder = build(tmp_path / build.__name__)
    loaded = load_model(folder, device_map="cpu")
    assert type(loaded.model).__name__ == loaded_class and loaded.tokenizer.kind == "tekken"
    with torch.no_grad():
        logits = loaded.model(input_ids=IDS).logits
    reference = reference_logits(folder, getattr(transformers, reference_class))
    assert torch.allclose(logits, reference, atol=1e-5)   # every weight found, none random

    compressor = PromptCompressor(str(folder), device_map="cpu")
    text = " ".join(PARAGRAPHS[lang] for lang in ("en", "zh", "ja", "th", "ar"))
    result = compressor.compress_prompt(text, rate=0.5)
    assert 0.35 <= result["compressed_tokens"] / result["origin_tokens"] <= 0.65


def test_mistral_large4_is_refused_with_the_way_to_score_it(tmp_path):
    """transformers builds it, but its sparse-attention indexer keeps a cache the scorer's
    windows do not carry: refused before the weights load, pointing to a served model."""
    folder = replicas.mistral_large4_vlm(tmp_path / "large4")
    with pytest.raises(LLMLingstralError, match=r"indexer.*remote_scorer.*remote-scoring\.md"):
        load_model(folder, device_map="cpu")


def test_a_model_type_transformers_does_not_know_points_to_the_remote_scorer(tmp_path):
    import json

    folder = tmp_path / "future"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "mistral_large9",
                                                    "architectures": ["MistralLarge9Model"]}))
    with pytest.raises(LLMLingstralError,
                       match=r"cannot build this checkpoint.*remote_scorer.*remote-scoring\.md"):
        load_model(folder, device_map="cpu")


def test_the_large_preset_missing_here_points_to_the_remote_scorer(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = MISTRAL_MODELS["large"].source
    with pytest.raises(ModelUnavailableError) as info:
        load_model("large", device_map="cpu")
    message = str(info.value)
    assert info.value.model == source and f"vllm serve {source}" in message
    assert "remote_scorer" in message and "docs/remote-scoring.md" in message
    assert f"hf download {source}" in message


def test_fp8_checkpoint_dequantized_on_cpu(vlm_dir, fp8_dir):
    exact = load_model(vlm_dir, device_map="cpu").model
    fp8 = load_model(fp8_dir, device_map="cpu").model
    assert all(p.dtype != torch.float8_e4m3fn for p in fp8.parameters())
    with torch.no_grad():
        a = exact(input_ids=IDS).logits.float()
        b = fp8(input_ids=IDS).logits.float()
    # Real dequantization is close; FP8 bytes cast without their scales would be far off.
    assert ((a - b).norm() / a.norm()).item() < 0.1


def test_gptq_without_extra_gives_clear_error(tmp_path):
    folder = replicas.gptq_config_only(tmp_path / "gptq")
    with pytest.raises(LLMLingstralError, match=r"llmlingstral\[gptq\]"):
        load_model(folder, device_map="cpu")


def test_token_classifier_layouts(tmp_path):
    for build in (replicas.mistral_token_classifier, replicas.ministral3_token_classifier,
                  replicas.mistral4_token_classifier):
        loaded = load_model(build(tmp_path / build.__name__), task="token-classification",
                            device_map="cpu")
        with torch.no_grad():
            assert loaded.model(input_ids=IDS).logits.shape == (1, IDS.shape[1], 2)


def test_causal_lm_is_not_a_classifier(v03_dir):
    with pytest.raises(LLMLingstralError, match="not a token-classification checkpoint"):
        load_model(v03_dir, task="token-classification")


def test_unavailable_model_names_fetch_command(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="hf download mistralai/Mistral-7B-v0.3") as info:
        load_model("default")
    assert info.value.model == "mistralai/Mistral-7B-v0.3"


def test_an_unavailable_classifier_suggests_the_embedded_classifier(monkeypatch):
    """The hint named 'nano', which is a causal LM and fails as a classifier."""
    from llmlingstral import PromptCompressor

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="model_name='nano-lingua2'") as info:
        PromptCompressor("microsoft/llmlingua-2-xlm-roberta-large-meetingbank",
                         use_llmlingua2=True)
    assert "model_name='nano'" not in str(info.value)
    with pytest.raises(ModelUnavailableError, match="model_name='nano'"):
        load_model("mistralai/Mistral-7B-v0.3", task="causal-lm")
    # The suggested model works for the task that was asked for.
    assert PromptCompressor("nano-lingua2", use_llmlingua2=True, device_map="cpu")


def test_bad_names():
    with pytest.raises(LLMLingstralError, match="neither a preset"):
        load_model("not a model")
    with pytest.raises(LLMLingstralError, match="API model"):
        load_model("mistral-embed")


def test_presets_cover_design():
    expected = {"default", "small", "medium", "large", "quantized", "embedding", "mistral-embed",
                "llmlingua2", "llmlingua2-small", "securitylingua", "nano", "nano-lingua2"}
    assert expected <= set(MISTRAL_MODELS)
    assert MISTRAL_MODELS["default"].source == "mistralai/Mistral-7B-v0.3"
    assert MISTRAL_MODELS["nano"].embedded


def test_cuda_request_without_gpu_falls_back(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="no CUDA"):
        device, _ = choose_device("cuda")
    assert device.type == "cpu"
    assert choose_device("auto")[0].type == "cpu"


def test_a_cancelled_forward_pass_stops_within_one_decoder_layer():
    """A long batch through the decoder stops at the next layer once its caller gives up,
    not after the whole pass (a service's shutdown and timeouts wait on this)."""
    from llmlingstral.cancel import CancelToken, Cancelled, cancellable

    decoder = load_model("nano", device_map="cpu").model.get_decoder()
    layers = list(decoder.layers)
    assert len(layers) > 1
    token, ran = CancelToken(), []
    handles = [layer.register_forward_hook(lambda *_: ran.append(1)) for layer in layers]
    handles.append(layers[0].register_forward_hook(lambda *_: token.cancel()))
    try:
        with cancellable(token), pytest.raises(Cancelled), torch.no_grad():
            decoder(input_ids=IDS)
    finally:
        for handle in handles:
            handle.remove()
    assert len(ran) == 1, f"{len(ran)} of {len(layers)} layers ran after the cancellation"
