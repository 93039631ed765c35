"""A ``/v1/compress`` request body, checked and turned into one call of the Python API.

The body names a ``method`` and carries that method's keyword arguments under the Python
API's names. Unknown names are refused here; the values themselves are checked by the
Python API, so the service answers with the library's own messages. ``protect`` is read
from its JSON forms (see :mod:`..protect_options`); a request without it gets the service's
default, and regular expressions from requests are refused unless the operator allows them.
"""

from __future__ import annotations

import inspect
import json
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..protect_options import protection_from_spec
from ..recipes import RECIPES
from ..text.protect import Protection, ProtectOption, resolve_protection

METHODS = ("llmlingua", "longllmlingua", "llmlingua2", "structured", "json")
# Chosen by the service, never by a request.
_SERVER_ONLY = {"self", "show_progress", "compressor"}
CONTEXT_SEPARATOR = "\n\n"
# Bounds on the regular expressions a request may send in ``protect.patterns`` (when the
# operator allows them at all): few and short, since each runs over the request's text.
MAX_REQUEST_PATTERNS = 8
MAX_REQUEST_PATTERN_LENGTH = 200


class RequestError(ValueError):
    """A request the service refuses before calling the library; ``status`` is 400 or 422."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CompressJob:
    """One call: ``method`` with ``kwargs``; ``original`` is the text spans refer to, and
    ``regions`` the character ranges of it that are compressed (the contexts)."""

    method: str
    kwargs: dict[str, Any]
    original: str
    regions: tuple[tuple[int, int], ...] = ()

    @property
    def cost(self) -> int:
        """Characters of text the job reads: what its turn on the compute thread is
        charged (see :mod:`.fairness`)."""
        if self.original:
            return len(self.original)
        return sum(_chars(self.kwargs.get(name)) for name in ("instruction", "context",
                                                                "question", "json_data"))

    @property
    def family(self) -> str:
        """The method family whose model runs the job (see :func:`family_of`)."""
        return family_of(self.method)

    @property
    def protection(self) -> Protection:
        """What the call keeps whole (its ``protect`` with its force tokens)."""
        return resolve_protection(self.kwargs.get("protect", True),
                                  self.kwargs.get("force_tokens") or (),
                                  bool(self.kwargs.get("force_reserve_digit", False)))


def family_of(method: str) -> str:
    """The family (``Method.family``) of the model that runs ``method``: ``"llmlingua2"``
    (a token classifier) for LLMLingua-2, ``"llmlingua"`` (a causal LM) for LLMLingua,
    LongLLMLingua, structured prompts and JSON."""
    return "llmlingua2" if method == "llmlingua2" else "llmlingua"


def default_method(available: Mapping[str, bool]) -> str:
    """The method a request that names none runs, given which methods have a model:
    LLMLingua-2 where its classifier is loaded (the faster of the two), else LLMLingua."""
    return "llmlingua2" if available.get("llmlingua2") else "llmlingua"


def _chars(value: Any) -> int:
    """Characters of a text or a list of texts (anything else: by its JSON form, bounded
    by the request body)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sum(map(len, value))
    if value is None:
        return 0
    try:
        return len(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return 1


def parameter_names(method: str) -> frozenset[str]:
    """The keyword arguments a request for ``method`` may carry."""
    from ..compressor import PromptCompressor
    from ..formats.json import compress_json

    functions = {
        "llmlingua": [PromptCompressor.compress_prompt],
        "longllmlingua": [PromptCompressor.compress_prompt],
        "llmlingua2": [PromptCompressor.compress_prompt_llmlingua2],
        "structured": [PromptCompressor.structured_compress_prompt,
                       PromptCompressor.compress_prompt],
        "json": [compress_json],
    }[method]
    names = set()
    for function in functions:
        for name, parameter in inspect.signature(function).parameters.items():
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                names.add(name)
    return frozenset(names - _SERVER_ONLY)


def parse_compress_request(body: Any, available: Mapping[str, bool],
                           rankers: Sequence[str] = (), protect: ProtectOption = True,
                           allow_patterns: bool = False) -> CompressJob:
    """Check a decoded request body; ``available`` says which methods have a model,
    ``rankers`` which rank methods the operator enabled (besides perplexity ranking),
    ``protect`` the service's default and ``allow_patterns`` whether a request's
    ``protect`` may hold regular expressions."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object", 400)
    fields = dict(body)
    method = fields.pop("method", default_method(available))
    if method not in METHODS:
        raise RequestError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not available.get(method):
        raise RequestError(f"method {method!r} is not served here: start the service with "
                           f"{'--llmlingua2-model' if method == 'llmlingua2' else '--model'}",
                           422)
    allowed = parameter_names(method)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise RequestError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(map(repr, unknown))} for method {method!r}; accepted: "
                           f"{', '.join(sorted(allowed))}")
    required = "json_data" if method == "json" else "context"
    if required not in fields:
        raise RequestError(f"{required!r} is required: the "
                           f"{'JSON object' if method == 'json' else 'text or list of documents'}"
                           f" to compress")
    if "rank_method" in fields:
        check_rank_method(fields["rank_method"], rankers)
    _check_budget(fields)
    fields["protect"] = protect if "protect" not in fields else protection_from_spec(
        fields["protect"], allow_patterns=allow_patterns, max_patterns=MAX_REQUEST_PATTERNS,
        max_pattern_length=MAX_REQUEST_PATTERN_LENGTH)
    if method == "json" and isinstance(fields.get("json_data"), str):
        fields["json_data"] = _decoded_json_data(fields["json_data"])
    if method == "json" and isinstance(fields.get("json_config"), str):
        raise RequestError("json_config must be a JSON object here; the service does not read "
                           "configuration files")
    parts = original_parts(method, fields)
    return CompressJob(method, _with_defaults(method, fields), "".join(p for p, _ in parts),
                       _regions(parts))


def _decoded_json_data(text: str) -> Any:
    """``json_data`` sent as a JSON string, decoded here (as the library would) so that a
    malformed or absurdly nested one is a clear 422."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise RequestError(f"json_data is a string that is not valid JSON: {error}") from None
    except RecursionError:
        raise RequestError("json_data is nested too deeply to compress") from None


def _check_budget(fields: Mapping[str, Any]) -> None:
    """Refuse a bad ``rate`` or ``target_token`` here, before the request joins a batch
    (the library's own checks and messages)."""
    from ..options import CommonOptions

    CommonOptions(**{name: fields[name] for name in ("rate", "target_token") if name in fields})


def check_rank_method(name: Any, rankers: Sequence[str]) -> None:
    """Refuse a ``rank_method`` the operator did not enable: a request never makes the
    service load a model or call an API on the operator's key."""
    from ..ranking.registry import PERPLEXITY_METHODS, resolve_rank_method

    if not isinstance(name, str):
        return  # the library's own TypeError names the mistake
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            canonical = resolve_rank_method(name)
        except ValueError:
            canonical = None
    enabled = (*PERPLEXITY_METHODS, *rankers)
    if canonical not in enabled:
        shown = repr(name) if canonical in (None, name) else f"{name!r} ({canonical})"
        raise RequestError(f"rank_method {shown} is not enabled on this service; enabled: "
                           f"{', '.join(enabled)} (the operator enables others with --rankers)")


def _with_defaults(method: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The request's fields over its method's recipe (the one every entry point uses);
    ``structured`` and ``json`` have none."""
    recipe = RECIPES.get(method)
    return fields if recipe is None else recipe.keywords(fields)


def original_parts(method: str, fields: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The uncompressed prompt as the methods assemble it, for spans, in pieces, each with
    whether it is compressed (a context or the JSON object) or kept as it is (instruction,
    question, separators). ``<llmlingua>`` tags are removed as ``compress_prompt`` removes
    them (not with ``context_segs``, which it takes as given)."""
    if method == "json":
        data = fields.get("json_data")
        try:
            data = json.loads(data) if isinstance(data, str) else data
            return [(json.dumps(data, ensure_ascii=False), True)]
        except (TypeError, ValueError):
            return []
    context = fields.get("context")
    contexts = [context] if isinstance(context, str) else context
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        return []
    if method == "structured" or fields.get("context_segs") is None:
        contexts = [_untagged(c) for c in contexts]  # as compress_prompt parses them
    groups = [_kept(fields.get("instruction")), _joined([[(c, True)] for c in contexts]),
              _kept(fields.get("question"))]
    return _joined([g for g in groups if any(text for text, _ in g)])


def _kept(text: Any) -> list[tuple[str, bool]]:
    return [(text, False)] if isinstance(text, str) and text else []


def _joined(groups: list[list[tuple[str, bool]]]) -> list[tuple[str, bool]]:
    """The pieces of ``groups`` with a kept separator between each two groups."""
    joined: list[tuple[str, bool]] = []
    for group in groups:
        if joined:
            joined.append((CONTEXT_SEPARATOR, False))
        joined.extend(group)
    return joined


def _regions(parts: list[tuple[str, bool]]) -> tuple[tuple[int, int], ...]:
    regions, cursor = [], 0
    for text, compressed in parts:
        if compressed and text:
            regions.append((cursor, cursor + len(text)))
        cursor += len(text)
    return tuple(regions)


def _untagged(text: str) -> str:
    from ..tags import has_tags, parse_tags

    if not has_tags(text):
        return text
    try:
        return "".join(s.text for s in parse_tags(text))
    except ValueError:
        return text  # the library reports the bad tag


def compressed_text(result: Mapping[str, Any]) -> str:
    """The compressed prompt as text (JSON results are serialised like the original)."""
    prompt = result.get("compressed_prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
