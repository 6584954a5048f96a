"""One model's benchmark, run in its own process so its load time and peak RSS are its own.

The parent (``edgewise.bench.runner``) writes a job as JSON to stdin and reads the result as
JSON from stdout; progress goes to stderr. ``python -m edgewise.bench.worker``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgewise.bench.metrics import classification_report, field_scores, rouge_l, spread
from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError
from edgewise.tasks.registry import Item, get_task
from edgewise.tasks.summarize import Summary

# text for synthetic prompts: shuffled per repeat, so no repeat reuses a cached prefix
FILLER = (
    "The committee reviewed the budget for the coming year and agreed to fund three new "
    "projects in the north of the region, while postponing repairs to the old bridge. "
    "Residents asked about bus routes, school meals, library hours and the price of water. "
)


def synthetic(engine: Engine, pp: int, tg: int, repeats: int) -> dict[str, Any]:
    """llama-bench style: prompt tokens/s over ``pp`` tokens, decode tokens/s over ``tg``,
    and the time to the first token of a fresh 128-token prompt."""
    base = engine.tokenize(FILLER * (1 + pp // 40))
    rng = random.Random(0)
    pp_rates, tg_rates, ttft = [], [], []
    for _ in range(repeats):
        toks = base[:]
        rng.shuffle(toks)
        if pp:
            t0 = time.perf_counter()
            engine.score_batch(toks[: pp - 1], [toks[pp - 1 : pp]], [" a"])
            pp_rates.append(pp / (time.perf_counter() - t0))
        rng.shuffle(toks)
        prompt = engine.detokenize(toks[:128])
        if tg:
            opts = {"max_tokens": tg, "temperature": 0.0, "ignore_eos": True}
            t0 = time.perf_counter()
            first = None
            n = 0
            for chunk in engine.stream(prompt, opts):
                if first is None:
                    first = time.perf_counter() - t0
                if chunk.usage is not None:
                    n = chunk.usage.completion_tokens
                    decode_ms = chunk.timings.decode_ms if chunk.timings else 0.0
            ttft.append((first or 0.0) * 1000)
            if n and decode_ms:
                tg_rates.append(n / decode_ms * 1000)
    return {
        "pp_tokens": pp,
        "tg_tokens": tg,
        "pp_tps": spread(pp_rates) if pp_rates else None,
        "tg_tps": spread(tg_rates) if tg_rates else None,
        "ttft_ms": spread(ttft) if ttft else None,
    }


def _timed(fn: Callable[[str], Any], texts: Sequence[str]) -> tuple[list[Any], list[float]]:
    out, ms = [], []
    for text in texts:
        t0 = time.perf_counter()
        try:
            out.append(fn(text))
        except EdgewiseError as exc:
            out.append(exc)
        ms.append((time.perf_counter() - t0) * 1000)
    return out, ms


def _task_passes(engine: Engine, job: dict[str, Any]) -> list[tuple[list[Any], list[float], float]]:
    """The timed passes of a library task, built and run through the task registry (as the
    CLI, batch jobs and the server run it): results, latency per item, seconds per pass."""
    texts, opts = job["texts"], job.get("options", {})
    cls = get_task(job["task"])
    fields = cls.Options.model_fields
    aliases = {f.alias for f in fields.values() if f.alias}
    options = {k: v for k, v in opts.items() if k in fields or k in aliases}  # not "batch"
    if job["task"] == "classify":
        options["labels"] = job["labels"]
    task = cls(options).build(engine)
    task.prepare(texts)  # classify: the calibration, from the data
    items = [Item(str(i), t) for i, t in enumerate(texts)]
    task.run_many(items[: job.get("warmup", 2)])
    # classify: --batch items per call (an item's time is its call's, shared); others: one
    size = max(1, opts.get("batch") or len(items)) if job["task"] == "classify" else 1
    passes: list[tuple[list[Any], list[float], float]] = []
    for _ in range(job.get("repeats", 1)):
        t0 = time.perf_counter()
        res: list[Any] = []
        ms: list[float] = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            c0 = time.perf_counter()
            out = task.run_many(chunk)
            each = (time.perf_counter() - c0) * 1000 / len(chunk)
            res += out
            ms += [r.ms if hasattr(r, "ms") else each for r in out]
        passes.append((res, ms, time.perf_counter() - t0))
    return passes


def run_task(engine: Engine, job: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then ``repeats`` timed passes over the items; quality from the first pass."""
    task, texts, gold = job["task"], job["texts"], job["gold"]
    opts = job.get("options", {})
    warmup, repeats = job.get("warmup", 2), job.get("repeats", 1)
    passes: list[tuple[list[Any], list[float], float]] = []

    if task == "classify":
        passes = _task_passes(engine, job)
        first = passes[0][0]
        pred = [None if r.error or r.abstained else r.label for r in first]
        quality = classification_report(gold, pred, job["labels"])
        quality["errors"] = sum(1 for r in first if r.error)
        quality["abstained"] = sum(1 for r in first if r.abstained)
        samples = [{"gold": g, "pred": p} for g, p in zip(gold[:20], pred[:20])]
    elif task == "extract":
        passes = _task_passes(engine, job)
        first = passes[0][0]
        values = [_plain(r.value) if r.error is None else None for r in first]
        quality = {
            "valid_rate": sum(r.error is None for r in first) / len(first),
            "re_asked": sum(r.attempts > 1 for r in first),
        }
        if any(g is not None for g in gold):
            quality.update(field_scores(gold, values))
        samples = [{"gold": g, "pred": v} for g, v in zip(gold[:10], values[:10])]
    elif task == "summarize":
        passes = [
            ([r.text if isinstance(r, Summary) else r for r in res], ms, secs)
            for res, ms, secs in _task_passes(engine, job)
        ]
        quality = _rouge(gold, passes[0][0])
        samples = [{"gold": g, "pred": _text(p)} for g, p in zip(gold[:5], passes[0][0][:5])]
    elif task == "generate":
        gen = {"max_tokens": opts.get("max_tokens", 128), "temperature": 0.0}
        _timed(lambda t: engine.generate(t, gen).text, texts[:warmup])
        ttft: list[float] = []

        def one(prompt: str) -> str:
            t0 = time.perf_counter()
            parts: list[str] = []
            for chunk in engine.stream(prompt, gen):
                if not parts:
                    ttft.append((time.perf_counter() - t0) * 1000)
                parts.append(chunk.text)
            return "".join(parts)

        for _ in range(repeats):
            t0 = time.perf_counter()
            out, ms = _timed(one, texts)
            passes.append((out, ms, time.perf_counter() - t0))
        quality = _rouge(gold, passes[0][0]) if any(g is not None for g in gold) else {}
        quality["ttft_ms"] = spread(ttft)
        samples = [{"gold": g, "pred": _text(p)} for g, p in zip(gold[:5], passes[0][0][:5])]
    else:  # checked by the parent
        raise ValueError(task)

    latencies = [m for _, ms, _ in passes for m in ms]
    return {
        "items": len(texts),
        "items_per_s": spread([len(texts) / secs for _, _, secs in passes]),
        "latencies_ms": [round(m, 3) for m in latencies],
        "quality": quality,
        "samples": samples,
    }


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rouge(gold: Sequence[Any], out: Sequence[Any]) -> dict[str, Any]:
    pairs = [(g, o) for g, o in zip(gold, out) if isinstance(g, str)]
    scores = [rouge_l(g, o) if isinstance(o, str) else 0.0 for g, o in pairs]
    return {
        "rouge_l": sum(scores) / len(scores) if scores else float("nan"),
        "scored": len(scores),
        "errors": sum(1 for o in out if not isinstance(o, str)),
    }


def run(job: dict[str, Any]) -> dict[str, Any]:
    from edgewise.resolver import load

    t0 = time.perf_counter()
    engine = load(job["model"], threads=job.get("threads"))
    result: dict[str, Any] = {"load_s": time.perf_counter() - t0}
    try:
        syn = job.get("synthetic", {})
        if syn.get("pp") or syn.get("tg"):
            result["synthetic"] = synthetic(
                engine, syn.get("pp", 0), syn.get("tg", 0), job.get("repeats", 1)
            )
        if job.get("task"):
            result.update(run_task(engine, job))
    finally:
        engine.close()
    result["peak_rss"] = peak_rss()
    return result


def peak_rss() -> int | None:
    """This process's own peak resident set (VmHWM), in bytes; None where /proc is missing.

    Not ``ru_maxrss``: on Linux a child's high-water mark starts from its parent's RSS at
    fork, so a parent holding a big buffer would inflate every worker's figure.
    """
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main() -> None:
    job = json.load(sys.stdin)
    try:
        result = run(job)
    except EdgewiseError as exc:
        result = {"error": str(exc)}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
