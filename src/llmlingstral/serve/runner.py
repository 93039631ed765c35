"""``llmlingstral serve``: the command's options and the uvicorn server that runs the app."""

from __future__ import annotations

import argparse
import logging
import os

from ..protect_options import add_protect_arguments, protection_from_args
from ..validate import DTYPE_CHOICES
from .config import (API_KEYS_ENV, LOCAL_RANKERS, ON_COMPRESSION_ERROR, POLICIES,
                     UPSTREAM_KEY_ENV, ServeConfig, load_api_keys)

INSTALL_HINT = "pip install 'llmlingstral[serve]'"


def add_serve_command(commands) -> None:
    """Register ``serve`` on the ``llmlingstral`` parser (no web stack imported here)."""
    cmd = commands.add_parser(
        "serve", help="run the HTTP compression service and chat-completions proxy",
        description="Serve /v1/compress, /v1/chat/completions, /healthz, /readyz, /metrics "
                    f"and a page at /. Client keys: {API_KEYS_ENV} (comma separated) or "
                    f"--api-key-file; upstream key: {UPSTREAM_KEY_ENV}, else MISTRAL_API_KEY "
                    "(or OPENAI_API_KEY with --upstream openai).")
    cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                     "127.0.0.1)")
    cmd.add_argument("--allowed-hosts", default="", help="comma-separated host names clients "
                     "may reach the service by, besides localhost and --host (the public name "
                     "behind a reverse proxy); '*' allows any")
    cmd.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    cmd.add_argument("--model", default="nano", help="causal LM for llmlingua, longllmlingua, "
                     "structured and json (default nano; 'none' for no causal LM)")
    cmd.add_argument("--llmlingua2-model", default="nano-lingua2", help="token classifier for "
                     "llmlingua2 (default nano-lingua2; 'none' to leave it out)")
    cmd.add_argument("--guard-model", default=None, help="SecurityLingua classifier; enables "
                     "the proxy's guard (on for every request with --guard)")
    cmd.add_argument("--guard", action="store_true", help="guard every proxied request")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    cmd.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto",
                     help="compute dtype of the models: auto (default: bfloat16 on a GPU, and "
                          "for the classifiers on CPUs with native bf16; else float32), float32, "
                          "bfloat16 or float16")
    _add_load_options(cmd)
    _add_proxy_options(cmd)
    cmd.add_argument("--api-key-file", default=None, help="file with one client key per line")
    cmd.add_argument("--log-prompts", action="store_true", help="log prompt text (off by "
                     "default)")
    cmd.add_argument("--log-level", default="info", choices=("debug", "info", "warning",
                                                               "error"))
    cmd.add_argument("--graceful-timeout", type=float, default=30.0, help="seconds requests in "
                     "flight get to finish on shutdown; those still running then are stopped "
                     "and answered 503 (default 30)")
    cmd.set_defaults(handler=run_serve)


def _add_load_options(cmd) -> None:
    cmd.add_argument("--no-batching", action="store_true", help="run LLMLingua-2 requests one "
                     "by one instead of micro-batching them")
    cmd.add_argument("--batch-window-ms", type=float, default=5.0, help="how long the first "
                     "LLMLingua-2 request waits for others to share its forward pass (default 5)")
    cmd.add_argument("--max-batch-size", type=int, default=16, help="prompts per batch "
                     "(default 16)")
    cmd.add_argument("--max-queue", type=int, default=64, help="compression jobs waiting or "
                     "running before 429 (default 64)")
    cmd.add_argument("--max-jobs-per-request", type=int, default=8, help="queue places one "
                     "request may hold at once; a chat's further texts wait their turn "
                     "(default 8)")
    cmd.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in "
                     "seconds (default 60)")
    cmd.add_argument("--rankers", default=",".join(LOCAL_RANKERS),
                     help="rank_method values requests may use besides perplexity ranking, "
                          f"comma separated (default {','.join(LOCAL_RANKERS)}); e5-mistral "
                          "loads its model at start, mistral-embed calls the Mistral API on "
                          "the operator's key")
    cmd.add_argument("--max-connections", type=int, default=1024, help="open connections "
                     "before new ones are closed at once (default 1024, kept below the "
                     "open-file limit)")
    cmd.add_argument("--header-timeout", type=float, default=10.0, help="seconds a connection "
                     "has to send a complete request head (default 10)")
    cmd.add_argument("--max-body-bytes", type=int, default=4_000_000, help="largest request "
                     "body (default 4000000)")


def _add_proxy_options(cmd) -> None:
    cmd.add_argument("--upstream", choices=("mistral", "openai"), default="mistral",
                     help="mistral: the Mistral API through its SDK (default); openai: any "
                          "OpenAI-compatible server at --upstream-url")
    cmd.add_argument("--upstream-url", default=None, help="upstream address (for openai the "
                     "base URL with /v1)")
    cmd.add_argument("--proxy-rate", type=float, default=0.5, help="rate for proxied messages "
                     "(default 0.5)")
    cmd.add_argument("--proxy-min-tokens", type=int, default=1000, help="user/system/tool "
                     "messages this long are compressed without being marked (default 1000)")
    cmd.add_argument("--proxy-method", choices=("llmlingua2", "llmlingua"), default=None,
                     help="method for proxied messages (default llmlingua2 when loaded)")
    # What /v1/compress requests without their own "protect" and proxied messages keep.
    add_protect_arguments(cmd)
    cmd.add_argument("--allow-protect-patterns", action="store_true",
                     help="let /v1/compress requests send regular expressions in "
                          "protect.patterns (off by default: a client's expression could "
                          "hold the CPU)")
    cmd.add_argument("--proxy-policy", choices=POLICIES, default="question",
                     help="question: compress each message with the last user message before "
                          "it as its question, and keep the latest user message verbatim "
                          "(default); blind: each message on its own")
    cmd.add_argument("--cache-mb", type=float, default=64.0, help="memory for compressed "
                     "messages, reused on later turns of a conversation (MiB, default 64; 0 "
                     "keeps none)")
    cmd.add_argument("--on-compression-error", choices=ON_COMPRESSION_ERROR, default="forward",
                     help="when compressing a chat request fails, times out or finds the queue "
                          "full: forward the original messages (default) or answer with the "
                          "error")
    cmd.add_argument("--compression-timeout", type=float, default=30.0, help="seconds a chat "
                     "request waits for its compression before it is forwarded uncompressed "
                     "(default 30; 0: --timeout alone)")


def _none(value: str | None) -> str | None:
    return None if value is None or value.lower() == "none" else value


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The :class:`ServeConfig` the command line describes (checked)."""
    return ServeConfig(
        model=_none(args.model), llmlingua2_model=_none(args.llmlingua2_model),
        guard_model=_none(args.guard_model), guard=args.guard, device=args.device,
        dtype=args.dtype, batching=not args.no_batching, batch_window_ms=args.batch_window_ms,
        max_batch_size=args.max_batch_size, max_queue=args.max_queue,
        max_jobs_per_request=args.max_jobs_per_request,
        request_timeout_s=args.timeout, max_connections=args.max_connections,
        header_timeout_s=args.header_timeout, max_body_bytes=args.max_body_bytes,
        api_keys=load_api_keys(args.api_key_file), upstream=args.upstream,
        upstream_url=args.upstream_url, proxy_method=args.proxy_method,
        proxy_rate=args.proxy_rate, proxy_min_tokens=args.proxy_min_tokens,
        proxy_policy=args.proxy_policy, cache_mb=args.cache_mb,
        on_compression_error=args.on_compression_error,
        compression_timeout_s=args.compression_timeout,
        log_prompts=args.log_prompts, host=args.host,
        allowed_hosts=tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip()),
        rankers=tuple(n.strip() for n in args.rankers.split(",") if n.strip()),
        protect=protection_from_args(args),
        allow_protect_patterns=args.allow_protect_patterns).validate()


# How torch's OpenMP threads wait between two operations, unless the operator says:
# asleep, not spinning (see quiet_idle_threads).
OMP_WAIT_POLICY = "PASSIVE"


def quiet_idle_threads() -> None:
    """Let torch's OpenMP threads sleep while they wait for work instead of spinning.

    A forward pass of the service alternates short operations (on every core) with Python
    code (on one); spinning threads take the other cores through all of that Python, and
    from everything else the process does meanwhile: the event loop, the prepare lane.
    On a busy machine they also take the cores from the thread that would give them work.
    Read once, when torch is loaded: call it before. An operator's own setting is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)


def run_serve(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM; requests in flight get the grace period."""
    quiet_idle_threads()  # first: checking the options may load torch
    config = config_from_args(args)
    try:
        from .app import create_app
        from .server import graceful_server
    except ImportError as error:
        raise ImportError(f"llmlingstral serve needs the serve extra: {INSTALL_HINT}") \
            from error
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = graceful_server(create_app(config), args.host, args.port,
                             grace_s=args.graceful_timeout, log_level=args.log_level,
                             access_log=False)
    server.run()
    return 0
