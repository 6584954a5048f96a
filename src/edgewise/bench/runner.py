"""``edgewise bench``: the same task and data across models and quantizations, side by side.

Every model runs in a fresh worker process (``edgewise.bench.worker``), one after the other:
its load time and peak RSS (``ru_maxrss`` from ``os.wait4``) are its own, and two models never
compete for the cores. Names are resolved (and derived quantizations made) before the first
worker starts, so an unknown model or quantization fails fast.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgewise.bench.data import TASKS, BenchItem
from edgewise.bench.metrics import latency_summary
from edgewise.errors import InputError

if TYPE_CHECKING:
    from edgewise.catalog import ResolvedModel

MB = 1024 * 1024


@dataclass(frozen=True)
class BenchModel:
    """One entry of ``--models``: the name as given, its short name for reports, and what the
    worker loads."""

    label: str
    name: str  # catalog id, id@QUANT, a registered name, or a file's stem; never a path
    load: str  # a path the engine loader accepts
    format: str  # "gguf Q4_1", "onnx", ...
    file_bytes: int
    weight_bytes_per_token: int  # bytes of weights read to decode one token


def parse_models(spec: str | Sequence[str]) -> list[str]:
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    if not names:
        raise InputError("give at least one model (--models a,b,...)")
    return names


def _onnx_dir(path: Path) -> bool:
    return path.is_dir() and (path / "genai_config.json").is_file()


def resolve_model(name: str) -> BenchModel:
    """Resolve ``name`` (catalog id, ``id@QUANT`` or ``id:QUANT``, a GGUF path, an ONNX dir)."""
    from edgewise.resolver import resolve

    path = Path(name).expanduser()
    if _onnx_dir(path):
        size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        data = sum(
            f.stat().st_size
            for f in path.iterdir()
            if f.suffix in (".onnx", ".data") or ".onnx" in f.name
        )
        short = path.resolve().name
        return BenchModel(name, short, str(path), "onnx", size, data or size)
    key = name
    if not path.exists() and "@" in name:
        head, _, quant = name.rpartition("@")
        key = f"{head}:{quant}"
    resolved = resolve(key)
    file_type, weights = gguf_weight_bytes(resolved.path)
    return BenchModel(
        name,
        short_name(key, resolved),
        str(resolved.path),
        f"gguf {file_type}",
        resolved.path.stat().st_size,
        weights,
    )


def short_name(key: str, resolved: ResolvedModel) -> str:
    """What a report calls a model: ``id`` or ``id@QUANT`` for the catalog (aliases and
    ``id:QUANT`` spelled the canonical way), a registered name as given, a file's stem."""
    from edgewise.catalog import find

    if resolved.source == "path":
        return resolved.path.stem
    found = find(key) if resolved.source != "registered" else None
    if found is None:
        return key.strip()
    entry, quant = found
    return f"{entry.id}@{quant}" if quant else entry.id


def unique_names(names: Sequence[str], loads: Sequence[str]) -> list[str]:
    """Short names made distinct: a file's parent folder first, then a number."""
    out = list(names)
    for i, name in enumerate(names):
        if names.count(name) > 1 and Path(loads[i]).stem == name:
            out[i] = f"{Path(loads[i]).parent.name}/{name}"
    counts = {name: out.count(name) for name in out}
    seen: dict[str, int] = {}
    for i, name in enumerate(list(out)):
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            out[i] = f"{name} ({seen[name]})"
    return out


def gguf_weight_bytes(path: Path) -> tuple[str, int]:
    """The file type and the bytes of weights read per decoded token.

    Every tensor is read once per token, except the token-embedding table when the model has a
    separate output matrix (then only one row of it is read).
    """
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    sizes = {t.name: int(t.n_bytes) for t in reader.tensors}
    total = sum(sizes.values())
    if "output.weight" in sizes and "token_embd.weight" in sizes:
        total -= sizes["token_embd.weight"]
    field = reader.fields.get("general.file_type")
    ftype = "?"
    if field is not None:
        from gguf import LlamaFileType

        try:
            ftype = LlamaFileType(int(field.parts[field.data[0]][0])).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    return ftype, total


def memory_bandwidth(mb: int = 256, repeats: int = 5) -> float:
    """Bytes/s of a large memory copy (read + write), best of ``repeats``."""
    src = np.ones(mb * MB // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_worker(job: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run one job in a fresh process; return its result and its peak RSS in bytes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewise.bench.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    try:
        result = json.loads(out) if out.strip() else {}
    except ValueError:
        result = {}
    if proc.returncode != 0 and "error" not in result:
        result = {"error": f"the worker exited with status {proc.returncode}"}
    return result, peak


def bench(
    models: Sequence[str],
    *,
    task: str | None,
    items: Sequence[BenchItem] = (),
    labels: Sequence[str] | None = None,
    options: dict[str, Any] | None = None,
    repeats: int = 1,
    warmup: int = 2,
    pp: int = 512,
    tg: int = 128,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Benchmark ``models`` on ``items`` for ``task`` (None: synthetic only)."""
    if task is not None and task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if repeats < 1:
        raise InputError("--repeats must be at least 1")
    if task is not None and not items:
        raise InputError("no items to run")
    say = progress or (lambda _msg: None)
    resolved = []
    for name in parse_models(models):
        say(f"resolving {name}")
        resolved.append(resolve_model(name))
    if task == "classify":
        if not labels:
            labels = sorted({it.gold for it in items if it.gold is not None})
        if len(labels) < 2:
            raise InputError("classify needs --labels or gold labels in the data (two or more)")
        unknown = sorted({it.gold for it in items if it.gold is not None} - set(labels))
        if unknown:
            raise InputError(f"gold labels not in --labels: {', '.join(unknown[:5])}")
    bandwidth = memory_bandwidth()
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {**machine_info(), "memory_bandwidth_gbs": bandwidth / 1e9},
        "task": task,
        "labels": list(labels) if labels else None,
        "settings": {"repeats": repeats, "warmup": warmup, "pp": pp, "tg": tg, "threads": threads},
        "items": len(items),
        "models": [],
    }
    names = unique_names([m.name for m in resolved], [m.load for m in resolved])
    for model, name in zip(resolved, names):
        say(f"running {name}")
        job = {
            "model": model.load,
            "task": task,
            "texts": [it.text for it in items],
            "gold": [it.gold for it in items],
            "labels": list(labels) if labels else None,
            "options": options or {},
            "repeats": repeats,
            "warmup": min(warmup, len(items)),
            "threads": threads,
            "synthetic": {"pp": pp, "tg": tg},
        }
        result, peak = run_worker(job)
        peak = result.pop("peak_rss", None) or peak
        entry: dict[str, Any] = {
            "name": name,
            "spec": model.label,
            "path": model.load,
            "format": model.format,
            "file_mb": model.file_bytes / MB,
            **result,
            "peak_rss_mb": peak / MB,
        }
        syn = result.get("synthetic") or {}
        if syn.get("tg_tps"):
            bound = bandwidth / model.weight_bytes_per_token
            entry["decode_bound_tps"] = bound
            entry["decode_of_bound"] = syn["tg_tps"]["median"] / bound
        if result.get("latencies_ms"):
            entry["latency_ms"] = latency_summary(result["latencies_ms"])
        report["models"].append(entry)
    return report
