"""Tiny, architecture-faithful replicas of the Mistral checkpoints, built for tests.

Each builder saves a checkpoint folder with ``save_pretrained`` (the layout a hub download
has), so tests load it through the same public loader a user calls with a hub id.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

V3_VOCAB = 32768
TEKKEN_VOCAB = 131072
FP8_MAX = 448.0  # largest finite float8_e4m3fn value


def mistral_v03(folder: Path, *, tie: bool = True, seed: int = 0, layers: int = 2,
                max_position: int = 4096) -> Path:
    """Mistral-7B-v0.3 shape in miniature: vocab 32768, no sliding window, rope 1e6."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    config = MistralConfig(vocab_size=V3_VOCAB, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=layers, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=16,
                           max_position_embeddings=max_position, sliding_window=None,
                           rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                           tie_word_embeddings=tie, bos_token_id=1, eos_token_id=2,
                           dtype=torch.float32)
    MistralForCausalLM(config).save_pretrained(folder)
    return folder


def _ministral3_text_config(num_labels: int | None = None):
    from transformers import Ministral3Config

    config = Ministral3Config(vocab_size=TEKKEN_VOCAB, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                              head_dim=8, max_position_embeddings=4096,
                              rope_parameters={"rope_type": "yarn", "rope_theta": 1e6,
                                               "factor": 16.0,
                                               "original_max_position_embeddings": 256,
                                               "llama_4_scaling_beta": 0.1},
                              tie_word_embeddings=True, dtype=torch.float32)
    if num_labels is not None:
        config.num_labels = num_labels
    return config


def _pixtral_config():
    from transformers import PixtralVisionConfig

    return PixtralVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                               num_attention_heads=2, head_dim=16, image_size=32, patch_size=16)


def ministral3_vlm(folder: Path, *, seed: int = 0) -> Path:
    """The Mistral 3 vision-language layout (Pixtral tower + ministral3 text model)."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    config = Mistral3Config(vision_config=_pixtral_config(), text_config=_ministral3_text_config(),
                            tie_word_embeddings=True, dtype=torch.float32)
    Mistral3ForConditionalGeneration(config).save_pretrained(folder)
    return folder


# Multi-head latent attention and a routed mixture of experts in miniature: the first layer
# dense, the second with 4 routed experts (2 per token) and a shared one.
_MLA_MOE = dict(vocab_size=TEKKEN_VOCAB, hidden_size=32, intermediate_size=64,
                moe_intermediate_size=16, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=4, n_shared_experts=1, n_routed_experts=4,
                num_experts_per_tok=2, first_k_dense_replace=1, kv_lora_rank=16,
                q_lora_rank=24, qk_rope_head_dim=8, v_head_dim=8, qk_nope_head_dim=8,
                max_position_embeddings=4096, tie_word_embeddings=False, dtype=torch.float32)


def mistral_large3_vlm(folder: Path, *, seed: int = 0) -> Path:
    """Mistral Large 3's layout: the Mistral 3 vision-language wrapper (Pixtral tower) around
    a DeepSeek-V3-style text model (``deepseek_v3`` text config: latent attention, MoE)."""
    from transformers import DeepseekV3Config, Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    config = Mistral3Config(vision_config=_pixtral_config(),
                            text_config=DeepseekV3Config(n_group=1, topk_group=1, **_MLA_MOE),
                            tie_word_embeddings=False, dtype=torch.float32)
    Mistral3ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _mistral4_text_config(num_labels: int | None = None):
    from transformers import Mistral4Config

    # Mistral 4's rope (yarn, llama-4 position scaling) over a 256-token original window.
    rope = {"type": "yarn", "rope_theta": 10000.0, "factor": 16.0,
            "original_max_position_embeddings": 256, "beta_fast": 32.0, "beta_slow": 1.0,
            "mscale_all_dim": 1.0, "mscale": 1.0, "llama_4_scaling_beta": 0.1}
    config = Mistral4Config(rope_parameters=rope, **_MLA_MOE)
    if num_labels is not None:
        config.num_labels = num_labels
    return config


def mistral4(folder: Path, *, seed: int = 0) -> Path:
    """A text-only Mistral 4 (Mistral Small 4's text model): Mistral4ForCausalLM."""
    from transformers import Mistral4ForCausalLM

    torch.manual_seed(seed)
    Mistral4ForCausalLM(_mistral4_text_config()).save_pretrained(folder)
    return folder


def mistral_small4_vlm(folder: Path, *, seed: int = 0) -> Path:
    """Mistral 4 inside the Mistral 3 vision-language wrapper (``mistral4`` text config)."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    config = Mistral3Config(vision_config=_pixtral_config(), text_config=_mistral4_text_config(),
                            tie_word_embeddings=False, dtype=torch.float32)
    Mistral3ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def mistral4_token_classifier(folder: Path, *, seed: int = 0) -> Path:
    """Mistral4ForTokenClassification, two labels."""
    from transformers import Mistral4ForTokenClassification

    torch.manual_seed(seed)
    Mistral4ForTokenClassification(_mistral4_text_config(num_labels=2)).save_pretrained(folder)
    return folder


def mistral_large4_vlm(folder: Path, *, seed: int = 0) -> Path:
    """Mistral Large 4's layout (MistralLarge4ForConditionalGeneration: latent attention with
    a sparse-attention indexer, MoE, Pixtral tower)."""
    from transformers import (MistralLarge4Config, MistralLarge4ForConditionalGeneration,
                              MistralLarge4TextConfig)

    torch.manual_seed(seed)
    text = MistralLarge4TextConfig(
        vocab_size=TEKKEN_VOCAB, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4,
        num_experts_per_tok=2, kv_lora_rank=16, qk_rope_head_dim=8, v_head_dim=8,
        qk_nope_head_dim=8, index_topk=8, index_head_dim=8, index_n_heads=2, head_dim=8,
        max_position_embeddings=4096, dtype=torch.float32,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0,
                         "original_max_position_embeddings": 512, "beta_fast": 32.0,
                         "beta_slow": 1.0, "attention_factor": 1.0})
    config = MistralLarge4Config(vision_config=_pixtral_config(), text_config=text,
                                 dtype=torch.float32)
    MistralLarge4ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def quantize_fp8(source: Path, folder: Path) -> Path:
    """An FP8 copy of a Mistral 3 checkpoint, as Mistral ships its Instruct models.

    Every text-model Linear weight becomes float8_e4m3fn with a per-tensor
    ``weight_scale_inv``; vision tower, projector and head stay as they are.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tensors = load_file(source / "model.safetensors")
    quantized = {}
    for key, tensor in tensors.items():
        is_text_linear = (key.startswith("language_model.model.layers.")
                          and key.endswith("proj.weight"))
        if not is_text_linear:
            quantized[key] = tensor
            continue
        scale = tensor.abs().max().clamp(min=1e-12) / FP8_MAX
        quantized[key] = (tensor / scale).to(torch.float8_e4m3fn)
        stem = key[: -len("weight")]
        quantized[stem + "weight_scale_inv"] = scale.to(torch.float32).reshape(())
        quantized[stem + "activation_scale"] = torch.tensor(1.0, dtype=torch.float32)
    save_file(quantized, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "fp8", "activation_scheme": "static", "weight_block_size": None,
        "modules_to_not_convert": ["model.vision_tower", "model.multi_modal_projector",
                                   "lm_head"]}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def mistral_token_classifier(folder: Path, *, seed: int = 0, causal: bool = True) -> Path:
    """MistralForTokenClassification with two labels (drop, keep)."""
    from transformers import MistralConfig, MistralForTokenClassification

    torch.manual_seed(seed)
    config = MistralConfig(vocab_size=V3_VOCAB, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=16, max_position_embeddings=4096, sliding_window=None,
                           tie_word_embeddings=True, num_labels=2, dtype=torch.float32)
    if not causal:
        config.is_causal = False
    MistralForTokenClassification(config).save_pretrained(folder)
    return folder


def ministral3_token_classifier(folder: Path, *, seed: int = 0) -> Path:
    """Ministral3ForTokenClassification (text-only, tekken vocabulary), two labels."""
    from transformers import Ministral3ForTokenClassification

    torch.manual_seed(seed)
    Ministral3ForTokenClassification(_ministral3_text_config(num_labels=2)).save_pretrained(folder)
    return folder


def gptq_config_only(folder: Path) -> Path:
    """A checkpoint folder whose config declares GPTQ quantization (weights are not needed
    to check that a missing extra gives a clear error)."""
    mistral_v03(folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128,
                                     "desc_act": False, "sym": True}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
