"""The FastAPI application: routes, errors, authentication, limits and lifecycle."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from typing import Any, Awaitable, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..errors import LLMLingstralError
from .config import ServeConfig
from .engine import Engine
from .fairness import begin_request
from .guards import RequestGuard, allowed_host_names
from .jobs import CompressJob, RequestError, parse_compress_request
from .logs import escape_control_characters
from .message_cache import MessageCache
from .metrics import Metrics
from .proxy import PreparedRequest, prepare
from .racing import until
from .scheduler import JobTimeout, Overloaded
from .server import QuietLoopErrors
from .shutdown import DrainMiddleware, Draining
from .spans import protected_character_spans
from .upstream import UpstreamError, build_upstream

logger = logging.getLogger("llmlingstral.serve")
escape_control_characters(logger)
T = TypeVar("T")
STATIC = resources.files("llmlingstral.serve") / "static"


def error_body(message: str, kind: str) -> dict[str, Any]:
    """OpenAI-style error object, which both SDKs read."""
    return {"error": {"message": message, "type": kind}}


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service for ``config``; models load in the background once it starts."""
    config = (config or ServeConfig()).validate()
    metrics = Metrics()
    engine = Engine(config, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        asyncio.get_running_loop().set_exception_handler(QuietLoopErrors())
        engine.start()
        loading = asyncio.create_task(asyncio.to_thread(engine.load))
        app.state.upstream = build_upstream(config.upstream, config.resolved_upstream_key(),
                                            config.upstream_url, config.upstream_timeout_s)
        try:
            yield
        finally:
            await loading
            await engine.stop()
            await app.state.upstream.close()

    # With keys, the API description is not served: only /healthz and a minimal /readyz
    # answer without one.
    documented = {} if not config.api_keys else \
        {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="llmlingstral", summary="Prompt compression on Mistral models",
                  lifespan=lifespan, **documented)
    app.state.config, app.state.engine, app.state.metrics = config, engine, metrics
    app.state.message_cache = MessageCache(config.cache_bytes, metrics)
    app.state.draining = Draining()
    # Innermost of the three, so that the 503 it answers at the deadline is observed.
    app.add_middleware(DrainMiddleware, draining=app.state.draining)
    app.add_middleware(RequestGuard,
                       allowed_hosts=allowed_host_names(config.host, config.allowed_hosts))
    app.add_middleware(_ObserveMiddleware, metrics=metrics)
    _add_error_handlers(app)
    _add_routes(app, config, engine, metrics)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


# --------------------------------------------------------------------------- auth, body


def _authorize(config: ServeConfig):
    keys = [k.reveal().encode() for k in config.api_keys]

    def check(request: Request) -> None:
        if not keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        # Compare against every key, so timing does not reveal which prefix matched.
        matched = False
        for key in keys:
            matched |= hmac.compare_digest(given, key)
        if not matched:
            raise _Unauthorized()

    return check


class _Unauthorized(Exception):
    pass


class _TooLarge(Exception):
    pass


async def read_json(request: Request, limit: int) -> Any:
    """The request body decoded as JSON; 413 past ``limit`` bytes, 400 if not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    body = b"".join(chunks)
    # Decoding megabytes is CPU work: off the event loop, except for small bodies.
    if len(body) > _DECODE_INLINE_BYTES:
        return await asyncio.to_thread(decode_json, body)
    return decode_json(body)


_DECODE_INLINE_BYTES = 64_000


def decode_json(body: bytes) -> Any:
    """``body`` decoded as JSON, or a 400 :class:`RequestError` saying why not."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(f"the request body is not valid JSON: {error}", 400) from error
    except RecursionError:
        raise RequestError("the request body is JSON nested too deeply to read", 400) from None


# --------------------------------------------------------------------------- routes


def _add_routes(app: FastAPI, config: ServeConfig, engine: Engine, metrics: Metrics) -> None:
    auth = Depends(_authorize(config))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    is_authorized = _authorize(config)

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        status = 200 if engine.ready else 503
        try:
            is_authorized(request)
        except _Unauthorized:  # models and load errors are for the operator's clients
            return JSONResponse({"ready": engine.ready, "auth": True}, status_code=status)
        body = {"ready": engine.ready, "models": engine.models(), "dtypes": engine.dtypes(),
                "methods": [m for m, ok in engine.available().items() if ok] if engine.ready
                else [], "auth": bool(config.api_keys)}
        if engine.load_error:
            body["error"] = engine.load_error
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", dependencies=[auth])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post("/v1/compress", dependencies=[auth])
    async def compress(request: Request) -> JSONResponse:
        body = await read_json(request, config.max_body_bytes)
        engine.require_ready()
        job = parse_compress_request(body, engine.available(), config.rankers, config.protect,
                                     config.allow_protect_patterns)
        if config.log_prompts:
            logger.info("compress %s prompt: %r", job.method, job.original)
        started = time.perf_counter()
        result = await unless_client_leaves(request, engine.compress(job))
        result["protected_spans"] = await _protected_spans(job)
        result["method"] = job.method
        result["elapsed_seconds"] = round(time.perf_counter() - started, 4)
        return JSONResponse(result)

    @app.post("/v1/chat/completions", dependencies=[auth])
    async def chat(request: Request) -> Response:
        body = await read_json(request, config.max_body_bytes)
        engine.require_ready()
        prepared = await unless_client_leaves(request, _prepare(request, body))
        if config.log_prompts:
            logger.info("chat request after compression: %r", prepared.body.get("messages"))
        upstream = request.app.state.upstream
        if prepared.body.get("stream"):
            events = await upstream.open_stream(prepared.body)
            return StreamingResponse(_sse(events), media_type="text/event-stream",
                                     headers=prepared.headers())
        reply = await upstream.complete(prepared.body)
        reply["llmlingstral"] = prepared.figures
        return JSONResponse(reply, headers=prepared.headers())


async def _protected_spans(job: CompressJob) -> list[dict[str, Any]]:
    """The spans of the original that the request's protection keeps whole (for the page);
    a long text is searched off the event loop."""
    find = partial(protected_character_spans, job.original, job.regions, job.protection)
    return await asyncio.to_thread(find) if len(job.original) > _DECODE_INLINE_BYTES \
        else find()


def _prepare(request: Request, body: Any) -> Awaitable[PreparedRequest]:
    """The proxy's preparation of ``body`` with the app's settings, models and message cache."""
    state = request.app.state
    return prepare(body, state.config, state.engine, state.message_cache)


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """``await work``, cancelled (and its compression stopped) if the client disconnects;
    its jobs take their turns as one request (:mod:`.fairness`)."""
    begin_request()
    finished, result = await until(work, _disconnect(request))
    if not finished:
        raise ClientGone()
    return result


async def _disconnect(request: Request) -> None:
    """Returns once the client has gone (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _sse(events):
    """Server-sent events; a failure mid-stream ends it with an error event and ``[DONE]``,
    so that clients see the failure instead of a reply cut short."""
    try:
        async for data in events:
            yield f"data: {data}\n\n"
    except Exception as error:  # noqa: BLE001 - told to the client, in the stream
        logger.warning("upstream stream failed: %s", type(error).__name__)
        message = "the upstream failed mid-stream; the reply is incomplete"
        yield f"data: {json.dumps(error_body(message, 'upstream_error'))}\n\n"
        yield "data: [DONE]\n\n"


# --------------------------------------------------------------------------- errors


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(_: Request, error: RequestError) -> JSONResponse:
        kind = "service_unavailable" if error.status == 503 else "invalid_request_error"
        return JSONResponse(error_body(str(error), kind), status_code=error.status)

    @app.exception_handler(ValueError)
    @app.exception_handler(TypeError)
    @app.exception_handler(LLMLingstralError)
    async def invalid(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(error_body(str(error), "invalid_request_error"), status_code=422)

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(error_body("a value is nested too deeply to process; flatten it",
                                       "invalid_request_error"), status_code=422)

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(error_body("a valid API key is required: send 'Authorization: "
                                       "Bearer <key>'", "authentication_error"),
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, __: Exception) -> JSONResponse:
        # Nobody reads it; 499 (client closed request) keeps the metrics and the log honest.
        return JSONResponse(error_body("the client closed the connection", "client_closed"),
                            status_code=499)

    @app.exception_handler(_TooLarge)
    async def too_large(request: Request, _: Exception) -> JSONResponse:
        limit = request.app.state.config.max_body_bytes
        return JSONResponse(error_body(f"the request body is larger than {limit} bytes; send "
                                       f"less text per request", "request_too_large"),
                            status_code=413)

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, error: Overloaded) -> JSONResponse:
        return JSONResponse(error_body(str(error), "rate_limit_error"), status_code=429,
                            headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(JobTimeout)
    async def timed_out(_: Request, error: JobTimeout) -> JSONResponse:
        return JSONResponse(error_body(str(error), "timeout"), status_code=504)

    @app.exception_handler(UpstreamError)
    async def upstream_failed(_: Request, error: UpstreamError) -> JSONResponse:
        return JSONResponse(error.payload, status_code=error.status)


# --------------------------------------------------------------------------- observing


class _ObserveMiddleware:
    """Counts and times every request, and logs one line for it (never its body)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as error:  # noqa: BLE001 - answered, and logged on one line
            # No traceback: a request that can trigger this must not flood the log.
            logger.error("%s %s failed: %s: %s", scope["method"], scope["path"],
                         type(error).__name__, str(error)[:300])
            if status == 500:  # nothing was sent yet
                await JSONResponse(error_body("the service failed on this request; the "
                                              "operator's log has the cause", "server_error"),
                                   status_code=500)(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request(scope["path"], status, seconds)
            logger.info("%s %s %d %.1f ms", scope["method"], scope["path"], status,
                        seconds * 1000)
