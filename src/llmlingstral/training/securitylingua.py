"""The SecurityLingua recipe: (jailbreak prompt, plain request) pairs -> intent classifier.

1. read pairs: ``extended`` (the jailbreak prompt) and ``original`` (the plain request), as
   in SecurityLingua/securitylingua-jailbreak-pairs, or ``prompt`` / ``compressed_prompt``;
2. label every word of the jailbreak prompt 1 if the plain request keeps it
   (:func:`.labels.label_words`, the LLMLingua-2 labeller), so the plain request should be
   (close to) a word subsequence of the prompt;
3. drop the pairs with the worst alignment (:func:`.labels.filter_labelled`);
4. fine-tune a Mistral token classifier on the labels with the LLMLingua-2 trainer
   (:func:`.llmlingua2.train_llmlingua2`); by default on Ministral-3-3B.

The output folder loads with ``SecurityLingua(folder)`` or
``PromptCompressor(folder, use_slingua=True)``.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import LLMLingstralError
from ..validate import check_open_fraction, check_positive_int
from .labels import FilterReport, filter_labelled, label_pairs
from .llmlingua2 import TrainConfig, TrainReport, train_llmlingua2
from .records import CompressionPair, pairs_from_record, read_jsonl, write_jsonl

EXAMPLE_PAIRS = Path(__file__).resolve().parent.parent / "data" / "securitylingua_pairs.jsonl"
"""Pairs written for this project: mild requests (lock picking, paywalls...) wrapped in
role-play, nested instructions, fiction or noise, plus a few harmless ones
(``"harmful": false``). For tests, examples and a first look, not for a real guard."""

DEFAULT_BASE = "small"
LABELLED_FILE = "securitylingua_labelled.jsonl"
_JAILBREAK, _REQUEST = "extended", "original"


@dataclass
class SecurityTrainReport:
    """The training report, the filter report, and where the labelled records went."""

    training: TrainReport
    filtering: FilterReport
    pairs: int
    labelled_path: Path


# --------------------------------------------------------------------------- pairs


def security_pair(record: dict[str, Any], index: int = 0) -> CompressionPair:
    """One (jailbreak prompt, plain request) pair from a record.

    ``extended`` / ``original`` win over ``prompt`` / ``compressed_prompt`` when a record
    has both. Other fields (``id``, ``harmful``...) are kept in ``extra``.
    """
    if _JAILBREAK in record or _REQUEST in record:
        base_id = str(record.get("id", record.get("idx", index)))
        missing = [k for k in (_JAILBREAK, _REQUEST) if not isinstance(record.get(k), str)]
        if missing:
            raise LLMLingstralError(f"record {base_id}: {missing} must be text (the jailbreak "
                                    f"prompt is 'extended', the plain request 'original')")
        extra = {k: v for k, v in record.items() if k not in (_JAILBREAK, _REQUEST)}
        return CompressionPair(base_id, record[_JAILBREAK], record[_REQUEST], extra)
    if "prompt" not in record:
        raise LLMLingstralError(f"record {index} needs 'extended' (the jailbreak prompt) and "
                                f"'original' (the plain request), or 'prompt' and "
                                f"'compressed_prompt'; it has {sorted(record)}")
    pairs = pairs_from_record(record, index)
    if len(pairs) != 1:
        raise LLMLingstralError(f"record {index}: expected one pair, got {len(pairs)} chunks")
    return pairs[0]


def read_security_pairs(path: str | os.PathLike = EXAMPLE_PAIRS,
                        max_samples: int | None = None) -> list[CompressionPair]:
    """The pairs of a JSONL file (default: the pairs shipped with the package)."""
    if max_samples is not None:
        check_positive_int("max_samples", max_samples, "how many pairs to read, or None for all")
    pairs = []
    for index, record in enumerate(read_jsonl(path)):
        pairs.append(security_pair(record, index))
        if max_samples is not None and len(pairs) >= max_samples:
            break
    return pairs


def split_pairs(pairs: Sequence[CompressionPair], held_out_fraction: float,
                seed: int = 42) -> tuple[list[CompressionPair], list[CompressionPair]]:
    """A seeded (train, held-out) split; each side gets at least one pair when it can."""
    check_open_fraction("held_out_fraction", held_out_fraction,
                        "the share of pairs held out for evaluation")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_held = min(max(1, round(len(pairs) * held_out_fraction)), max(0, len(pairs) - 1))
    held = set(order[:n_held])
    return ([p for i, p in enumerate(pairs) if i not in held],
            [p for i, p in enumerate(pairs) if i in held])


def label_security_pairs(pairs: Iterable[CompressionPair], *, variation_percentile: float = 90,
                         gap_percentile: float = 90) -> tuple[list[dict[str, Any]], FilterReport]:
    """Word labels for each pair, filtered by alignment quality (percentiles as
    :func:`.labels.filter_labelled`; 100 turns a filter off)."""
    labelled = list(label_pairs(pairs))
    return filter_labelled(labelled, variation_percentile=variation_percentile,
                           gap_percentile=gap_percentile)


# --------------------------------------------------------------------------- training


def train_securitylingua(config: TrainConfig, *, variation_percentile: float = 90,
                         gap_percentile: float = 90,
                         max_samples: int | None = None) -> SecurityTrainReport:
    """Label and filter the pairs in ``config.data``, then train with the LLMLingua-2 trainer.

    The labelled records are written to ``<output>/securitylingua_labelled.jsonl`` and the
    trainer reads them from there; ``training_report.json`` gets a ``securitylingua``
    section with the pair and filter counts.
    """
    pairs = read_security_pairs(config.data, max_samples)
    records, filtering = label_security_pairs(pairs, variation_percentile=variation_percentile,
                                              gap_percentile=gap_percentile)
    if not records:
        raise LLMLingstralError(f"{config.data}: no pair survived labelling and filtering; "
                                f"check that the plain requests are word subsequences of "
                                f"the jailbreak prompts")
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    labelled_path = output / LABELLED_FILE
    write_jsonl(labelled_path, records)
    training = train_llmlingua2(replace(config, data=str(labelled_path)))
    _add_report_section(output, {"source": str(config.data), "pairs": len(pairs),
                                 "filter": filtering.__dict__})
    return SecurityTrainReport(training, filtering, len(pairs), labelled_path)


def _add_report_section(output: Path, section: dict[str, Any]) -> None:
    path = output / "training_report.json"
    details = json.loads(path.read_text()) if path.is_file() else {}
    details["securitylingua"] = section
    path.write_text(json.dumps(details, indent=2))
