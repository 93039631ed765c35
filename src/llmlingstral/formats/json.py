"""Compress the string values of a JSON object, key by key, and return valid JSON.

``json_config`` gives each top-level key of the data its settings (one entry per key, as in
llmlingua; ``None`` gives every key the defaults):

* ``rate``: keep fraction for its text (default: the global rate);
* ``compress``: False keeps the value verbatim;
* ``value_type``: the expected type (str, int, float, bool, list, tuple, dict), checked;
* ``pair_remove``: whether the pair may be dropped (by the key-value filter, or when its
  value compresses to nothing). False always keeps the key.

Only text is compressed: every string inside a value (nested lists and objects included),
each scored with its key as context. Numbers, booleans and null are never changed, and the
structure is rebuilt around the compressed strings, so the result is always valid JSON
(list items that compress to nothing are dropped). Objects nested deeper than
:data:`MAX_DEPTH` levels are refused with a ValueError. With ``use_keyvalue_level_filter``
whole pairs are first ranked (``rank_method``, question-aware where it can be) and kept
within the budget, each counted at its size after its strings are compressed, so pairs
are dropped only when compressing the strings cannot meet the target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..budget import (apply_context_budget, blended_rate, rate_for_target, reorder,
                      select_contexts)
from ..errors import InvalidArgumentError, LLMLingstralError
from ..options import JsonOptions
from ..prompt import Segment, result_dict
from ..validate import check_rate, check_text
from .protocol import SegmentCompressor

# Deepest nesting accepted: far beyond real documents, well within Python's recursion limit.
MAX_DEPTH = 100
VALUE_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
               "list": (list, tuple), "tuple": (list, tuple), "dict": (dict,)}
_CONFIG_FIELDS = {"rate", "compress", "value_type", "pair_remove"}


@dataclass(frozen=True)
class KeyConfig:
    """How one top-level key is treated; ``rate`` None means the global rate."""

    rate: float | None = None
    compress: bool = True
    value_type: str | None = None
    pair_remove: bool = True


# The name these options had before they moved to :mod:`..options`.
JsonSettings = JsonOptions


@dataclass(frozen=True)
class _Leaf:
    key: str
    path: tuple
    label: str
    text: str
    rate: float


# --------------------------------------------------------------------------- config


def load_json_config(json_config: Mapping[str, Any] | str | os.PathLike | None
                     ) -> dict[str, KeyConfig]:
    """Per-key settings from a mapping or a JSON/YAML file."""
    if json_config is None:
        return {}
    if isinstance(json_config, (str, os.PathLike)):
        json_config = _read_config_file(Path(json_config))
    if not isinstance(json_config, Mapping):
        raise TypeError(f"json_config must be a dict or a path to a JSON/YAML file, got "
                        f"{type(json_config).__name__}")
    return {str(key): _key_config(str(key), value) for key, value in json_config.items()}


def _read_config_file(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"json_config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    try:
        import yaml
    except ImportError as error:
        raise ImportError("reading a YAML json_config needs PyYAML: pip install pyyaml") \
            from error
    return yaml.safe_load(text)


def _key_config(key: str, raw: Any) -> KeyConfig:
    if not isinstance(raw, Mapping):
        raise TypeError(f"json_config[{key!r}] must be a dict of rate/compress/value_type/"
                        f"pair_remove, got {type(raw).__name__}")
    unknown = set(raw) - _CONFIG_FIELDS
    if unknown:
        raise ValueError(f"json_config[{key!r}] has unknown field(s) {sorted(unknown)}; "
                         f"allowed: {sorted(_CONFIG_FIELDS)}")
    rate = raw.get("rate")
    if rate is not None:
        check_rate(f"json_config[{key!r}]['rate']", rate)
    value_type = raw.get("value_type")
    if value_type is not None and value_type not in VALUE_TYPES:
        hint = " (JSON has no sets; use list)" if value_type == "set" else ""
        raise ValueError(f"json_config[{key!r}]['value_type'] is {value_type!r}{hint}; "
                         f"valid: {', '.join(VALUE_TYPES)}")
    return KeyConfig(rate=None if rate is None else float(rate),
                     compress=bool(raw.get("compress", True)), value_type=value_type,
                     pair_remove=bool(raw.get("pair_remove", True)))


def _check_data(json_data: Any) -> dict[str, Any]:
    if isinstance(json_data, str):
        try:
            json_data = json.loads(json_data)
        except json.JSONDecodeError as error:
            raise ValueError(f"json_data is a string but not valid JSON: {error}") from error
        except RecursionError as error:
            raise ValueError(f"json_data is nested too deeply to read; at most {MAX_DEPTH} "
                             f"levels are supported") from error
    _check_depth(json_data)
    if not isinstance(json_data, Mapping):
        raise TypeError(f"json_data must be a JSON object (dict), got "
                        f"{type(json_data).__name__}")
    try:
        json.dumps(json_data)
    except (TypeError, ValueError) as error:
        raise TypeError(f"json_data must hold only JSON values: {error}") from error
    return {str(k): v for k, v in json_data.items()}


def _check_config_keys(data: dict[str, Any], configs: dict[str, KeyConfig]) -> None:
    """A configured key missing from the data is a typo that would silently not apply."""
    unknown = [key for key in configs if key not in data]
    if unknown:
        raise InvalidArgumentError(f"json_config names key(s) {unknown} that json_data does not "
                                   f"have; its keys are {list(data)}")


def _check_config_complete(data: dict[str, Any], configs: dict[str, KeyConfig]) -> None:
    """A given config names every key of the data, as llmlingua asserts: a key left out
    would be compressed with settings nobody chose."""
    missing = [key for key in data if key not in configs]
    if missing:
        raise InvalidArgumentError(f"json_config has no entry for key(s) {missing} of json_data; "
                                   f"add one per key (e.g. {{'rate': 0.5, 'compress': True, "
                                   f"'pair_remove': True}}), or pass json_config=None to "
                                   f"compress every key with the defaults")


def _check_depth(data: Any) -> None:
    """Refuse objects nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"json_data is nested more than {MAX_DEPTH} levels deep; flatten "
                             f"it, or pass the deep part as a JSON string value")
        stack.extend((child, depth + 1) for child in children)


def _check_type(key: str, value: Any, config: KeyConfig) -> None:
    if config.value_type is None:
        return
    allowed = VALUE_TYPES[config.value_type]
    wrong_bool = isinstance(value, bool) and config.value_type in ("int", "float")
    if wrong_bool or not isinstance(value, allowed):
        raise ValueError(f"json_config[{key!r}] declares value_type {config.value_type!r} "
                         f"but the value is a {type(value).__name__}")


# --------------------------------------------------------------------------- compression


def compress_json(compressor: SegmentCompressor, json_data: Mapping[str, Any] | str,
                  json_config: Mapping[str, Any] | str | os.PathLike | None = None,
                  instruction: str = "", question: str = "",
                  options: JsonOptions | None = None) -> dict[str, Any]:
    """Compress a JSON object with ``options`` (default: ``compress_json``'s);
    ``compressed_prompt`` is the compressed object (a dict).

    Token counts are those of the compact ``json.dumps`` text before and after. The
    instruction is accepted for compatibility and never enters the JSON; the question
    conditions ranking and, with ``condition_in_question``, token scoring.
    """
    options = JsonOptions() if options is None else options
    data, configs = _check_data(json_data), load_json_config(json_config)
    _check_config_keys(data, configs)
    for key, value in data.items():
        _check_type(key, value, configs.get(key, KeyConfig()))
    if json_config is not None:
        _check_config_complete(data, configs)
    question = check_text("question", question)
    tokenizer = compressor.tokenizer
    origin = tokenizer.count(_dump(data))
    base_rate = rate_for_target(options.rate, options.target_token, origin)
    leaves_of = {key: _leaves(key, value, configs.get(key, KeyConfig()), base_rate)
                 for key, value in data.items()}
    keys = list(data)
    if options.use_keyvalue_level_filter and len(keys) > 1:
        keys = _filter_pairs(compressor, data, configs, leaves_of, options, question,
                             origin, origin * base_rate)
    leaves = [leaf for key in keys for leaf in leaves_of[key]]
    texts = _compress_leaves(compressor, leaves, question, options)
    result = _rebuild(data, keys, configs, {leaf.path: t for leaf, t in zip(leaves, texts)})
    return result_dict(result, origin, tokenizer.count(_dump(result)))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _leaves(key: str, value: Any, config: KeyConfig, base_rate: float) -> list[_Leaf]:
    """The strings to compress inside one value, with their paths and labels."""
    if not config.compress:
        return []
    rate = base_rate if config.rate is None else config.rate
    found: list[_Leaf] = []

    def walk(node: Any, path: tuple, label: str) -> None:
        if isinstance(node, str):
            if node.strip():
                found.append(_Leaf(key, path, label, node, rate))
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, (*path, i), f"{label}[{i}]")
        elif isinstance(node, Mapping):
            for name, item in node.items():
                walk(item, (*path, name), f"{label}.{name}")

    walk(value, (key,), key)
    return found


def _compress_leaves(compressor: SegmentCompressor, leaves: list[_Leaf], question: str,
                     options: JsonOptions) -> list[str]:
    """Each leaf's compressed text, scored in one pass with its key as context."""
    if not leaves or all(leaf.rate >= 1 for leaf in leaves):
        return [leaf.text for leaf in leaves]
    tokenizer = compressor.tokenizer
    prefixes = [f"{leaf.label}: " for leaf in leaves]
    sizes = tokenizer.count_batch([leaf.text for leaf in leaves])
    # The segment rates set the token budget; this overall rate only sizes the sentence
    # filter and keeps the compressor from returning the text untouched.
    overall = blended_rate(sum(tokenizer.count_batch(prefixes)), sizes,
                           [leaf.rate for leaf in leaves])
    contexts = [[Segment(p, None, False), Segment(leaf.text, leaf.rate, True)]
                for p, leaf in zip(prefixes, leaves)]
    result = compressor.compress_segments(contexts, "", question, options.for_strings(overall))
    by_id = dict(zip(result["kept_context_ids"], result["compressed_contexts"]))
    if set(by_id) - set(range(len(leaves))):
        raise LLMLingstralError(f"compression returned texts for unknown JSON strings "
                                f"{sorted(set(by_id) - set(range(len(leaves))))}")
    return [_without_label(by_id.get(i), p) for i, p in enumerate(prefixes)]


def _without_label(compressed: str | None, prefix: str) -> str:
    """A leaf's compressed text less the protected ``key: `` label it was scored with.

    The label is kept verbatim, but the space after it goes when the value is dropped or
    when a method rejoins words, so it is matched without that space.
    """
    if compressed is None:
        return ""
    text, label = compressed.strip(), prefix.strip()
    if not text.startswith(label):
        raise LLMLingstralError(f"the compressed JSON string lost its label {label!r}")
    return text[len(label):].strip()


def _filter_pairs(compressor: SegmentCompressor, data: dict[str, Any],
                  configs: dict[str, KeyConfig], leaves_of: dict[str, list[_Leaf]],
                  options: JsonOptions, question: str, origin: int,
                  target: float) -> list[str]:
    """Keys kept by the key-value filter, in the order ``reorder_keyvalue`` asks for.

    Pairs are taken in rank order within the coarse budget (the target adjusted by
    ``context_budget``), each counted at the size it will have once its strings are
    compressed at their rates: a pair is dropped only when the compressed pairs would not
    fit otherwise, never when the string pass alone already meets the target.
    """
    keys = list(data)
    texts = [_dump({key: data[key]})[1:-1] for key in keys]
    from ..ranking.resolve import choose_ranking  # torch: only when filtering

    # Ranked as compress_prompt ranks contexts: llmlingua never looks at the question,
    # longllmlingua without a condition ranks by -log p(question | pair).
    choice = choose_ranking(options.rank_method, options.condition_in_question,
                            question=question, warn=False)
    ranked = [i for i, _ in compressor.get_rank_results(texts, question, options.rank_method,
                                                       choice.condition)]
    lengths = compressor.tokenizer.count_batch(texts)
    sizes = _compressed_sizes(compressor, keys, lengths, leaves_of, options)
    forced = [i for i, key in enumerate(keys) if not configs.get(key, KeyConfig()).pair_remove]
    # Braces and separators between the pairs stay whatever is kept.
    syntax = max(0, origin - sum(lengths))
    budget = apply_context_budget(target, options.context_budget) - syntax
    kept = select_contexts(ranked, sizes, budget, forced)
    return [keys[i] for i in reorder(kept, options.reorder_keyvalue)]


def _compressed_sizes(compressor: SegmentCompressor, keys: list[str], lengths: list[int],
                      leaves_of: dict[str, list[_Leaf]], options: JsonOptions
                      ) -> list[float]:
    """Each pair's expected token count once its strings are compressed at their rates
    (its full length when no pass compresses strings)."""
    if not (options.use_token_level_filter or options.use_sentence_level_filter):
        return [float(n) for n in lengths]
    leaves = [leaf for key in keys for leaf in leaves_of[key]]
    counts = compressor.tokenizer.count_batch([leaf.text for leaf in leaves]) if leaves else []
    saved = dict.fromkeys(keys, 0.0)
    for leaf, count in zip(leaves, counts):
        saved[leaf.key] += count * (1.0 - min(1.0, leaf.rate))
    return [max(0.0, length - saved[key]) for key, length in zip(keys, lengths)]


def _rebuild(data: dict[str, Any], keys: list[str], configs: dict[str, KeyConfig],
             compressed: dict[tuple, str]) -> dict[str, Any]:
    """The object with compressed strings in place; emptied removable pairs are dropped."""

    def build(node: Any, path: tuple) -> Any:
        if isinstance(node, str):
            return compressed.get(path, node)
        if isinstance(node, (list, tuple)):
            items = [build(item, (*path, i)) for i, item in enumerate(node)]
            return [item for item, original in zip(items, node)
                    if not (item == "" and original != "")]
        if isinstance(node, Mapping):
            return {name: build(item, (*path, name)) for name, item in node.items()}
        return node

    result: dict[str, Any] = {}
    for key in keys:
        value = build(data[key], (key,))
        emptied = value in ("", [], {}) and data[key] not in ("", [], {})
        if emptied and configs.get(key, KeyConfig()).pair_remove:
            continue
        result[key] = value
    return result
