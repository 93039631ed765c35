"""The options ``compress`` and ``compress-batch`` share, and the defaults they imply."""

from __future__ import annotations

from ..protect_options import add_protect_arguments
from ..recipes import LONGLLMLINGUA, RECIPES
from ..validate import DTYPE_CHOICES

METHODS = tuple(RECIPES)
DEFAULT_MODEL_FOR = {"llmlingua": "nano", "longllmlingua": "nano", "llmlingua2": "nano-lingua2"}
# The LongLLMLingua recipe's ranking, measured on NQ-open dev (BENCHMARKS.md).
DEFAULT_RANK_METHOD = LONGLLMLINGUA.rank_method


def add_method_options(cmd, rank_default: str | None, rank_help: str) -> None:
    """--method, --rank-method, --model, --force-token and the protection options."""
    cmd.add_argument("--method", choices=METHODS, default="llmlingua",
                     help="compression method (default llmlingua)")
    cmd.add_argument("--rank-method", default=rank_default, help=rank_help)
    cmd.add_argument("--model", default=None,
                     help="preset, Hugging Face id or local folder (default: nano, or "
                          "nano-lingua2 for llmlingua2)")
    cmd.add_argument("--force-token", action="append", default=[], metavar="TEXT",
                     help="text that must survive compression; repeat for several")
    add_protect_arguments(cmd)


def add_dtype_option(cmd) -> None:
    """--dtype, the compute dtype of the local model."""
    cmd.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto",
                     help="compute dtype of the local model: auto (default: bfloat16 on a GPU, "
                          "and for llmlingua2 on CPUs with native bf16, AVX-512 BF16 or AMX; "
                          "else float32), float32, bfloat16 or float16")


def load_compressor(args):
    """The ``PromptCompressor`` the parsed ``--method``, ``--model``, ``--device`` and
    ``--dtype`` ask for (torch is imported here, not when the parser is built)."""
    from ..compressor import PromptCompressor

    return PromptCompressor(args.model or DEFAULT_MODEL_FOR[args.method], device_map=args.device,
                            model_config={"dtype": args.dtype},
                            use_llmlingua2=args.method == "llmlingua2")
