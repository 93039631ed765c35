"""Fine-tune a Mistral token classifier for LLMLingua-2 (keep / drop per word).

Data: JSONL records with ``prompt`` and either ``labels`` (one 0/1 per word, from
:mod:`.labels`) or ``compressed_prompt`` (labelled on the fly), including
microsoft/MeetingBank-LLMCompressed style records (with ``protect``, the default, the words
of protected facts in those are labelled keep, as ``label-llmlingua2`` does). Each word's
label goes to all its tokens; BOS, padding and whitespace-only tokens get -100 (ignored by
the loss).

Base: any Mistral checkpoint the loader knows (a preset such as ``small``, a hub id or a
folder; causal LM, Mistral 3 layout, or an existing classifier). A fresh 2-label head is
put on it. Full fine-tuning, or LoRA adapters (peft) merged into the saved model.

The result is saved with ``save_pretrained`` plus the tokenizer file, so
``PromptCompressor(output, use_llmlingua2=True)`` loads it directly.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import LLMLingstralError
from ..models.loader import LoadedModel, load_model
from ..progress import tqdm_disable
from ..scoring.forward_inputs import padded_batch
from ..scoring.classifier import TRAINED_LENGTH_ATTRIBUTE
from ..text.protect import DEFAULT_PROTECTION, Protection
from ..tokenization import MistralTextTokenizer
from ..text.words import chunk_bounds, split_words, word_of_tokens
from .labels import label_words
from .records import pairs_from_record, read_jsonl

IGNORE = -100
LABELS = {0: "drop", 1: "keep"}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Settings of a training run (the ``train-llmlingua2`` options)."""

    data: str
    base: str
    output: str
    epochs: float = 3
    lr: float | None = None            # default: 2e-5 full, 2e-4 LoRA
    batch_size: int = 8
    grad_accum: int = 1
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    max_length: int = 512
    seed: int = 42
    bf16: bool = False
    valid_fraction: float = 0.1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    bidirectional: bool = False
    gradient_checkpointing: bool = False
    device: str = "auto"
    max_steps: int | None = None
    show_progress: bool = True
    protect: bool = True               # fact words keep, in records labelled on the fly

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum", "lora_r", "lora_alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.max_length, int) or self.max_length < 16:
            raise ValueError(f"max_length must be an integer of at least 16, got "
                             f"{self.max_length!r}")
        if not 0 <= self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {self.max_steps!r}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.lora else 2e-5)


@dataclass
class Example:
    """One training window: token ids (without BOS) and a label per token."""

    ids: list[int]
    labels: list[int]
    record: int


@dataclass
class TrainReport:
    """Where the model went, and the validation metrics per evaluation."""

    output: Path
    steps: int
    train_examples: int
    valid_examples: int
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- data


def load_examples(path: str | os.PathLike, tokenizer: MistralTextTokenizer,
                  max_length: int, protection: Protection | None = None) -> list[Example]:
    """Training windows of at most ``max_length - 1`` tokens (room for BOS), cut between words.

    Records without ``labels`` are labelled here, with ``protection`` (see
    :func:`.labels.label_words`)."""
    examples: list[Example] = []
    for index, record in enumerate(read_jsonl(path)):
        for prompt, labels in _labelled_texts(record, index, protection):
            examples.extend(text_examples(prompt, labels, tokenizer, max_length, index))
    if not examples:
        raise LLMLingstralError(f"{path} holds no usable training text")
    return examples


def _labelled_texts(record: dict[str, Any], index: int,
                    protection: Protection | None) -> Iterator[tuple[str, list[int]]]:
    if "labels" in record and isinstance(record.get("prompt"), str):
        yield record["prompt"], [int(bool(v)) for v in record["labels"]]
        return
    for pair in pairs_from_record(record, index):
        if pair.prompt.strip():
            yield pair.prompt, label_words(pair.prompt, pair.compressed_prompt, protection).labels


def text_examples(text: str, labels: Sequence[int], tokenizer: MistralTextTokenizer,
                  max_length: int, record: int = 0) -> list[Example]:
    """Token ids and token labels of one labelled text, cut into windows."""
    words = split_words(text)
    labelled = np.flatnonzero(~words.is_space)
    if len(labelled) != len(labels):
        raise LLMLingstralError(f"record {record}: {len(labels)} labels for {len(labelled)} words; "
                                f"labels must come from llmlingstral.training.labels")
    word_label = np.full(len(words), IGNORE, dtype=np.int64)
    word_label[labelled] = np.asarray(labels, dtype=np.int64)
    encoding = tokenizer.encode_with_offsets(text)
    if not encoding.ids:
        return []
    starts = np.array([s for s, _ in encoding.offsets], dtype=np.int64)
    owner = word_of_tokens(words, starts)
    token_labels = word_label[owner]
    bounds = chunk_bounds(words, owner, max_length - 1, (".", "\n"))
    return [Example(encoding.ids[a:b], token_labels[a:b].tolist(), record) for a, b in bounds
            if (token_labels[a:b] != IGNORE).any()]


def split_examples(examples: list[Example], valid_fraction: float,
                   seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded split by source record, so windows of one text never straddle the split."""
    records = sorted({e.record for e in examples})
    random.Random(seed).shuffle(records)
    n_valid = int(round(len(records) * valid_fraction))
    if valid_fraction > 0 and len(records) > 1:
        n_valid = max(1, min(n_valid, len(records) - 1))
    valid_records = set(records[:n_valid])
    train = [e for e in examples if e.record not in valid_records]
    valid = [e for e in examples if e.record in valid_records]
    return train, valid


def collate(examples: Sequence[Example], bos_id: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch with BOS; BOS and padding are labelled -100."""
    ids, mask = padded_batch([[bos_id, *e.ids] for e in examples], pad_id)
    labels, _ = padded_batch([[IGNORE, *e.labels] for e in examples], IGNORE)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# --------------------------------------------------------------------------- model


def prepare_model(config: TrainConfig) -> tuple[LoadedModel, torch.nn.Module]:
    """The base with a 2-label head (and LoRA adapters), ready to train."""
    options: dict[str, Any] = {"dtype": "float32"}
    if config.lora and config.bf16:
        options["dtype"] = "bfloat16"  # frozen base weights: half the memory
    loaded = load_model(config.base, task="token-classification", device_map=config.device,
                        model_config=options, num_labels=2)
    model = loaded.model
    model.config.id2label = dict(LABELS)
    model.config.label2id = {v: k for k, v in LABELS.items()}
    setattr(model.config, TRAINED_LENGTH_ATTRIBUTE, config.max_length)
    if config.bidirectional:
        model.config.is_causal = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if config.lora:
            model.enable_input_require_grads()
    if config.lora:
        model = _add_lora(model, config)
    model.train()
    return loaded, model


def _add_lora(model: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as error:
        raise LLMLingstralError("LoRA training needs peft: pip install 'llmlingstral[train]'") \
            from error
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present]
    lora = LoraConfig(task_type=TaskType.TOKEN_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets,
                      modules_to_save=["score"])
    peft_model = get_peft_model(model, lora)
    for parameter in peft_model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()  # optimiser state in fp32
    return peft_model


# --------------------------------------------------------------------------- loop


def train_llmlingua2(config: TrainConfig) -> TrainReport:
    """Train, evaluate each epoch, keep the best by keep-class F1, save; returns the report."""
    config.validate()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    loaded, model = prepare_model(config)
    tokenizer = loaded.tokenizer
    protection = DEFAULT_PROTECTION if config.protect else None
    examples = load_examples(config.data, tokenizer, config.max_length, protection)
    train, valid = split_examples(examples, config.valid_fraction, config.seed)
    if not train:
        raise LLMLingstralError("no training examples left after the validation split; "
                                "add data or lower --valid-fraction")
    pad_id = tokenizer.pad_id if tokenizer.pad_id is not None and tokenizer.pad_id >= 0 \
        else tokenizer.eos_id
    steps_per_epoch = math.ceil(len(train) / (config.batch_size * config.grad_accum))
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    scheduler = _schedule(optimizer, total_steps, config.warmup_ratio)
    report = TrainReport(Path(config.output), 0, len(train), len(valid))
    best_state, best_f1 = None, -1.0
    progress = tqdm(total=total_steps, desc="training", unit="step",
                    disable=tqdm_disable(config.show_progress))
    generator = random.Random(config.seed)
    step, epoch = 0, 0
    while step < total_steps:
        epoch += 1
        for loss in _epoch(model, train, config, generator, tokenizer.bos_id, pad_id, loaded.device,
                           optimizer, scheduler, trainable, total_steps - step):
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", epoch=epoch)
        metrics = evaluate(model, valid, config, tokenizer.bos_id, pad_id, loaded.device) \
            if valid else {}
        metrics.update(epoch=epoch, step=step)
        report.history.append(metrics)
        f1 = metrics.get("keep_f1", 0.0)
        if not valid or f1 > best_f1:
            best_f1, report.best = f1, dict(metrics)
            best_state = _trainable_state(model)
    progress.close()
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    report.steps = step
    save_classifier(model, loaded, config, report)
    return report


def _epoch(model, train, config, generator, bos_id, pad_id, device, optimizer, scheduler,
           trainable, steps_left) -> Iterator[float]:
    """One pass over shuffled training data; yields the loss of each optimiser step."""
    order = list(range(len(train)))
    generator.shuffle(order)
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    model.train()
    optimizer.zero_grad(set_to_none=True)
    accumulated, micro = 0.0, 0
    for number, batch in enumerate(batches):
        inputs = {k: v.to(device) for k, v in collate([train[i] for i in batch], bos_id,
                                                       pad_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            loss = model(**inputs).loss / config.grad_accum
        loss.backward()
        accumulated += float(loss.detach())
        micro += 1
        if micro == config.grad_accum or number == len(batches) - 1:
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            yield accumulated * config.grad_accum / micro
            accumulated, micro = 0.0, 0
            steps_left -= 1
            if steps_left <= 0:
                return


def _schedule(optimizer, total_steps: int, warmup_ratio: float):
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate(model, examples: Sequence[Example], config: TrainConfig, bos_id: int, pad_id: int,
             device: torch.device) -> dict[str, float]:
    """Token accuracy and precision / recall / F1 of the keep class on ``examples``."""
    model.eval()
    counts = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tn
    for first in range(0, len(examples), config.batch_size):
        batch = collate(examples[first:first + config.batch_size], bos_id, pad_id)
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            logits = model(**inputs).logits
        predicted = logits.argmax(-1).cpu()
        labels = batch["labels"]
        valid = labels != IGNORE
        p, t = predicted[valid] == 1, labels[valid] == 1
        counts += np.array([(p & t).sum(), (p & ~t).sum(), (~p & t).sum(), (~p & ~t).sum()])
    model.train()
    return classification_metrics(*counts.tolist())


def classification_metrics(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Accuracy and keep-class precision, recall and F1 (0 where undefined)."""
    total = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / total if total else 0.0, "keep_precision": precision,
            "keep_recall": recall, "keep_f1": f1, "tokens": float(total)}


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()
            if p.requires_grad}


# --------------------------------------------------------------------------- saving


def save_classifier(model, loaded: LoadedModel, config: TrainConfig, report: TrainReport) -> Path:
    """Save a plain (LoRA-merged) classifier, its tokenizer file and the training report."""
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.eval()
    # Keys as the model names them: a base read through the Mistral 3 key mapping would
    # otherwise be written back in the vision-language layout under a text-only config.
    model.save_pretrained(output, save_original_format=False)
    copy_tokenizer(loaded.tokenizer, output)
    details = {"config": asdict(config), "steps": report.steps,
               "train_examples": report.train_examples, "valid_examples": report.valid_examples,
               "history": report.history, "best": report.best}
    (output / "training_report.json").write_text(json.dumps(details, indent=2))
    return output


def copy_tokenizer(tokenizer: MistralTextTokenizer, output: Path) -> None:
    """Put the tokenizer file next to the weights, under a name the loader looks for."""
    source = Path(tokenizer.source)
    if not source.is_file():
        return
    name = {"tekken": "tekken.json", "sentencepiece": "tokenizer.model.v3"}.get(
        tokenizer.kind, "tokenizer.json")
    if tokenizer.kind == "sentencepiece" and ".model.v" in source.name:
        name = "tokenizer.model.v" + source.name.rsplit(".model.v", 1)[1]
    target = output / name
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    settings = source.with_name("tokenizer_config.json")  # what AutoTokenizer reads with it
    if name == "tokenizer.json" and settings.is_file() and \
            settings.resolve() != (output / settings.name).resolve():
        shutil.copyfile(settings, output / settings.name)
