"""One library in one process: loads a model once, then compresses on request.

Started by ``compare.py`` with the interpreter of the library's own environment
(llmlingstral: the project's venv, transformers 5; llmlingua 0.2.2: the peer venv,
transformers 4). Requests and replies are JSON lines: requests on stdin, replies on the
original stdout (anything the libraries print goes to stderr). Only the standard library and
the library under test are imported here.

Requests:
    {"op": "load", "kind": "causal"|"classifier", "model": PATH}
    {"op": "run", "method": "compress"|"compress2", "context": str|[str], "kwargs": {...},
     "memory": bool}
    {"op": "quit"}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


_BYTE_RUN = re.compile(r"(?:<0x[0-9A-Fa-f]{2}>)+")


def decode_byte_pieces(text: str) -> str:
    """Turn literal byte pieces (``<0x0A>``) back into their characters.

    llmlingua's LLMLingua-2 path joins the sub-word pieces of a word as strings and decodes
    the joined strings, so a byte-fallback piece glued to a word (Mistral's newline is the
    piece ``<0x0A>``) survives as literal text. XLM-R, the classifier llmlingua was written
    for, has no byte pieces.
    """
    def decode(match: re.Match) -> str:
        raw = bytes(int(h, 16) for h in re.findall(r"<0x([0-9A-Fa-f]{2})>", match.group(0)))
        return raw.decode("utf-8", errors="replace")
    return _BYTE_RUN.sub(decode, text)


class Library:
    """The compressor of one library behind one interface."""

    def __init__(self, lib: str, offline_dir: Path | None) -> None:
        self.lib = lib
        self.compressor = None
        self.kind = None
        if lib == "llmlingua":
            sys.path.insert(0, str(HERE))
            from offline_data import install_tiktoken_standin

            if offline_dir is None:
                raise SystemExit("llmlingua needs --offline-dir (the tiktoken stand-in)")
            if not os.environ.get("PEER_REAL_TIKTOKEN"):
                install_tiktoken_standin(offline_dir / "tiktoken")

    def versions(self) -> dict:
        import torch
        import transformers

        if self.lib == "llmlingua":
            from importlib.metadata import version
            lib_version = version("llmlingua")
        else:
            import llmlingstral
            lib_version = llmlingstral.__version__
        return {"library": lib_version, "transformers": transformers.__version__,
                "torch": torch.__version__, "threads": torch.get_num_threads()}

    def load(self, kind: str, model: str) -> None:
        classifier = kind == "classifier"
        if self.lib == "llmlingua":
            from llmlingua import PromptCompressor
        else:
            from llmlingstral import PromptCompressor
        self.compressor = PromptCompressor(model, device_map="cpu", use_llmlingua2=classifier)
        self.kind = kind

    def dtype(self) -> str:
        """The dtype the loaded model computes in (both libraries on their defaults)."""
        return str(self.compressor.model.dtype).removeprefix("torch.")

    def supports(self, method: str) -> str | None:
        """None if ``method`` can run, else why not."""
        if method == "compress2" and not hasattr(self.compressor, "compress_prompt_llmlingua2"):
            return (f"{self.lib} {self.versions()['library']} has no "
                    f"PromptCompressor.compress_prompt_llmlingua2 yet")
        return None

    def call(self, method: str, context, kwargs: dict) -> dict:
        kwargs = dict(kwargs)
        if method == "compress":
            if self.lib == "ours":
                kwargs.setdefault("show_progress", False)
            return self.compressor.compress_prompt(context, **kwargs)
        return self.compressor.compress_prompt_llmlingua2(context, **kwargs)

    def clean(self, method: str, text: str) -> str:
        if self.lib == "llmlingua" and method == "compress2":
            return decode_byte_pieces(text)
        return text


def serve(lib: Library, out) -> None:
    def reply(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    reply({"op": "ready", "pid": os.getpid(), "rss_kib": status_kib("VmRSS")})
    for line in sys.stdin:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "quit":
                reply({"op": "bye"})
                return
            if op == "load":
                start = time.perf_counter()
                lib.load(request["kind"], request["model"])
                reply({"op": "loaded", "seconds": time.perf_counter() - start,
                       "rss_kib": status_kib("VmRSS"), "dtype": lib.dtype(), **lib.versions()})
            elif op == "run":
                method = request["method"]
                reason = lib.supports(method)
                if reason:
                    reply({"op": "unsupported", "reason": reason})
                    continue
                memory = bool(request.get("memory"))
                peak_reset = reset_peak() if memory else False
                rss_before = status_kib("VmRSS")
                start = time.perf_counter()
                result = lib.call(method, request["context"], request.get("kwargs", {}))
                seconds = time.perf_counter() - start
                hwm = status_kib("VmHWM")
                raw = result["compressed_prompt"]
                text = lib.clean(method, raw)
                reply({"op": "result", "seconds": seconds, "compressed_prompt": text,
                       "cleaned": text != raw, "origin_tokens": result.get("origin_tokens"),
                       "compressed_tokens": result.get("compressed_tokens"),
                       "rss_before_kib": rss_before, "hwm_kib": hwm,
                       "peak_reset": peak_reset})
            else:
                reply({"op": "error", "error": f"unknown op {op!r}"})
        except Exception as error:  # noqa: BLE001 - reported to the coordinator
            reply({"op": "error", "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["ours", "llmlingua"], required=True)
    parser.add_argument("--offline-dir", type=Path)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()

    # Replies go to the real stdout; library chatter goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    serve(Library(args.lib, args.offline_dir), out)


if __name__ == "__main__":
    main()
