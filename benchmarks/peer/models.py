"""The model folders both libraries load: the same weights, each library's way.

* causal LM (LLMLingua, LongLLMLingua): the embedded ``nano`` when its weights are installed,
  else a randomly initialised MistralForCausalLM of the same shape (seeded, so reproducible);
* token classifier (LLMLingua-2): the embedded ``nano-lingua2`` when present, else a randomly
  initialised MistralForTokenClassification of the nano shape with 2 labels.

llmlingua loads a folder with ``AutoTokenizer``/``AutoModel*`` from transformers 4, so its copy
of each folder also holds the Mistral v3 tokenizer exported as ``tokenizer.json`` (the exact
pipeline llmlingstral uses, plus a BOS post-processor like the hub's Mistral tokenizers) and a
``tokenizer_config.json`` that transformers 4 reads. Weights are hard-linked or copied,
never changed. llmlingua's LLMLingua-2 code only knows two model families and picks one by a
substring of ``model_name``; the classifier copy's folder name contains
``xlm-roberta-large``, whose word-start rule (a ``▁`` prefix) is the one Mistral's
SentencePiece pieces follow.

Runs in llmlingstral's environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "src" / "llmlingstral" / "assets"
NANO_SHAPE = dict(vocab_size=32768, hidden_size=256, intermediate_size=704, num_hidden_layers=6,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=1024,
                  sliding_window=None, tie_word_embeddings=True)
LINGUA2_SUFFIX = "-as-xlm-roberta-large"
WEIGHT_FILES = ("config.json", "generation_config.json", "model.safetensors")


@dataclass
class ModelPair:
    """One set of weights: the folder llmlingstral loads and llmlingua's copy of it."""

    kind: str          # "causal" or "classifier"
    label: str         # what the tables call it
    ours: Path
    theirs: Path
    embedded: bool     # the shipped weights (else random, same shape)
    sha256: str        # of model.safetensors


def has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def build_random(kind: str, folder: Path, seed: int = 0) -> Path:
    """A randomly initialised nano-shaped model, saved in fp32 (same seed, same weights)."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM, MistralForTokenClassification

    if has_weights(folder):
        return folder
    torch.manual_seed(seed)
    if kind == "causal":
        model = MistralForCausalLM(MistralConfig(**NANO_SHAPE))
    else:
        model = MistralForTokenClassification(MistralConfig(**NANO_SHAPE, num_labels=2))
    model.config.dtype = torch.float32
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def export_hf_tokenizer(folder: Path) -> None:
    """The Mistral v3 tokenizer as files that transformers 4's AutoTokenizer loads."""
    from tokenizers import processors

    from llmlingstral import load_tokenizer

    v3 = load_tokenizer("v3")
    backend = v3.to_hf().backend_tokenizer
    bos = backend.id_to_token(v3.bos_id)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, v3.bos_id)])
    backend.save(str(folder / "tokenizer.json"))
    eos, unk = backend.id_to_token(v3.eos_id), backend.id_to_token(v3.unk_id)
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": unk}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
              "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
              "padding_side": "left", **specials}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=1),
                                                    encoding="utf-8")


def llmlingua_copy(source: Path, target: Path) -> Path:
    """``source``'s weights plus HF tokenizer files, in a folder of llmlingua's own."""
    digest = sha256(source / "model.safetensors")
    stamp = target / ".source"
    if stamp.is_file() and stamp.read_text() == digest:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in WEIGHT_FILES:
        src = source / name
        if src.is_file():
            try:
                os.link(src, target / name)
            except OSError:
                shutil.copy2(src, target / name)
    export_hf_tokenizer(target)
    stamp.write_text(digest)
    return target


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare(kind: str, work: Path, force_random: bool = False) -> ModelPair:
    """The model pair for ``kind`` ("causal" or "classifier")."""
    name = "nano" if kind == "causal" else "nano-lingua2"
    embedded = ASSETS / name
    if has_weights(embedded) and not force_random:
        ours, label, is_embedded = embedded, f"{name} (embedded)", True
    else:
        ours = build_random(kind, work / f"{name}-random")
        label = f"random {name}-shaped model"
        is_embedded = False
    suffix = LINGUA2_SUFFIX if kind == "classifier" else ""
    theirs = llmlingua_copy(ours, work / f"llmlingua-{ours.name}{suffix}")
    return ModelPair(kind, label, ours, theirs, is_embedded, sha256(ours / "model.safetensors"))
