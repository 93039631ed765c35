"""JSONL records of (original, compressed) text pairs, the currency of the training pipeline.

A record holds ``prompt`` (the original text) and ``compressed_prompt`` (an extractive
compression of it), as in microsoft/MeetingBank-LLMCompressed. Records that carry
``prompt_list`` and ``compressed_prompt_list`` (that dataset's chunk-level fields) yield
one pair per chunk. Other fields pass through untouched.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import LLMLingstralError


@dataclass(frozen=True)
class CompressionPair:
    """One original text and its extractive compression."""

    id: str
    prompt: str
    compressed_prompt: str
    extra: dict[str, Any] = field(default_factory=dict)


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per non-blank line."""
    path = Path(path)
    if not path.is_file():
        raise LLMLingstralError(f"{path} does not exist or is not a file")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise LLMLingstralError(f"{path}:{number} is not valid JSON ({error.msg})") \
                    from error
            if not isinstance(record, dict):
                raise LLMLingstralError(f"{path}:{number} is not a JSON object")
            yield record


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write records to ``path`` (replacing it); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def pairs_from_record(record: dict[str, Any], index: int = 0) -> list[CompressionPair]:
    """The (prompt, compressed_prompt) pairs in one record.

    Chunk lists win over whole texts when both are present, since chunks are what the
    compressing model saw.
    """
    base_id = str(record.get("id", record.get("idx", index)))
    extra = {k: v for k, v in record.items()
             if k not in {"prompt", "compressed_prompt", "prompt_list", "compressed_prompt_list"}}
    originals, compressed = record.get("prompt_list"), record.get("compressed_prompt_list")
    if isinstance(originals, list) and isinstance(compressed, list):
        if len(originals) != len(compressed):
            raise LLMLingstralError(f"record {base_id}: prompt_list has {len(originals)} chunks "
                                    f"but compressed_prompt_list has {len(compressed)}")
        return [CompressionPair(f"{base_id}#{k}", _text(o, base_id), _text(c, base_id), extra)
                for k, (o, c) in enumerate(zip(originals, compressed))]
    if "prompt" not in record or "compressed_prompt" not in record:
        raise LLMLingstralError(f"record {base_id} needs 'prompt' and 'compressed_prompt' (or "
                                f"'prompt_list' and 'compressed_prompt_list'); it has "
                                f"{sorted(record)}")
    return [CompressionPair(base_id, _text(record["prompt"], base_id),
                            _text(record["compressed_prompt"], base_id), extra)]


def read_pairs(path: str | os.PathLike) -> Iterator[CompressionPair]:
    """Every pair of a JSONL file of records."""
    for index, record in enumerate(read_jsonl(path)):
        yield from pairs_from_record(record, index)


def _text(value: Any, record_id: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LLMLingstralError(f"record {record_id}: expected text, got {type(value).__name__}")
    return value
