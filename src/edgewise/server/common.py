"""What the API families share: the app state, generation requests, stream plumbing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from edgewise.engines.base import Engine, Prompt
from edgewise.errors import CapabilityError
from edgewise.server.metrics import Metrics
from edgewise.server.scheduler import LoadedModel, ModelPool
from edgewise.server.settings import ServerSettings
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
        )


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
