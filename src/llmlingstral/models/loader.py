"""One loader for every Mistral checkpoint: presets, hub ids and local folders.

Handles MistralForCausalLM checkpoints, checkpoints stored in the Mistral 3
vision-language layout (loaded text-only: Ministral 3, Mistral Large 3 with its
DeepSeek-V3-style text model, Mistral Small 4), Mistral 4 text models, FP8 checkpoints
(dequantized to bf16 without a GPU), GPTQ checkpoints (with the optional ``gptq`` extra) and
token classifiers. A layout the local scorer cannot run (Mistral Large 4) or transformers
cannot build is refused with a pointer to scoring through a server.

:func:`resolve_checkpoint` is the one way to a model's files, for every model the library
loads (scorers, classifiers, rerankers and the e5-mistral embedder alike): it looks in the
local cache first and fails fast, with :class:`ModelUnavailableError` naming the model, the
command that fetches it and what works offline instead, when the model is neither cached
nor downloadable. No library downstream gets a hub id to retry on its own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import torch

from ..cancel import check_cancelled
from ..errors import LLMLingstralError, ModelUnavailableError
from ..progress import stderr_is_terminal, transformers_bars_hidden
from ..tokenization import MistralTextTokenizer, tokenizer_for_checkpoint
from .precision import check_dtype, choose_dtype, dtype_name
from .registry import MISTRAL_MODELS

logger = logging.getLogger(__name__)

Task = Literal["causal-lm", "token-classification"]
# What a model is for, and what to use instead when it cannot be had.
Purpose = Literal["causal-lm", "token-classification", "embedding"]
OFFLINE_ALTERNATIVES = {
    "causal-lm": "use the embedded offline model: model_name='nano'",
    "token-classification": "use the embedded offline classifier: model_name='nano-lingua2' "
                            "with use_llmlingua2=True",
    "embedding": "rank with rank_method='bm25' or 'gzip', which need no model",
}

# On-disk keys of the Mistral 3 layout -> keys of a text-only model.
_VLM_TEXT_KEY_MAPPING = {r"^language_model\.model\.": "model.",
                         r"^language_model\.lm_head\.": "lm_head.",
                         r"^model\.language_model\.": "model."}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_HUB_FILES = ["*.json", "*.safetensors", "tokenizer.model*", "*.model.v*"]
_VLM_MODEL_TYPES = {"mistral3"}


@dataclass
class LoadedModel:
    """A model ready for scoring, with its tokenizer and where it runs."""

    model: torch.nn.Module
    tokenizer: MistralTextTokenizer
    name: str
    path: Path
    device: torch.device

    @property
    def max_position(self) -> int:
        """The longest sequence the model was built for."""
        return int(getattr(self.model.config, "max_position_embeddings", 4096) or 4096)

    @property
    def dtype(self) -> str:
        """The dtype the model computes in, by name (``"float32"``, ``"bfloat16"``...)."""
        return dtype_name(self.model.dtype)


def _stop_when_cancelled(model: torch.nn.Module) -> None:
    """Make a cancelled caller (a request that timed out) stop at the model's next forward
    pass: of the whole model, of its decoder or of its output head, which scorers call on
    their own, or of one decoder layer, so that a long batch stops within one layer's work
    (:mod:`llmlingstral.cancel`)."""
    parts = {id(model): model}
    for getter in ("get_decoder", "get_output_embeddings"):
        try:
            part = getattr(model, getter)()
        except (AttributeError, NotImplementedError):
            continue
        if isinstance(part, torch.nn.Module):
            parts[id(part)] = part
            parts.update((id(layer), layer) for layer in _layers(part))
    for part in parts.values():
        part.register_forward_pre_hook(_stop_if_cancelled)


def _layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks of a decoder (``layers`` in Mistral-style models), else none."""
    layers = getattr(module, "layers", None)
    return list(layers) if isinstance(layers, torch.nn.ModuleList) else []


def _stop_if_cancelled(module: torch.nn.Module, args: Any) -> None:
    check_cancelled()


# --------------------------------------------------------------------------- resolution


def resolve_checkpoint(name_or_path: str | os.PathLike,
                       purpose: Purpose = "causal-lm") -> tuple[Path, str]:
    """Turn a preset name, a hub id or a folder into a local folder.

    Raises :class:`ModelUnavailableError` when the model is neither cached nor reachable;
    its message suggests the offline alternative for ``purpose``.
    """
    if purpose not in OFFLINE_ALTERNATIVES:
        raise ValueError(f"unknown purpose {purpose!r}; use one of {list(OFFLINE_ALTERNATIVES)}")
    try:
        return _resolve(name_or_path)
    except ModelUnavailableError as error:
        raise error.instead(OFFLINE_ALTERNATIVES[purpose]) from error.__cause__


def _resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    name = os.fspath(name_or_path)
    if not isinstance(name, str) or not name:
        raise TypeError("model_name must be a preset name, a Hugging Face id or a folder path")
    preset = MISTRAL_MODELS.get(name)
    if preset is not None:
        if preset.kind == "api":
            raise LLMLingstralError(f"preset {name!r} is an API model and has no weights to load")
        if preset.embedded:
            path = preset.local_path
            if path is None or not (path / "config.json").is_file():
                raise ModelUnavailableError(name, "its weights are missing from this installation; "
                                                  "reinstall llmlingstral")
            return path, name
        if preset.train_command:
            return _trained_preset(preset), preset.source
        if preset.serve_remotely:
            return _served_preset(preset), preset.source
        name = preset.source
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise LLMLingstralError(f"{path} has no config.json: not a model checkpoint folder")
        return path, str(path)
    if not _HUB_ID.match(name) or name.startswith((".", "~")):
        written_as_path = name.startswith((".", "~", os.sep)) or path.is_absolute()
        reason = "no such folder" if written_as_path else \
            "it is neither a preset, an existing folder, nor a Hugging Face id"
        raise ModelUnavailableError(
            name, reason, fetch=f"pass a preset ({', '.join(MISTRAL_MODELS)}), the path of a "
                                f"checkpoint folder, or a Hugging Face id of the form owner/name")
    return _download_or_cached(name), name


def _trained_preset(preset) -> Path:
    """A preset trained with this project's recipe: cached copy, else say how to train it."""
    try:
        return _download_or_cached(preset.source)
    except ModelUnavailableError as error:
        raise ModelUnavailableError(preset.source, "no published checkpoint is cached here",
                                    fetch=preset.fetch_command) from error


def _served_preset(preset) -> Path:
    """A preset usually served elsewhere: cached copy, else say how to score through a server."""
    try:
        return _download_or_cached(preset.source)
    except ModelUnavailableError as error:
        raise ModelUnavailableError(preset.source, error.reason,
                                    fetch=preset.fetch_command) from error


def _download_or_cached(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=_HUB_FILES))
    except Exception as cached_error:  # noqa: BLE001 - any miss means "not cached"
        if _hub_offline():
            raise ModelUnavailableError(repo_id, "not in the local cache and HF_HUB_OFFLINE is set") \
                from cached_error
    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES))
    except Exception as error:  # noqa: BLE001 - network, auth and missing repos alike
        raise ModelUnavailableError(repo_id, f"download failed: {type(error).__name__}") from error


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes", "on"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# --------------------------------------------------------------------------- device and dtype


def choose_device(device_map: Any) -> tuple[torch.device, Any]:
    """The device to run on and the ``device_map`` to hand to transformers (or None).

    None and an empty mapping mean "not given" (the default, ``"auto"``).
    """
    if isinstance(device_map, bool) or not isinstance(
            device_map, (str, Mapping, torch.device, int, type(None))):
        raise TypeError(f"device_map must be a device name such as 'cpu', 'cuda' or 'auto', a "
                        f"torch.device or a transformers device map (dict), got "
                        f"{type(device_map).__name__} {device_map!r}")
    if isinstance(device_map, int):
        device_map = torch.device("cuda", device_map)
    if isinstance(device_map, Mapping) and device_map:  # an empty map means "not given"
        return (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")), \
            dict(device_map)
    spec = str(device_map or "auto")
    if spec in {"auto", "balanced", "balanced_low_0", "sequential"}:
        if torch.cuda.is_available():
            return torch.device("cuda"), spec if torch.cuda.device_count() > 1 else None
        return torch.device("cpu"), None
    if spec.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(f"device_map={spec!r} but no CUDA device is available; running on CPU",
                      RuntimeWarning, stacklevel=3)
        return torch.device("cpu"), None
    if spec == "mps" and not torch.backends.mps.is_available():
        warnings.warn("device_map='mps' but MPS is unavailable; running on CPU",
                      RuntimeWarning, stacklevel=3)
        return torch.device("cpu"), None
    try:
        return torch.device(spec), None
    except RuntimeError as error:
        raise ValueError(f"unknown device_map {device_map!r}; use 'cpu', 'cuda', 'auto' or a "
                         f"dict") from error


# --------------------------------------------------------------------------- loading


def load_model(name_or_path: str | os.PathLike, *, task: Task = "causal-lm",
               device_map: Any = "auto", model_config: Mapping[str, Any] | None = None,
               num_labels: int | None = None) -> LoadedModel:
    """Load a scorer (``task="causal-lm"``) or a keep/drop classifier (``"token-classification"``).

    ``model_config`` takes ``dtype`` (or ``torch_dtype``): ``"auto"`` (default), ``"float32"``,
    ``"bfloat16"`` or ``"float16"`` (see :mod:`.precision`), and any other keyword for
    ``from_pretrained``. ``num_labels`` (token classification only) builds a fresh head on a
    base model, for training; without it the checkpoint must already be a token classifier.
    """
    if task not in ("causal-lm", "token-classification"):
        raise ValueError(f"unknown task {task!r}; use 'causal-lm' or 'token-classification'")
    options = dict(model_config or {})
    requested = check_dtype(options.pop("dtype", options.pop("torch_dtype", None)),
                            "model_config['dtype']")
    path, name = resolve_checkpoint(name_or_path, purpose=task)
    device, hf_device_map = choose_device(device_map)
    dtype = choose_dtype(requested, device, task)
    options.pop("trust_remote_code", None)  # Mistral classes are native to transformers
    config = _read_config(path, name)
    _check_quantization(config, name)
    text_config, key_mapping = _text_only_config(config)
    # transformers' "Loading weights" bar belongs on a terminal, not in logs and pipes.
    with transformers_bars_hidden(not stderr_is_terminal()):
        if task == "token-classification":
            model = _load_token_classifier(path, text_config, key_mapping, dtype, num_labels,
                                           hf_device_map, options)
        else:
            model = _load_causal_lm(path, text_config, key_mapping, dtype, hf_device_map,
                                    options)
    if key_mapping is not None:
        _forget_text_tower_renaming(model)
    if hf_device_map is None:
        model.to(device)
    model.eval()
    _stop_when_cancelled(model)
    preset = MISTRAL_MODELS.get(os.fspath(name_or_path))
    vocab_size = getattr(text_config.get_text_config(), "vocab_size", None)
    tokenizer = tokenizer_for_checkpoint(path, vocab_size,
                                         fallback=preset.tokenizer if preset else None)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, path=path, device=device)


def _forget_text_tower_renaming(model) -> None:
    """Make ``save_pretrained`` write the text-only layout its config describes.

    transformers remembers the key mapping used at load time and reverts it on save, which
    would write vision-language key names next to a text-only config: a checkpoint that
    reloads with random weights.
    """
    conversions = getattr(model, "_weight_conversions", None) or []
    model._weight_conversions = [
        c for c in conversions
        if not set(getattr(c, "source_patterns", ()) or ()) & set(_VLM_TEXT_KEY_MAPPING)]


def _text_only_config(config):
    """For the Mistral 3 layout, the text config and the key mapping that loads it."""
    if getattr(config, "model_type", None) not in _VLM_MODEL_TYPES:
        return config, None
    text_config = config.get_text_config()
    quantization = getattr(config, "quantization_config", None)
    if quantization is not None:
        # Without the scales the FP8 bytes would be cast as plain numbers: silent garbage.
        text_config.quantization_config = quantization
    if getattr(config, "tie_word_embeddings", None) is not None:
        text_config.tie_word_embeddings = config.tie_word_embeddings
    return text_config, _VLM_TEXT_KEY_MAPPING


def _check_quantization(config, name: str) -> None:
    quantization = getattr(config, "quantization_config", None)
    if quantization is None:
        return
    method = quantization.get("quant_method") if isinstance(quantization, Mapping) \
        else getattr(quantization, "quant_method", None)
    method = str(getattr(method, "value", method))
    if method == "gptq":
        missing = [m for m in ("gptqmodel", "optimum") if importlib.util.find_spec(m) is None]
        if missing:
            raise LLMLingstralError(
                f"{name} is a GPTQ checkpoint and needs {' and '.join(missing)}; install them "
                f"with `pip install 'llmlingstral[gptq]'`, or use an unquantized model")
    elif method == "fp8" and not torch.cuda.is_available():
        if importlib.util.find_spec("accelerate") is None:
            raise LLMLingstralError(f"{name} is an FP8 checkpoint; dequantizing it without a GPU "
                                    f"needs accelerate (`pip install accelerate`)")
        logger.info("%s: FP8 weights are dequantized to bf16 on CPU", name)


# Model types transformers builds but the local scorer cannot drive, and why.
_NOT_SCORABLE_HERE = {
    "mistral_large4": "its sparse attention keeps a cache of indexer keys beside the key-value "
                      "cache, which the scorer's window-by-window cache does not carry",
}
_REMOTE_HINT = ("score it through a server that runs it instead (vLLM): model_config="
                "{'remote_scorer': {'base_url': 'http://<host>:8000/v1', 'model': '<served "
                "name>'}}, see docs/remote-scoring.md")


def _read_config(path: Path, name: str):
    """The checkpoint's transformers config; a model type this transformers does not know
    is refused with the way out."""
    import transformers
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path)
    except ValueError as error:
        if "does not recognize this architecture" not in str(error):
            raise
        raise LLMLingstralError(
            f"{name}: transformers {transformers.__version__} cannot build this checkpoint "
            f"(its model type is unknown to it); upgrade transformers, or "
            f"{_REMOTE_HINT}") from error


def _causal_lm_class(config, name: str):
    """The class that loads ``config`` with a language-model head.

    AutoModelForCausalLM where it knows the config, else the ``<Model>ForCausalLM`` class
    transformers defines without registering it (Mistral 4 in transformers 5.24).
    """
    import transformers
    from transformers import AutoModelForCausalLM

    reason = _NOT_SCORABLE_HERE.get(getattr(config, "model_type", None))
    if reason is not None:
        raise LLMLingstralError(f"{name}: transformers {transformers.__version__} builds this "
                                f"{config.model_type} model, but llmlingstral cannot score it "
                                f"locally ({reason}); {_REMOTE_HINT}")
    if type(config) in AutoModelForCausalLM._model_mapping:
        return AutoModelForCausalLM
    stem = type(config).__name__.removesuffix("Config")
    causal = getattr(transformers, f"{stem}ForCausalLM", None)
    if causal is not None:
        return causal
    raise LLMLingstralError(
        f"{name}: transformers {transformers.__version__} has no causal language model for "
        f"its model type {config.model_type!r}, so it cannot be scored here; "
        f"{_REMOTE_HINT}")


def _load_causal_lm(path, config, key_mapping, dtype, hf_device_map, options):
    architectures = getattr(config, "architectures", None) or []
    if any("ForTokenClassification" in a for a in architectures):
        raise LLMLingstralError(f"{path} is a token classifier; pass it with use_llmlingua2=True")
    model_class = _causal_lm_class(config, str(path))
    kwargs = _from_pretrained_kwargs(config, key_mapping, dtype, hf_device_map, options)
    with _quiet_vision_keys(key_mapping is not None):
        return model_class.from_pretrained(path, **kwargs)


def _load_token_classifier(path, config, key_mapping, dtype, num_labels, hf_device_map, options):
    from transformers import AutoModelForTokenClassification

    architectures = getattr(config, "architectures", None) or []
    is_classifier = any("ForTokenClassification" in a for a in architectures)
    if not is_classifier and num_labels is None:
        raise LLMLingstralError(
            f"{path} is not a token-classification checkpoint (architectures: "
            f"{architectures or 'unknown'}); LLMLingua-2 needs a classifier trained with "
            f"`llmlingstral train-llmlingua2`, or use the LLMLingua method with this model")
    if num_labels is not None:
        config.num_labels = num_labels
    kwargs = _from_pretrained_kwargs(config, key_mapping, dtype, hf_device_map, options)
    with _quiet_vision_keys(key_mapping is not None):
        return AutoModelForTokenClassification.from_pretrained(path, **kwargs)


class _VisionKeysReportFilter(logging.Filter):
    """Drops transformers' load report when its only complaint is the unused vision tower."""

    _VISION = ("vision_tower.", "multi_modal_projector.")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" not in message or "MISSING" in message or "MISMATCH" in message:
            return True
        keys = [line.split("|")[0].strip() for line in message.splitlines()
                if "| UNEXPECTED" in line]
        return not keys or not all(k.startswith(self._VISION) for k in keys)


@contextlib.contextmanager
def _quiet_vision_keys(active: bool):
    """Loading the text tower of a Mistral 3 checkpoint leaves the vision keys unused, on purpose."""
    if not active:
        yield
        return
    target = logging.getLogger("transformers.modeling_utils")
    report_filter = _VisionKeysReportFilter()
    target.addFilter(report_filter)
    try:
        yield
    finally:
        target.removeFilter(report_filter)


def _from_pretrained_kwargs(config, key_mapping, dtype, hf_device_map, options) -> dict:
    kwargs: dict[str, Any] = {"config": config, "dtype": dtype, **options}
    if key_mapping:
        kwargs["key_mapping"] = key_mapping
    if hf_device_map is not None:
        kwargs["device_map"] = hf_device_map
    return kwargs
