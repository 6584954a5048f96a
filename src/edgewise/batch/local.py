"""Run a batch job on this machine: N worker processes, each with its own engine.

The driver (this process) reads the input, hands chunks to the workers and is the only writer
of the output, so rows never interleave. Weights are memory-mapped, so N workers share one copy
in the page cache; each has its own context (KV cache) and threads. llama.cpp's threads
spin-wait, so workers x threads never exceeds the physical cores unless asked.

A worker that dies (a segfault in native code, the OOM killer, kill -9) is replaced; its chunks
are retried one record at a time, and a record that kills a worker twice is written as failed
with the reason, so one poisonous record cannot stop a job.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from edgewise.batch.checkpoint import Checkpoint, OutputLog, sidecar
from edgewise.batch.job import (
    JobSpec,
    Processor,
    Record,
    calibration_sample,
    failure_row,
    iter_records,
    load_engine,
    unique_ids,
)
from edgewise.config import physical_cores
from edgewise.errors import EdgewiseError, InputError

log = logging.getLogger("edgewise")
WORKER_OVERHEAD = 384 * 1024 * 1024  # context, KV cache and compute buffers of one worker
MAX_RESPAWNS = 100
PREFETCH = 2  # chunks queued per worker, so it never waits for the driver


@dataclass
class BatchResult:
    """What a run did. ``failed`` counts every failed record in the output, resumed ones too."""

    output: Path
    errors: Path
    total: int
    processed: int  # records done by this run
    resumed: int  # records found done in the output when this run started
    failed: int
    seconds: float
    workers: int
    threads: int
    renamed_ids: int = 0
    dropped_bytes: int = 0
    worker_restarts: int = 0

    @property
    def rate(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[int, int, float], None]  # (done, total, items/s of this run)


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def plan_workers(
    model: str | None, workers: int | None = None, threads: int | None = None
) -> tuple[int, int]:
    """(workers, threads per worker). Workers default to the physical cores, fewer if memory
    is short (each counted as the model file plus its context, in case the weights are
    repacked into private memory); threads default to cores // workers, at least 1."""
    cores = physical_cores()
    if workers is None:
        workers = cores
        avail = _mem_available()
        if avail is not None:
            try:
                from edgewise.resolver import resolve

                size = resolve(model).path.stat().st_size
            except (EdgewiseError, OSError, AttributeError):
                size = 0
            workers = max(1, min(workers, int(avail * 0.8) // (size + WORKER_OVERHEAD)))
    if workers < 1:
        raise InputError("--workers must be at least 1")
    env = os.environ.get("EDGEWISE_THREADS")
    if threads is None and env and env.strip().isdigit() and int(env) > 0:
        threads = int(env)
    return workers, threads or max(1, cores // workers)


# ------------------------------------------------------------------------------- worker side
def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the driver dies (kill -9 included)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the driver died before prctl took effect
        os._exit(1)


def _worker_main(spec_json: str, threads: int, wid: int, tasks: Any, results: Any) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    spec = JobSpec.model_validate_json(spec_json)
    try:
        proc = Processor(spec, load_engine(spec, threads))
    except Exception as exc:
        results.put(("fatal", wid, str(exc) if isinstance(exc, EdgewiseError) else repr(exc)))
        return
    results.put(("ready", wid, None))
    while True:
        msg = tasks.get()
        if msg is None:
            break
        cid, rows = msg
        recs = [Record.from_row(r) for r in rows]
        try:
            out = proc.process(recs)
        except Exception:  # isolate the record that fails
            out = []
            for rec in recs:
                try:
                    out += proc.process([rec])
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    out.append(failure_row(spec, rec, reason))
        results.put(("done", wid, (cid, out)))


# ------------------------------------------------------------------------------- driver side
class _Worker:
    def __init__(self, ctx: Any, spec_json: str, threads: int, wid: int) -> None:
        self.wid = wid
        self.tasks = ctx.Queue()
        self.results = ctx.Queue()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(spec_json, threads, wid, self.tasks, self.results),
            name=f"edgewise-batch-{wid}",
            daemon=True,
        )
        self.proc.start()
        self.ready = False
        self.chunks: dict[int, list[Record]] = {}

    def send(self, cid: int, chunk: list[Record]) -> None:
        self.chunks[cid] = chunk
        self.tasks.put((cid, [r.to_row() for r in chunk]))

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(Exception):
                self.tasks.put(None)
            self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Pool:
    """Workers, the chunks each holds, and the retry of chunks a dead worker held."""

    def __init__(self, spec: JobSpec, workers: int, threads: int, chunks: Iterator[list[Record]]):
        self.ctx = mp.get_context("spawn")  # no fork of a process that may hold native state
        self.spec = spec
        self.spec_json = spec.model_dump_json()
        self.threads = threads
        self.source = chunks
        self.retry: deque[list[Record]] = deque()
        self.crashes: dict[str, int] = {}
        self.restarts = 0
        self.next_cid = 0
        self.next_wid = 0
        self.workers: dict[int, _Worker] = {}
        self.size = workers
        for _ in range(workers):
            self._spawn()

    def _spawn(self) -> None:
        w = _Worker(self.ctx, self.spec_json, self.threads, self.next_wid)
        self.workers[w.wid] = w
        self.next_wid += 1

    def _next_chunk(self) -> list[Record] | None:
        if self.retry:
            return self.retry.popleft()
        return next(self.source, None)

    def feed(self) -> None:
        for w in self.workers.values():
            while len(w.chunks) < PREFETCH:
                chunk = self._next_chunk()
                if chunk is None:
                    return
                w.send(self.next_cid, chunk)
                self.next_cid += 1

    def busy(self) -> bool:
        return any(w.chunks for w in self.workers.values())

    def events(self, timeout: float) -> Iterator[tuple[str, Any]]:
        """Finished chunks ("rows", rows) and failure rows of records that killed a worker."""
        by_handle: dict[Any, _Worker] = {}
        for w in self.workers.values():
            by_handle[w.results._reader] = w  # type: ignore[attr-defined]
            by_handle[w.proc.sentinel] = w
        for handle in wait(list(by_handle), timeout):
            w = by_handle[handle]
            if w.wid not in self.workers:
                continue
            if handle is w.proc.sentinel:
                yield from self._drain(w)
                yield from self._died(w)
            else:
                yield from self._drain(w)

    def _drain(self, w: _Worker) -> Iterator[tuple[str, Any]]:
        reader = w.results._reader  # type: ignore[attr-defined]
        while True:
            try:
                if not reader.poll(0):
                    return
                kind, _, payload = w.results.get(timeout=1)
            except Exception:  # a message cut short by the worker's death
                return
            if kind == "fatal":
                raise _Fatal(payload)
            if kind == "ready":
                w.ready = True
            elif kind == "done":
                cid, rows = payload
                w.chunks.pop(cid, None)
                yield "rows", rows

    def _died(self, w: _Worker) -> Iterator[tuple[str, Any]]:
        w.proc.join(1)
        reason = _exit_reason(w.proc.exitcode)
        del self.workers[w.wid]
        w.stop(0.1)
        if not w.ready:
            raise _Fatal(f"a worker process died while loading the model ({reason})")
        self.restarts += 1
        if self.restarts > MAX_RESPAWNS:
            raise _Fatal(f"worker processes died {self.restarts} times; last: {reason}")
        log.warning("worker %d %s; retrying its %d chunk(s)", w.wid, reason, len(w.chunks))
        for chunk in w.chunks.values():
            key = f"{chunk[0].id}/{len(chunk)}"
            self.crashes[key] = self.crashes.get(key, 0) + 1
            if self.crashes[key] < 2:  # as it was: the same chunk gives the same results
                self.retry.append(chunk)
            elif len(chunk) > 1:  # it kills workers: find the record, one at a time
                self.retry.extend([r] for r in chunk)
            else:
                why = f"the worker process died twice on this record ({reason})"
                rec = chunk[0]
                yield "rows", [failure_row(self.spec, rec, why)]
        self._spawn()

    def close(self) -> None:
        for w in list(self.workers.values()):
            w.stop()
        self.workers.clear()


class _Fatal(Exception):
    pass


# ------------------------------------------------------------------------------- the job
def _prepass(spec: JobSpec, input_path: Path) -> tuple[int, int, list[str]]:
    """Count the records, name duplicate ids, take the calibration sample; reads the input
    without keeping it (a second, streaming pass feeds the workers)."""
    total = renamed = 0
    sample_recs: list[Record] = []
    for rec in unique_ids(iter_records(spec, input_path)):
        total += 1
        renamed += "#" in rec.id
        if len(sample_recs) < 200:
            sample_recs.append(rec)
    if total == 0:
        raise InputError(f"{input_path}: no records")
    return total, renamed, calibration_sample(spec, sample_recs)


def _chunks(spec: JobSpec, input_path: Path, done: set[str], size: int) -> Iterator[list[Record]]:
    """Fixed chunks of the input (records k*size to (k+1)*size) that hold a record not done.

    A chunk is always the same records, whatever was done before: a model scores a batch of
    items together and the batch it is in shifts its scores slightly, so the fixed chunks make
    a resumed run, and any number of workers, give the results of an uninterrupted one. The
    rows of records already in the output are dropped by the driver."""
    chunk: list[Record] = []
    for rec in unique_ids(iter_records(spec, input_path)):
        chunk.append(rec)
        if len(chunk) >= size:
            if any(r.id not in done for r in chunk):
                yield chunk
            chunk = []
    if chunk and any(r.id not in done for r in chunk):
        yield chunk


def run_batch(
    spec: JobSpec,
    input_path: str | Path,
    output: str | Path,
    *,
    workers: int | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    errors_path: str | Path | None = None,
    fsync_interval: float = 5.0,
    restart: bool = False,
    progress: Progress | None = None,
) -> BatchResult:
    """Run ``spec`` over ``input_path`` into the JSONL file ``output``, resumably.

    Every input record ends up in ``output`` exactly once, as its result or with ``error``
    set; failed records are also listed in ``errors_path`` (default ``OUTPUT.errors.jsonl``).
    Progress is in ``OUTPUT.checkpoint.json``. Running the same job again after a crash
    continues where it stopped; running a different job onto the same output is refused
    (``restart=True`` discards the old output instead).
    """
    t0 = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    errors = Path(errors_path) if errors_path else sidecar(output, ".errors.jsonl")
    if output.resolve() == input_path.resolve():
        raise InputError("the output must not be the input file")
    spec = spec.pinned()
    n_workers, n_threads = plan_workers(spec.model, workers, threads)
    size = chunk_size or spec.bound().batch_chunk
    if size < 1:
        raise InputError("the chunk size must be at least 1")

    total, renamed, sample = _prepass(spec, input_path)
    spec = spec.model_copy(update={"calibration_texts": sample})
    fingerprint = spec.fingerprint(input_path)
    ck = Checkpoint(sidecar(output, ".checkpoint.json"))
    previous = None if restart else ck.load()
    if previous is not None and previous.get("fingerprint") != fingerprint:
        raise InputError(
            f"{output} was written by a different job (task, options, model or input changed); "
            "use another output path, or pass --restart to discard it"
        )
    if previous is None and output.exists() and not restart:
        raise InputError(
            f"{output} exists and has no checkpoint beside it; it was not written by "
            "`edgewise batch`, so it is left alone: choose another path or pass --restart"
        )
    ck.save(
        fingerprint=fingerprint,
        task=spec.task,
        input=str(input_path),
        total=total,
        complete=False,
        **({} if previous else {"started": time.time()}),
    )
    outlog = OutputLog(output, errors, fsync_interval)
    outlog.open(resume=previous is not None)
    resumed = len(outlog.done_ids)
    if outlog.dropped_bytes:
        log.warning("%s: cut %d bytes of a torn last write", output, outlog.dropped_bytes)

    processed = 0
    pool: _Pool | None = None
    try:
        if resumed < total:
            todo = _chunks(spec, input_path, set(outlog.done_ids), size)
            pool = _Pool(spec, min(n_workers, -(-(total - resumed) // size)), n_threads, todo)
            start = time.perf_counter()
            pool.feed()
            while pool.busy():
                for _, rows in pool.events(timeout=1.0):
                    rows = [r for r in rows if r["id"] not in outlog.done_ids]
                    outlog.append(rows)
                    processed += len(rows)
                    if outlog.due():
                        ck.save(output_bytes=outlog.sync(), done=len(outlog.done_ids))
                    if progress is not None:
                        elapsed = time.perf_counter() - start
                        progress(len(outlog.done_ids), total, processed / max(elapsed, 1e-9))
                pool.feed()
        ck.save(
            output_bytes=outlog.sync(),
            done=len(outlog.done_ids),
            failed=outlog.failed,
            complete=len(outlog.done_ids) >= total,
        )
    except _Fatal as exc:
        raise InputError(str(exc)) from None
    finally:
        if pool is not None:
            pool.close()
        with contextlib.suppress(Exception):
            if outlog._out is not None:
                ck.save(output_bytes=outlog.sync(), done=len(outlog.done_ids))
        outlog.close()
    return BatchResult(
        output=output,
        errors=errors,
        total=total,
        processed=processed,
        resumed=resumed,
        failed=outlog.failed,
        seconds=time.perf_counter() - t0,
        workers=pool.size if pool else 0,
        threads=n_threads,
        renamed_ids=renamed,
        dropped_bytes=outlog.dropped_bytes,
        worker_restarts=pool.restarts if pool else 0,
    )


class ProgressBar:
    """``[####----] done/total  items/s  ETA`` on stderr: redrawn in place on a terminal, one
    line every ``interval`` seconds otherwise (logs of a long job still show progress)."""

    def __init__(self, label: str, interval: float = 10.0) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.interval = interval
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, rate: float) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.interval and done < total:
            return
        self.last = now
        eta = (total - done) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * done / max(total, 1))
        line = (
            f"{self.label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}  "
            f"{rate:.1f} items/s  ETA {_clock(eta)}"
        )
        sys.stderr.write(f"\r{line} " if self.tty else line + "\n")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    s = int(seconds + 0.5)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
