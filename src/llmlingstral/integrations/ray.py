"""Compress a Ray Data dataset of documents (extra: ``pip install 'llmlingstral[ray]'``).

:func:`compress_dataset` maps :class:`CompressBatch` over the dataset with an actor pool:
each actor loads the compressor once, then compresses one batch of rows after another
with :meth:`PromptCompressor.compress_prompts`. The same code runs on a laptop
(``ray.init()``) and on a cluster; ``num_gpus`` gives each actor its GPU share.

    import ray
    from llmlingstral.integrations.ray import compress_dataset

    ds = ray.data.read_json("docs.jsonl")                 # a "text" column
    out = compress_dataset(ds, "nano", concurrency=2, rate=0.5)
    out.write_json("compressed/")                         # + compressed_prompt, token counts

Each output row is its input row plus ``compressed_prompt``, ``origin_tokens`` and
``compressed_tokens``, equal to what ``compress_prompts`` gives for that row. With
``method=`` (``"llmlingua"``, ``"longllmlingua"``, ``"llmlingua2"``) the rows are compressed
with that method's recipe (:mod:`llmlingstral.recipes`), as ``llmlingstral compress`` and
the service do; the keywords given win over the recipe's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..recipes import recipe_for
from ..text.protect import resolve_protection
from ..validate import check_positive_int

if TYPE_CHECKING:
    import ray.data

RESULT_COLUMNS = ("compressed_prompt", "origin_tokens", "compressed_tokens")


class CompressBatch:
    """A ``map_batches`` callable: one :class:`PromptCompressor` per actor.

    Args:
        model_name: the compressor's model (a preset, hub id or folder).
        compressor_options: other ``PromptCompressor`` arguments (``use_llmlingua2``,
            ``device_map``, ``model_config``, ...).
        text_column: the column to compress: a string, or a list of documents, per row.
        question_column: a column holding each row's question (LongLLMLingua), if any.
        compress_options: ``compress_prompt`` keywords applied to every row.
        method: the recipe whose options ``compress_options`` are laid over (None: none,
            only ``compress_options``).
    """

    def __init__(self, model_name: str = "nano", *,
                 compressor_options: Mapping[str, Any] | None = None,
                 text_column: str = "text", question_column: str | None = None,
                 compress_options: Mapping[str, Any] | None = None,
                 method: str | None = None) -> None:
        from ..compressor import PromptCompressor

        self.compressor = PromptCompressor(model_name, **dict(compressor_options or {}))
        self.text_column = text_column
        self.question_column = question_column
        self.compress_options = recipe_keywords(method, compress_options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.text_column not in batch:
            raise ValueError(f"the dataset has no column {self.text_column!r} (columns: "
                             f"{sorted(batch)}); pass text_column=")
        prompts: list[dict[str, Any]] = [{"context": _as_context(v)}
                                         for v in batch[self.text_column]]
        if self.question_column is not None:
            for prompt, question in zip(prompts, batch[self.question_column]):
                prompt["question"] = str(question)
        results = self.compressor.compress_prompts(prompts, show_progress=False,
                                                   **self.compress_options)
        output = dict(batch)
        output["compressed_prompt"] = np.array([r["compressed_prompt"] for r in results],
                                               dtype=object)
        for column in RESULT_COLUMNS[1:]:
            output[column] = np.array([r[column] for r in results], dtype=np.int64)
        return output


def compress_dataset(dataset: ray.data.Dataset, model_name: str = "nano", *,
                     text_column: str = "text", question_column: str | None = None,
                     concurrency: int = 1, num_gpus: float = 0, num_cpus: float | None = None,
                     batch_size: int = 32,
                     compressor_options: Mapping[str, Any] | None = None,
                     method: str | None = None,
                     **compress_options: Any) -> ray.data.Dataset:
    """``dataset`` with each row's text compressed, by an actor pool of ``concurrency``
    actors that each hold the model once (``num_gpus`` / ``num_cpus`` per actor).

    ``batch_size`` rows go to one ``compress_prompts`` call; ``compress_options`` are its
    keywords (``rate``, ``target_token``, ``rank_method``, ``protect``, ...), laid over the
    recipe of ``method`` when one is named; a
    :class:`~llmlingstral.text.protect.Protection` reaches every actor as given.
    """
    from ray.data import ActorPoolStrategy

    # Checked here, so that a bad value fails at once rather than in every actor.
    resolve_protection(compress_options.get("protect", True))
    recipe_keywords(method, compress_options)

    # A fixed pool through ``compute``: Ray 2.51 deprecated map_batches' ``concurrency``.
    pool = ActorPoolStrategy(size=check_positive_int("concurrency", concurrency,
                                                     "the number of actors"))
    options: dict[str, Any] = {"compute": pool,
                               "batch_size": check_positive_int("batch_size", batch_size),
                               "batch_format": "numpy"}
    if num_gpus:
        options["num_gpus"] = num_gpus
    if num_cpus is not None:
        options["num_cpus"] = num_cpus
    return dataset.map_batches(
        CompressBatch,
        fn_constructor_kwargs={"model_name": model_name,
                               "compressor_options": dict(compressor_options or {}),
                               "text_column": text_column, "question_column": question_column,
                               "compress_options": compress_options, "method": method},
        **options)


def recipe_keywords(method: str | None,
                    options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` over the recipe of ``method`` (None: ``options`` alone)."""
    options = dict(options or {})
    return options if method is None else recipe_for(method).keywords(options)


def _as_context(value: Any) -> str | list[str]:
    """A cell as compress_prompt's context: Ray hands list cells over as arrays."""
    if isinstance(value, str):
        return value
    if isinstance(value, (np.ndarray, list, tuple)):
        return [str(v) for v in value]
    raise TypeError(f"a text cell must be a string or a list of strings, got "
                    f"{type(value).__name__}")
