"""The job behind ``llmlingstral compress-batch in.jsonl out.jsonl``: a JSONL file, resumably.

Each input line is a JSON object with ``context`` (a string, or a list of documents) and
optionally ``id``, ``question``, ``instruction``, ``rate``, ``target_token``, ``protect``
(true, false, a list of classes of facts or an object, see
:mod:`llmlingstral.protect_options`; the command's ``--protect`` otherwise) and ``options``
(more ``compress_prompt`` keywords). A record without an ``id`` is known by its line number
(1-based), so such a file must not be edited between runs. The command's front end, which
turns its options into :class:`BatchSettings`, is :mod:`llmlingstral.cli.compress_batch`.

Records are compressed in batches through :func:`.batch.compress_requests`; each batch's
results are appended to the output and flushed to disk before the next batch starts. A
rerun skips every id already in the output or in the errors file, and drops a line left
half-written by an interruption, so no record is compressed twice and none is lost. A bad
record (invalid JSON, no context, a duplicate id, a compression error) is reported on
stderr and in the errors file, and skipped.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TextIO

from tqdm.auto import tqdm

from ..options import ForceOptions
from ..progress import tqdm_disable
from ..protect_options import protection_from_spec
from ..recipes import Recipe, recipe_for
from ..text.protect import ProtectOption
from ..validate import check_positive_int

# Keys a record may hold besides ``options``.
RECORD_KEYS = ("id", "context", "question", "instruction", "rate", "target_token", "protect")


@dataclass(frozen=True)
class BatchSettings:
    """The settings of a run, for records that do not set their own.

    ``method`` names the recipe (:mod:`llmlingstral.recipes`) the records are compressed with, and
    ``recipe_overrides`` the options chosen over the recipe's (e.g. ``rank_method``);
    ``rate`` / ``target_token`` (None: none) the budget; ``force_tokens`` text kept whole;
    ``protect`` what compression keeps whole; ``batch_size`` records per batch, written
    together; ``quiet`` hides the progress bar.
    """

    method: str = "llmlingua"
    rate: float = 0.5
    target_token: int | None = None
    recipe_overrides: Mapping[str, Any] = field(default_factory=dict)
    force_tokens: tuple[str, ...] = ()
    protect: ProtectOption = True
    batch_size: int = 32
    quiet: bool = False

    def __post_init__(self) -> None:
        recipe_for(self.method).with_options(**self.recipe_overrides)
        budget = {"rate": self.rate} if self.target_token is None else \
            {"rate": self.rate, "target_token": self.target_token}
        ForceOptions(**budget, protect=self.protect, force_tokens=self.force_tokens)
        check_positive_int("batch_size (--batch-size)", self.batch_size)

    @property
    def recipe(self) -> Recipe:
        return recipe_for(self.method)


@dataclass
class _Job:
    """The state of one run: what is done already, and the open output files."""

    settings: BatchSettings
    split_documents: Callable[[str], list[str]]
    done: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    written: int = 0
    skipped: int = 0
    out: TextIO | None = None
    errors: TextIO | None = None


@dataclass(frozen=True)
class JobReport:
    """What a run did: records written, records skipped as bad, records done before."""

    written: int
    skipped: int
    already_done: int


def run_jsonl_job(compressor, source: Path, output: Path, errors_path: Path,
                  settings: BatchSettings,
                  split_documents: Callable[[str], list[str]]) -> JobReport:
    """Compress every record of ``source`` not yet in ``output`` / ``errors_path``.

    ``settings`` holds the run's settings; ``split_documents`` cuts a string context into
    documents for LongLLMLingua.
    """
    if not isinstance(settings, BatchSettings):
        raise TypeError(f"settings must be a BatchSettings, got {type(settings).__name__}")
    job = _Job(settings, split_documents)
    job.done = finished_keys(output, errors_path)
    with output.open("a", encoding="utf-8") as out, \
            errors_path.open("a", encoding="utf-8") as errors:
        job.out, job.errors = out, errors
        _process(compressor, source, job)
    return JobReport(job.written, job.skipped, len(job.done))


def errors_file_for(output: Path) -> Path:
    """``out.jsonl`` -> ``out.errors.jsonl``."""
    stem = output.name[:-len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.errors.jsonl")


def record_key(record_id: Any) -> str:
    """The key a record is known by across runs (its id as canonical JSON)."""
    return json.dumps(record_id, ensure_ascii=False, sort_keys=True)


# --------------------------------------------------------------------------- resuming


def finished_keys(output: Path, errors: Path) -> set[str]:
    """Keys of the records a previous run wrote to ``output`` or reported in ``errors``.

    A last line without its newline was cut short by an interruption: it is removed, and
    its record is compressed again.
    """
    keys: set[str] = set()
    for path in (output, errors):
        if not path.is_file():
            continue
        _drop_partial_line(path)
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                if entry.get("id") is not None:
                    keys.add(record_key(entry["id"]))
                if path == errors:  # a record too broken to have an id is known by its line
                    keys.add(_line_key(entry["line"]))
    return keys


def _drop_partial_line(path: Path) -> None:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as handle:
            handle.truncate(end)


def _line_key(line: int) -> str:
    return f"line {line}"


# --------------------------------------------------------------------------- processing


def _process(compressor, source: Path, job: _Job) -> None:
    with source.open(encoding="utf-8") as lines:
        total = sum(1 for _ in lines)
    batch: list[tuple[int, Any, dict[str, Any]]] = []
    bar = tqdm(total=total, desc="records", unit="record", disable=tqdm_disable(False if job.settings.quiet else None))
    with bar:
        for number, record_id, request in _requests(source, job):
            bar.update(1)
            if request is None:
                continue
            batch.append((number, record_id, request))
            if len(batch) >= job.settings.batch_size:
                _compress_batch(compressor, batch, job)
                batch = []
        if batch:
            _compress_batch(compressor, batch, job)


def _requests(source: Path, job: _Job) -> Iterator[tuple[int, Any, dict[str, Any] | None]]:
    """``(line number, id, compress_prompt keywords)`` of each record still to do; the
    keywords are None for a record that is done or was reported bad."""
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                yield number, None, None
                continue
            try:
                record = _parse(line)
                record_id = record.get("id", number)
                key = record_key(record_id)
                if key in job.done:
                    yield number, record_id, None
                    continue
                if key in job.seen:
                    raise ValueError(f"duplicate id {record_id!r}: ids must be unique")
                job.seen.add(key)
                yield number, record_id, request_for(record, job.settings, job.split_documents)
            except (ValueError, TypeError) as error:
                if _line_key(number) not in job.done:
                    _report(job, number, _id_or_none(line), error)
                yield number, None, None


def _parse(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a JSON object, got {type(record).__name__}")
    record_id = record.get("id")
    if "id" in record and (isinstance(record_id, (bool, float, list, dict))
                           or record_id is None):
        raise TypeError(f"'id' must be a string or an integer, got {record_id!r}")
    unknown = sorted(set(record) - set(RECORD_KEYS) - {"options"})
    if unknown:
        raise ValueError(f"unknown keys {unknown}; a record holds {list(RECORD_KEYS)} and "
                         f"'options' (more compress_prompt keywords)")
    if "context" not in record:
        raise ValueError("the record has no 'context' (the text to compress)")
    return record


def _id_or_none(line: str) -> Any:
    try:
        record = json.loads(line)
        return record.get("id") if isinstance(record, dict) else None
    except json.JSONDecodeError:
        return None


def request_for(record: dict[str, Any], settings: BatchSettings,
                split_documents: Callable[[str], list[str]]) -> dict[str, Any]:
    """The ``compress_prompt`` keywords for a record: the run's settings, its recipe, then
    the record's own fields."""
    from ..text.sentences import split_protected

    options = record.get("options", {})
    if not isinstance(options, dict):
        raise TypeError(f"'options' must be a JSON object, got {type(options).__name__}")
    context = record["context"]
    target = -1 if settings.target_token is None else settings.target_token
    request: dict[str, Any] = {"rate": settings.rate, "target_token": target,
                               "protect": settings.protect,
                               **settings.recipe.keywords(settings.recipe_overrides)}
    if "rate" in record and "target_token" not in record:
        request["target_token"] = -1  # the record's rate wins over the command's budget
    force_tokens = list(settings.force_tokens)
    if settings.method == "llmlingua2":
        request.update(force_tokens=force_tokens)
    else:
        if settings.method == "longllmlingua" and isinstance(context, str):
            context = split_documents(context)
        if force_tokens and _all_text(context):
            documents = [context] if isinstance(context, str) else context
            pieces = [split_protected(d, force_tokens) for d in documents]
            request.update(context_segs=[p for p, _ in pieces],
                           context_segs_compress=[f for _, f in pieces])
    request.update({k: record[k] for k in RECORD_KEYS[2:] if k in record})
    request.update(options)
    if "protect" in record or "protect" in options:
        where = "'protect'" if "protect" in record and "protect" not in options \
            else "options.protect"
        request["protect"] = protection_from_spec(request["protect"], where=where)
    request["context"] = context
    return request


def _all_text(context: Any) -> bool:
    return isinstance(context, str) or (isinstance(context, list)
                                        and all(isinstance(c, str) for c in context))


def _compress_batch(compressor, batch: list[tuple[int, Any, dict[str, Any]]], job: _Job) -> None:
    from .batch import compress_requests

    outcomes = compress_requests(compressor, [request for _, _, request in batch],
                                 show_progress=False)
    lines = []
    for (number, record_id, _), outcome in zip(batch, outcomes):
        if isinstance(outcome, Exception):
            _report(job, number, record_id, outcome)
            continue
        lines.append(json.dumps({"id": record_id, **outcome}, ensure_ascii=False) + "\n")
    _write(job.out, lines)
    job.written += len(lines)


def _report(job: _Job, number: int, record_id: Any, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"
    where = f"line {number}" + ("" if record_id is None else f" (id {record_id!r})")
    print(f"llmlingstral: skipped the record at {where}: {message}", file=sys.stderr)
    _write(job.errors, [json.dumps({"id": record_id, "line": number, "error": message},
                                   ensure_ascii=False) + "\n"])
    job.skipped += 1


def _write(handle: TextIO, lines: list[str]) -> None:
    """Append whole lines and push them to disk before going on."""
    if not lines:
        return
    handle.write("".join(lines))
    handle.flush()
    os.fsync(handle.fileno())
