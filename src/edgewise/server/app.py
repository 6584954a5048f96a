"""``create_app(settings, engine=...)``: the FastAPI application, and ``serve`` to run it.

The app holds its state on ``app.state.edgewise`` (no module globals), so several apps can
live in one process (tests run a real-model app and a scripted one side by side).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgewise import __version__
from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError
from edgewise.server.audio_api import router as audio_router
from edgewise.server.common import ServerState
from edgewise.server.errors import (
    BodyTooLargeError,
    MethodNotAllowedError,
    RouteNotFoundError,
    UnauthorizedError,
    error_body,
    error_payload,
    is_ollama_path,
)
from edgewise.server.metrics import Metrics
from edgewise.server.ollama_api import router as ollama_router
from edgewise.server.openai_api import router as openai_router
from edgewise.server.scheduler import Loader, ModelPool
from edgewise.server.settings import ServerSettings
from edgewise.server.tasks_api import router as tasks_router

log = logging.getLogger("edgewise")
OPEN_PATHS = {"/", "/health", "/playground.js", "/playground.css", "/favicon.ico"}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    parts = []
    param = None
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            return f"the request body is not valid JSON: {err.get('msg', '')}", None
        if loc == [] and isinstance(err.get("input"), bytes):
            # FastAPI leaves the body unparsed when its Content-Type is not JSON (curl -d)
            return "the request body must be JSON sent with 'Content-Type: application/json'", None
        where = ".".join(loc) or "body"
        param = param or where
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts), param


class BodyLimit:
    """Refuse bodies over ``limit`` bytes (declared or streamed) with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    await _send_error(scope, send, BodyTooLargeError(self.limit))
                    return
        # Read the body here (it is small by definition) so an oversized one is refused
        # with 413 whether or not it declared its length.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            seen += len(body)
            if seen > self.limit:
                await _send_error(scope, send, BodyTooLargeError(self.limit))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class OllamaJson:
    """Read /api/ bodies as JSON whatever their Content-Type, as Ollama does: its documented
    ``curl ... -d '{...}'`` calls send application/x-www-form-urlencoded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_ollama_path(scope["path"]):
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class CountRequests:
    """Requests by route and status code, and their duration (a plain ASGI middleware, so
    streaming and disconnect detection pass through untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: set[str]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        route = scope["path"] if scope["path"] in self.routes else "other"
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.inc("edgewise_requests_total", route=route, code=str(status))
            self.metrics.observe("edgewise_request_seconds", time.perf_counter() - t0, route=route)


class ApiKey:
    """Require ``Authorization: Bearer KEY`` on every route but the page and /health."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not hmac.compare_digest(given, self.key):
            await _send_error(scope, send, UnauthorizedError())
            return
        await self.app(scope, receive, send)


async def _send_error(scope: Scope, send: Send, exc: BaseException) -> None:
    status, body, headers = error_payload(scope["path"], exc)
    response = JSONResponse(body, status_code=status, headers=headers)
    await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:  # pragma: no cover - JSONResponse never reads
    return {"type": "http.disconnect"}


def _asset(name: str) -> bytes:
    return resources.files("edgewise.server").joinpath("playground").joinpath(name).read_bytes()


def create_app(
    settings: ServerSettings | None = None,
    *,
    engine: Engine | None = None,
    loader: Loader | None = None,
    preload: bool = False,
) -> FastAPI:
    """The server app. ``engine``: an already loaded model to serve as the default (the
    caller keeps ownership); otherwise ``settings.model`` is loaded on first use (or at
    startup with ``preload=True``). ``loader`` replaces how other models are loaded."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    pool = ModelPool(settings, metrics, engine=engine, loader=loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        if preload:
            await pool.preload()
        try:
            yield
        finally:
            await pool.stop()
            speech = app.state.edgewise.speech
            if speech is not None:
                speech.close()

    app = FastAPI(
        title="edgewise",
        version=__version__,
        description="Small language models on this machine: OpenAI- and Ollama-compatible "
        "APIs, task endpoints (classify, extract, summarize, triage), speech to text and voice "
        "notes, and a playground at /.",
        lifespan=lifespan,
    )
    app.state.edgewise = ServerState(settings=settings, pool=pool, metrics=metrics)
    routers = (openai_router, ollama_router, tasks_router, audio_router)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        message, param = _validation_message(exc)
        body = error_body(
            request.url.path, message, "invalid_request_error", "invalid_value", param
        )
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        err: Exception
        if exc.status_code == 404:
            err = RouteNotFoundError(request.method, request.url.path)
        elif exc.status_code == 405:
            err = MethodNotAllowedError(request.method, request.url.path)
        else:
            body = error_body(request.url.path, str(exc.detail), "invalid_request_error", "http")
            return JSONResponse(body, status_code=exc.status_code)
        status, body, headers = error_payload(request.url.path, err)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(EdgewiseError)
    async def _edgewise(request: Request, exc: EdgewiseError) -> Response:
        status, body, headers = error_payload(request.url.path, exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Response:
        status, body, headers = error_payload(request.url.path, exc)
        if status >= 500:
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.get("/health", tags=["Server"], summary="Liveness and the loaded models")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "models": sorted(pool.models),
            "default_model": pool.default_name,
        }

    @app.get("/metrics", tags=["Server"], summary="Prometheus metrics")
    async def metrics_route() -> Response:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return Response(
            _asset("index.html"),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/playground.js", include_in_schema=False)
    async def page_js() -> Response:
        return Response(_asset("playground.js"), media_type="text/javascript; charset=utf-8")

    @app.get("/playground.css", include_in_schema=False)
    async def page_css() -> Response:
        return Response(_asset("playground.css"), media_type="text/css; charset=utf-8")

    _ROUTES = {"/", "/health", "/metrics"} | {
        r.path  # type: ignore[attr-defined]
        for router in routers
        for r in router.routes
    }
    app.add_middleware(OllamaJson)
    if settings.cors:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.api_key:
        app.add_middleware(ApiKey, key=settings.api_key)
    app.add_middleware(BodyLimit, limit=settings.max_body)
    app.add_middleware(CountRequests, metrics=metrics, routes=_ROUTES)
    return app


def serve(
    settings: ServerSettings,
    *,
    engine: Engine | None = None,
    log_level: str = "info",
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the server until interrupted (what ``edgewise serve`` calls)."""
    import uvicorn

    settings.check_bind()
    _check_port(settings.host, settings.port)  # before loading a model for nothing
    app = create_app(settings, engine=engine, preload=engine is None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"http://{settings.host}:{settings.port}")
    server.run()


def _check_port(host: str, port: int) -> None:
    import socket

    from edgewise.errors import InputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InputError(f"cannot resolve --host {host}: {exc}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise InputError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
            ) from None


class BackgroundServer:
    """Run an app on 127.0.0.1 in a background thread (tests, notebooks, embedding).

    ``with BackgroundServer(app) as url: ...`` picks a free port, waits until the server
    accepts connections, and shuts it down on exit.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket
        import threading

        import uvicorn

        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="edgewise-http")

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
