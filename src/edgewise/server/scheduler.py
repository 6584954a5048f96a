"""Loaded models, their queues and their memory: one request at a time per model instance.

- Each loaded model has one worker thread (a single-thread executor): every engine call for
  it runs there, so a model's native state is never touched by two requests at once.
- Requests wait in a per-model FIFO (an asyncio lock) bounded by ``max_queue``; beyond it
  the request is refused with QueueFullError (HTTP 429 + Retry-After, estimated from the
  recent service time).
- A request has a deadline (``timeout``) covering its wait and its work. A generation checks
  a cancel flag after every token: the deadline, or the client going away, stops it.
- Several models can be loaded; a new one that does not fit the memory budget unloads idle
  models, least recently used first. ``keep_alive`` (Ollama's) sets how long an idle model
  stays; a reaper unloads expired ones. The model given to ``create_app`` (or --model) is
  kept until a request says otherwise.
- Names are catalog ids, aliases or names registered with ``edgewise models add``; anything
  that looks like a path is refused, so a request cannot make the server open a file outside
  the catalog and EDGEWISE_HOME.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgewise.catalog import RUNTIME_OVERHEAD, ResolvedModel
from edgewise.engines.base import Engine
from edgewise.errors import ModelNotFoundError
from edgewise.resolver import known_names, resolve
from edgewise.server.errors import (
    ClientGoneError,
    MemoryBudgetError,
    QueueFullError,
    RequestTimeoutError,
)
from edgewise.server.metrics import Metrics
from edgewise.server.settings import ServerSettings
from edgewise.types import Chunk

log = logging.getLogger("edgewise")
T = TypeVar("T")
Loader = Callable[[ResolvedModel], Engine]
REAP_EVERY = 1.0
DISCONNECT_POLL = 0.25


def _looks_like_path(name: str) -> bool:
    return (
        "/" in name
        or "\\" in name
        or "\0" in name
        or ".." in name
        or name.startswith(("~", "."))
        or name.lower().endswith(".gguf")
    )


def canonical_request_name(name: str) -> str:
    """A client's model name, cleaned: Ollama's ``:latest`` tag dropped, case folded."""
    name = name.strip()
    if name.lower().endswith(":latest"):
        name = name[: -len(":latest")]
    return name


async def acquire_in_turn(
    lock: asyncio.Lock,
    deadline: float,
    timeout: float,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    on_gone: Callable[[], object] | None = None,
) -> None:
    """Wait for ``lock`` in FIFO order until ``deadline`` (monotonic): RequestTimeoutError when
    time is up, ClientGoneError (after ``on_gone``) when the client leaves while waiting. On
    any exception the lock is not held afterwards."""
    task = asyncio.ensure_future(lock.acquire())
    try:
        while not task.done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeoutError(timeout)
            await asyncio.wait({task}, timeout=min(left, DISCONNECT_POLL))
            if not task.done() and disconnected is not None and await disconnected():
                if on_gone is not None:
                    on_gone()
                raise ClientGoneError()
    except BaseException:
        if task.done() and not task.cancelled() and task.exception() is None:
            lock.release()
        else:
            task.cancel()
        raise


@dataclass
class LoadedModel:
    """A model in memory, its worker thread and its queue."""

    name: str
    engine: Engine
    size: int  # estimated bytes
    owned: bool  # close the engine on unload (False for an engine the caller passed in)
    pinned: bool  # kept loaded unless a request's keep_alive says otherwise
    resolved: ResolvedModel | None = None
    executor: ThreadPoolExecutor = field(init=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float | None = None  # monotonic time; None = never
    service_ewma: float = 1.0  # seconds per request, for Retry-After
    loaded_at: float = field(default_factory=time.time)
    cache: OrderedDict[Any, Any] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgewise-model")

    @property
    def idle(self) -> bool:
        return not self.busy and self.waiting == 0 and not self.lock.locked()

    def cached(self, key: Any, make: Callable[[], T], limit: int = 16) -> T:
        """Per-model cache for task objects (classifiers keep their warm prompt and prior)."""
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]  # type: ignore[no-any-return]
        value = make()
        self.cache[key] = value
        while len(self.cache) > limit:
            self.cache.popitem(last=False)
        return value


def estimate_size(resolved: ResolvedModel | None, engine: Engine | None, n_ctx: int) -> int:
    """Bytes a model takes: weights (memory-mapped file) + KV cache at n_ctx + runtime."""
    path: Path | None = resolved.path if resolved else getattr(engine, "path", None)
    weights = path.stat().st_size if isinstance(path, Path) and path.is_file() else 0
    entry = resolved.entry if resolved else getattr(engine, "entry", None)
    kv = entry.kv_bytes_per_token() * n_ctx if entry is not None else weights // 8
    return weights + kv + RUNTIME_OVERHEAD


def default_loader(settings: ServerSettings) -> Loader:
    """Load a model the pool has resolved (it needs the file's size for the memory budget
    before loading): one call that gives the engine its name and catalog entry, without
    resolving the name a second time (which could pick another file) or patching them on
    afterwards. The pool only resolves GGUF files, so the engine is llama.cpp's."""

    def load(resolved: ResolvedModel) -> Engine:
        from edgewise.engines import open_model

        kwargs: dict[str, Any] = {}
        if settings.n_ctx:
            kwargs["n_ctx"] = settings.n_ctx
        if settings.threads:
            kwargs["threads"] = settings.threads
        return open_model(resolved.path, name=resolved.name, entry=resolved.entry, **kwargs)

    return load


class ModelPool:
    """The loaded models and the scheduler in front of each."""

    def __init__(
        self,
        settings: ServerSettings,
        metrics: Metrics,
        *,
        engine: Engine | None = None,
        loader: Loader | None = None,
        resolver: Callable[[str], ResolvedModel] = resolve,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.loader = loader or default_loader(settings)
        self.resolver = resolver
        self.models: dict[str, LoadedModel] = {}
        self._load_lock: asyncio.Lock | None = None
        self._reaper: asyncio.Task[None] | None = None
        if settings.model:
            self.default_name = settings.model
        else:
            from edgewise.bundled import default_model

            self.default_name = default_model()[0]
        self._operator_model: ResolvedModel | None = None
        if settings.model and _looks_like_path(settings.model):
            # the operator may serve a file by path; requests then name it by its stem
            self._operator_model = resolver(settings.model)
            self.default_name = self._operator_model.name
        self.history: list[dict[str, Any]] = []  # the last finished generations (diagnostics)
        if engine is not None:
            self.default_name = engine.name
            self.models[engine.name] = LoadedModel(
                name=engine.name,
                engine=engine,
                size=estimate_size(None, engine, getattr(engine, "n_ctx", 2048)),
                owned=False,
                pinned=True,
            )
        metrics.set("edgewise_memory_budget_bytes", settings.memory_budget)
        metrics.add_collector(self._collect)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._load_lock = asyncio.Lock()
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def preload(self) -> None:
        """Load the default model now (``edgewise serve`` does this before listening)."""
        if self.default_name not in self.models:
            model = await self._get(self.default_name)
            model.pinned = True
            model.expires_at = None
            self.default_name = model.name  # an alias given as --model becomes the id

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for model in list(self.models.values()):
            await self._unload(model, "shutdown")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY)
            try:
                await self.reap()
            except Exception:  # pragma: no cover - never let the reaper die
                log.exception("model reaper failed")

    async def reap(self) -> None:
        now = time.monotonic()
        for model in list(self.models.values()):
            if model.expires_at is not None and model.expires_at <= now and model.idle:
                await self._unload(model, "keep_alive")

    def _collect(self) -> None:
        for name in ("edgewise_queue_depth", "edgewise_model_busy"):
            self.metrics.clear(name)
        for m in self.models.values():
            self.metrics.set("edgewise_queue_depth", m.waiting, model=m.name)
            self.metrics.set("edgewise_model_busy", 1.0 if m.busy else 0.0, model=m.name)
        self.metrics.set("edgewise_models_loaded", len(self.models))
        self.metrics.set("edgewise_memory_bytes", sum(m.size for m in self.models.values()))

    # ------------------------------------------------------------------ names
    def known(self) -> list[str]:
        names = list(self.models.copy())
        try:
            names += [n for n in known_names() if n not in names]
        except Exception:  # a broken registry must not hide the loaded models
            pass
        return names

    def _loaded_key(self, name: str | None) -> tuple[str, str | None]:
        """(cleaned name, key of the loaded model it names or None); no I/O, event loop only."""
        raw = canonical_request_name(name or "") or self.default_name
        if raw in self.models:
            return raw, raw
        for model in self.models.values():
            entry = getattr(model.engine, "entry", None)
            if entry is not None and raw.lower() in (entry.id, *entry.aliases):
                return raw, model.name
        return raw, None

    def _resolve(self, raw: str) -> tuple[str, ResolvedModel]:
        """A name that is not loaded, resolved against the catalog and registry (may do I/O)."""
        if self._operator_model is not None and raw == self._operator_model.name:
            return raw, self._operator_model
        if _looks_like_path(raw):
            raise ModelNotFoundError(
                raw,
                self.known(),
                hint="the server takes model names, not paths; register a file with "
                "`edgewise models add PATH --name NAME` on the server's machine",
            )
        resolved = self.resolver(raw)
        return resolved.name, resolved

    async def resolve_name(self, name: str | None) -> tuple[str, ResolvedModel | None]:
        """The pool key for a request's model name, and its resolution when not loaded."""
        raw, key = self._loaded_key(name)
        if key is not None:
            return key, None
        return await asyncio.get_running_loop().run_in_executor(None, self._resolve, raw)

    # ------------------------------------------------------------------ loading
    async def _get(self, name: str | None) -> LoadedModel:
        loop = asyncio.get_running_loop()
        key, resolved = await self.resolve_name(name)
        model = self.models.get(key)
        if model is not None:
            return model
        assert self._load_lock is not None, "ModelPool.start() was not called"
        async with self._load_lock:
            model = self.models.get(key)
            if model is not None:
                return model
            assert resolved is not None
            size = estimate_size(resolved, None, self.settings.n_ctx or 4096)
            await self._make_room(key, size)
            t0 = time.perf_counter()
            engine = await loop.run_in_executor(None, self.loader, resolved)
            log.info("loaded %s in %.2f s", key, time.perf_counter() - t0)
            model = LoadedModel(
                name=key,
                engine=engine,
                size=estimate_size(resolved, engine, getattr(engine, "n_ctx", 4096)),
                owned=True,
                pinned=key == self.default_name,
                resolved=resolved,
            )
            model.expires_at = None if model.pinned else self._default_expiry(time.monotonic())
            self.models[key] = model
            self.metrics.inc("edgewise_model_loads_total", model=key)
            return model

    async def _make_room(self, name: str, size: int) -> None:
        budget = self.settings.memory_budget
        used = sum(m.size for m in self.models.values())
        if used + size <= budget:
            return
        if size > budget:
            raise MemoryBudgetError(name, size, budget, [])
        # least recently used first; the default model only when nothing else frees enough
        for victim in sorted(self.models.values(), key=lambda m: (m.pinned, m.last_used)):
            if used + size <= budget:
                break
            if victim.idle:
                used -= victim.size
                await self._unload(victim, "memory_budget")
        if used + size > budget:
            busy = [m.name for m in self.models.values() if not m.idle]
            raise MemoryBudgetError(name, size, budget, busy)

    async def _unload(self, model: LoadedModel, reason: str) -> None:
        if self.models.get(model.name) is not model:
            return
        del self.models[model.name]
        self.metrics.inc("edgewise_model_unloads_total", reason=reason)
        log.info("unloaded %s (%s)", model.name, reason)
        if model.owned:
            await asyncio.get_running_loop().run_in_executor(model.executor, model.engine.close)
        model.executor.shutdown(wait=False)

    async def unload(self, name: str | None) -> bool:
        """Unload a model now if it is loaded and idle (Ollama's keep_alive 0 on an empty
        request); a busy model is unloaded when its last request ends."""
        key, _ = await self.resolve_name(name)
        model = self.models.get(key)
        if model is None:
            return False
        model.expires_at = time.monotonic()
        if model.idle:
            await self._unload(model, "keep_alive")
        return True

    async def load(self, name: str | None, keep_alive: float | None | str = "default") -> str:
        model = await self._get(name)
        self._touch(model, keep_alive)
        return model.name

    def _default_expiry(self, now: float) -> float | None:
        keep = self.settings.keep_alive
        return None if keep == float("inf") else now + keep

    def _touch(self, model: LoadedModel, keep_alive: float | None | str) -> None:
        model.last_used = time.monotonic()
        if keep_alive == "default":
            if not model.pinned:
                model.expires_at = self._default_expiry(model.last_used)
        elif keep_alive is None:
            model.expires_at = None
        else:
            assert isinstance(keep_alive, float)
            model.expires_at = model.last_used + keep_alive

    # ------------------------------------------------------------------ scheduling
    async def _acquire(
        self,
        name: str | None,
        deadline: float,
        disconnected: Callable[[], Awaitable[bool]] | None,
    ) -> LoadedModel:
        model = await self._get(name)
        depth = model.waiting + (1 if model.lock.locked() else 0)
        if depth > self.settings.max_queue:
            self.metrics.inc("edgewise_rejected_total", reason="queue_full", model=model.name)
            retry = max(1, round(model.service_ewma * (model.waiting + 1)))
            raise QueueFullError(model.name, model.waiting, retry)
        model.waiting += 1
        try:
            await acquire_in_turn(
                model.lock,
                deadline,
                self.settings.timeout,
                disconnected,
                on_gone=lambda: self.metrics.inc(
                    "edgewise_cancelled_total", reason="disconnect_queued"
                ),
            )
        finally:
            model.waiting -= 1
        model.busy = True
        return model

    def _release(self, model: LoadedModel, started: float, keep_alive: float | None | str) -> None:
        model.busy = False
        spent = time.monotonic() - started
        model.service_ewma = 0.8 * model.service_ewma + 0.2 * spent
        self._touch(model, keep_alive)
        model.lock.release()
        if model.expires_at is not None and model.expires_at <= time.monotonic() and model.idle:
            asyncio.get_running_loop().create_task(self._unload(model, "keep_alive"))

    async def call(
        self,
        name: str | None,
        fn: Callable[[Engine, LoadedModel], T],
        *,
        keep_alive: float | None | str = "default",
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """Run ``fn(engine, model)`` on the model's worker thread when its turn comes."""
        deadline = time.monotonic() + self.settings.timeout
        model = await self._acquire(name, deadline, disconnected)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            fut = loop.run_in_executor(model.executor, fn, model.engine, model)
        except BaseException:
            self._release(model, started, keep_alive)
            raise
        fut.add_done_callback(lambda _f: self._release(model, started, keep_alive))
        left = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout=max(left, 0.001))
        except asyncio.TimeoutError:
            raise RequestTimeoutError(self.settings.timeout) from None

    async def stream(
        self,
        name: str | None,
        start: Callable[[Engine], Iterator[Chunk]],
        *,
        keep_alive: float | None | str = "default",
        disconnected: Callable[[], Awaitable[bool]] | None = None,
        on_model: Callable[[LoadedModel], None] | None = None,
    ) -> AsyncIterator[Chunk]:
        """Chunks of ``start(engine)`` as the worker thread produces them.

        Stopping early (the consumer closes this generator, the client disconnects, or the
        deadline passes) sets a flag the worker checks after every token; the model is free
        for the next request as soon as the worker has stopped.
        """
        deadline = time.monotonic() + self.settings.timeout
        model = await self._acquire(name, deadline, disconnected)
        if on_model is not None:
            on_model(model)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        record: dict[str, Any] = {"model": model.name, "chunks": 0, "stopped": None}

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def work() -> None:
            try:
                chunks = start(model.engine)
                try:
                    for chunk in chunks:
                        if chunk.finish_reason is None:
                            record["chunks"] += 1
                        put("chunk", chunk)
                        if cancel.is_set():
                            break
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()  # runs the engine's cleanup (sampler, lock) in this thread
            except BaseException as exc:
                put("error", exc)
                return
            put("end", None)

        fut = loop.run_in_executor(model.executor, work)
        fut.add_done_callback(lambda _f: self._release(model, started, keep_alive))
        reason = "disconnect"
        next_probe = time.monotonic() + DISCONNECT_POLL
        try:
            while True:
                now = time.monotonic()
                left = deadline - now
                if left <= 0:
                    reason = "timeout"
                    raise RequestTimeoutError(self.settings.timeout)
                # Probe on a clock, not only when the queue is idle: a non-streamed reply sends
                # nothing until the end, so a steady flow of tokens would hide a departed client.
                if disconnected is not None and now >= next_probe:
                    next_probe = now + DISCONNECT_POLL
                    if await disconnected():
                        raise ClientGoneError()
                try:
                    kind, value = await asyncio.wait_for(
                        queue.get(), timeout=min(left, DISCONNECT_POLL)
                    )
                except asyncio.TimeoutError:
                    continue
                if kind == "chunk":
                    if value.finish_reason is not None:
                        reason = ""  # complete: whatever the consumer does now is no cancel
                        record["completion_tokens"] = value.usage.completion_tokens
                    yield value
                elif kind == "error":
                    reason = ""
                    raise value
                else:
                    reason = ""
                    return
        finally:
            if reason:
                cancel.set()
                record["stopped"] = reason
                self.metrics.inc("edgewise_cancelled_total", reason=reason)
            self.history.append(record)
            del self.history[:-32]
