"""MeetingBank-LLMCompressed, as published, turned into training records.

The dataset (``microsoft/MeetingBank-LLMCompressed`` on the Hugging Face hub) holds one row
per meeting transcript: ``idx``, ``prompt`` (the transcript), ``prompt_list`` (its chunks),
``compressed_prompt`` and ``compressed_prompt_list`` (a large model's extractive
compression of each chunk). It is published as parquet (``data/train-*.parquet``); the
LLMLingua-2 collection scripts write the same rows as JSON, either a list of rows or an object
keyed by ``idx``. :func:`read_meetingbank` reads any of these (or JSONL), and
:func:`meetingbank_records` yields the records ``label-llmlingua2`` and ``train-llmlingua2``
read: one per row, keeping its chunk lists, so that labelling aligns chunk by chunk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import LLMLingstralError
from .records import read_jsonl

TEXT_FIELDS = ("prompt", "compressed_prompt")
CHUNK_FIELDS = ("prompt_list", "compressed_prompt_list")
_PYARROW_HINT = "reading parquet needs pyarrow: pip install 'llmlingstral[train]'"


@dataclass
class ImportReport:
    """What :func:`meetingbank_records` did with the rows it was given."""

    rows: int = 0
    written: int = 0
    chunk_pairs: int = 0
    skipped_unequal_chunks: int = 0
    skipped_empty: int = 0


def read_meetingbank(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The rows of a MeetingBank-LLMCompressed file or download folder, in order.

    ``path`` is a ``.parquet`` file, a ``.json`` file (a list of rows or an object of rows
    keyed by ``idx``), a ``.jsonl`` file, or a folder holding such files (the hub
    download: every ``*.parquet`` under it, in name order).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.parquet")) or sorted(path.rglob("*.json*"))
        if not files:
            raise LLMLingstralError(f"{path} holds no .parquet or .json files of "
                                    f"MeetingBank-LLMCompressed")
        for file in files:
            yield from read_meetingbank(file)
        return
    if not path.is_file():
        raise LLMLingstralError(f"{path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix == ".jsonl":
        yield from read_jsonl(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    else:
        raise LLMLingstralError(f"{path}: expected a .parquet, .json or .jsonl file")


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise ImportError(_PYARROW_HINT) from error
    try:
        table = parquet.ParquetFile(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several kinds for bad files
        raise LLMLingstralError(f"{path} is not a readable parquet file: {error}") from error
    for batch in table.iter_batches(batch_size=256):
        yield from batch.to_pylist()


def _json_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LLMLingstralError(f"{path} is not valid JSON ({error.msg}, line {error.lineno})") \
            from error
    if isinstance(data, dict):  # {idx: row}, as the collection scripts save their results
        rows: Iterable[Any] = ({"idx": key, **row} if isinstance(row, dict) and "idx" not in row
                               else row for key, row in data.items())
    elif isinstance(data, list):
        rows = data
    else:
        raise LLMLingstralError(f"{path}: expected a JSON list of rows or an object of rows")
    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            raise LLMLingstralError(f"{path}: row {number} is a {type(row).__name__}, "
                                    f"not an object")
        yield row


def meetingbank_records(rows: Iterable[dict[str, Any]], report: ImportReport, *,
                        whole_texts: bool = False,
                        limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Training records from dataset rows; counts go into ``report``.

    A record keeps ``idx`` and the chunk lists (``prompt_list``, ``compressed_prompt_list``),
    or, with ``whole_texts`` or when a row has no chunk lists, ``prompt`` and
    ``compressed_prompt``. Rows whose two chunk lists differ in length cannot be aligned and
    are skipped, as are rows with no text; both are counted.
    """
    for number, row in enumerate(rows):
        if limit is not None and report.written >= limit:
            return
        report.rows += 1
        record = _record(row, number, whole_texts)
        if record is None:
            report.skipped_unequal_chunks += 1
            continue
        pairs = len(record.get("prompt_list", [None]))
        if not any(str(v).strip() for v in record.get("prompt_list", [record.get("prompt")])):
            report.skipped_empty += 1
            continue
        report.written += 1
        report.chunk_pairs += pairs
        yield record


def _record(row: dict[str, Any], number: int, whole_texts: bool) -> dict[str, Any] | None:
    """The record of one row; None when its chunk lists cannot be paired."""
    idx = row.get("idx", number)
    has_chunks = all(isinstance(row.get(f), (list, tuple)) for f in CHUNK_FIELDS)
    if has_chunks and not whole_texts:
        originals, compressed = (list(row[f]) for f in CHUNK_FIELDS)
        if len(originals) != len(compressed):
            return None
        for field_name, values in zip(CHUNK_FIELDS, (originals, compressed)):
            _check_texts(values, field_name, idx)
        return {"idx": idx, "prompt_list": originals, "compressed_prompt_list": compressed}
    missing = [f for f in TEXT_FIELDS if f not in row]
    if missing:
        raise LLMLingstralError(
            f"row {number} (idx {idx}) has no {' or '.join(missing)}: a MeetingBank-"
            f"LLMCompressed row needs prompt and compressed_prompt (or prompt_list and "
            f"compressed_prompt_list); it has {sorted(row)}")
    texts = [row["prompt"] or "", row["compressed_prompt"] or ""]
    _check_texts(texts, "prompt / compressed_prompt", idx)
    return {"idx": idx, "prompt": texts[0], "compressed_prompt": texts[1]}


def _check_texts(values: list[Any], field_name: str, idx: Any) -> None:
    for value in values:
        if value is not None and not isinstance(value, str):
            raise LLMLingstralError(f"idx {idx}: {field_name} holds a "
                                    f"{type(value).__name__}, expected text")
    values[:] = [v or "" for v in values]
