"""The compute dtype of a local model: what ``model_config={"dtype": ...}`` means.

``"auto"`` (the default) picks per device: bf16 on an accelerator (CUDA, MPS). On a CPU,
bf16 for token classifiers (LLMLingua-2, SecurityLingua) only where the processor computes
it natively (AVX-512 BF16 or AMX, detected through torch), fp32 on every other CPU (where
bf16 is emulated and slower) and always fp32 for the causal scorer (LLMLingua,
LongLLMLingua): on NQ-open dev, bf16 changed 6 % of its keep decisions, mostly through the
order of the question-aware document ranking (BENCHMARKS.md, "Compute dtype").
``"float32"``, ``"bfloat16"`` and ``"float16"`` force a dtype on any device.

Whatever the model runs in, the surprisals and probabilities that feed keep decisions are
computed from its logits in fp32 (:mod:`..scoring.tensor_ops`, :mod:`..scoring.classifier`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from ..validate import DTYPE_CHOICES, check_dtype_name

_FORCED = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Tasks whose "auto" picks bf16 on a CPU with native bf16: those whose keep decisions bf16
# leaves at least 99 % unchanged (BENCHMARKS.md, "Compute dtype"). The causal scorer missed
# its 98 % bar on NQ (93.7 %), so it stays fp32 on a CPU.
AUTO_BF16_ON_CPU = frozenset({"token-classification"})
# torch's CPU capability names for native bf16 arithmetic (x86: AVX-512 BF16, AMX).
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), as torch sees it."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    try:
        if capabilities is not None:  # newer torch: one mapping of flags
            found = capabilities()
            return any(bool(found.get(flag, False)) for flag in _NATIVE_BF16_FLAGS)
        return any(bool(getattr(torch.cpu, name, lambda: False)())
                   for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    except (RuntimeError, AttributeError):  # an unknown CPU: assume no
        return False


def check_dtype(value: Any, name: str = "dtype") -> str | torch.dtype:
    """``value`` as one of :data:`DTYPE_CHOICES` by name, or the torch dtype given when it
    is one of them; a ValueError/TypeError naming the choices otherwise."""
    if isinstance(value, torch.dtype):
        if value not in _FORCED.values():
            raise ValueError(f"{name} {value} is not a compute dtype; use one of "
                             f"{', '.join(DTYPE_CHOICES)}")
        return value
    return check_dtype_name(name, value)


def choose_dtype(requested: Any, device: torch.device, task: str = "causal-lm") -> torch.dtype:
    """The dtype a model for ``task`` runs in on ``device`` when ``requested`` (None and
    ``"auto"`` alike mean the default described in this module)."""
    checked = check_dtype(requested)
    if isinstance(checked, torch.dtype):
        return checked
    if checked != "auto":
        return _FORCED[checked]
    if device.type in {"cuda", "mps"}:
        return torch.bfloat16
    if device.type == "cpu" and task in AUTO_BF16_ON_CPU and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    """``"bfloat16"`` for ``torch.bfloat16``: the name results and options report."""
    return str(dtype).removeprefix("torch.")
