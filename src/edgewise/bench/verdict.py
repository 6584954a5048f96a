"""Which model to ship: one rule over a bench report, the same for the terminal, JSON and HTML.

The rule, in order:

1. Candidates are the models that ran without an error.
2. The constraints filter them: p95 latency per item at most ``max_latency_ms`` and peak RSS
   at most ``max_memory_mb``. If none is left, nothing ships; the verdict names the closest
   model, the one whose worst overshoot (measured / limit) is smallest.
3. Of those left, the best quality is found; every model within ``tolerance`` of it (0.01 is
   one point of accuracy) is as good for this purpose.
4. The fastest of those ships: the lowest p95 latency per item (ties: less memory, then the
   order given). A faster model that is worse by more than the tolerance never wins.

Without a quality figure (a ``generate`` run without gold answers) step 3 is skipped and the
verdict says quality was not measured. Without a task (synthetic only) nothing ships: the
verdict names the fastest decoder within the memory limit.
"""

from __future__ import annotations

import math
import re
from typing import Any

from edgewise.errors import InputError

DEFAULT_TOLERANCE = 0.01

_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$", re.IGNORECASE)


def parse_latency_ms(text: str) -> float:
    """Milliseconds from ``"500"``, ``"500ms"`` or ``"1.5s"`` (a bare number is ms)."""
    match = _LATENCY.match(text)
    if not match:
        raise InputError(f"--max-latency {text!r} is not a latency (use e.g. 500, 500ms or 1.5s)")
    value = float(match.group(1)) * (1000.0 if (match.group(2) or "").lower() == "s" else 1.0)
    if value <= 0:
        raise InputError(f"--max-latency must be positive, not {text!r}")
    return value


def quality_metric(report: dict[str, Any], model: dict[str, Any]) -> tuple[str, float | None]:
    """The headline quality figure for the task: (name, value in 0..1, or None)."""
    q = model.get("quality") or {}
    task = report.get("task")
    name, value = "", None
    if task == "classify":
        name, value = "accuracy", q.get("accuracy")
    elif task == "extract":
        name, value = ("field F1", q["f1"]) if "f1" in q else ("valid rate", q.get("valid_rate"))
    elif task in ("summarize", "generate") and "rouge_l" in q:
        name, value = "ROUGE-L", q.get("rouge_l")
    if value is not None and math.isnan(value):
        value = None
    return name, value


def fmt_ms(ms: float | None) -> str:
    if ms is None or math.isnan(ms):
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def fmt_mb(mb: float | None) -> str:
    if mb is None or math.isnan(mb):
        return "-"
    return f"{mb:.0f} MB" if mb < 1024 else f"{mb / 1024:.1f} GB"


def _p95(m: dict[str, Any]) -> float | None:
    value = (m.get("latency_ms") or {}).get("p95")
    return None if value is None or math.isnan(value) else float(value)


def _tg(m: dict[str, Any]) -> float:
    value = ((m.get("synthetic") or {}).get("tg_tps") or {}).get("median")
    return float(value) if value is not None and not math.isnan(value) else 0.0


def choose(
    report: dict[str, Any],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
) -> dict[str, Any]:
    """Apply the rule in this module's docstring to ``report``; the verdict as plain data,
    with its one-line ``text``."""
    models = [m for m in report["models"] if not m.get("error")]
    task = report.get("task")
    verdict: dict[str, Any] = {
        "ship": None,
        "closest": None,
        "metric": None,
        "quality": None,
        "best": None,
        "p95_ms": None,
        "peak_rss_mb": None,
        "tolerance": tolerance,
        "max_latency_ms": max_latency_ms,
        "max_memory_mb": max_memory_mb,
        "over_limits": [],
        "text": "",
    }
    if task:
        models = [m for m in models if _p95(m) is not None]
    if not models:
        verdict["text"] = "No verdict: no model finished the run."
        return verdict

    def overshoot(m: dict[str, Any]) -> float:
        ratios = [0.0]
        if max_latency_ms is not None and task:
            ratios.append((_p95(m) or 0.0) / max_latency_ms)
        if max_memory_mb is not None:
            ratios.append(m.get("peak_rss_mb", 0.0) / max_memory_mb)
        return max(ratios)

    fits = [m for m in models if overshoot(m) <= 1.0]
    verdict["over_limits"] = [m["name"] for m in models if overshoot(m) > 1.0]
    limits = _limits_text(max_latency_ms if task else None, max_memory_mb)

    if not task:
        fastest = max(fits, key=_tg) if fits else None
        verdict["closest"] = fastest["name"] if fastest else None
        verdict["text"] = "No verdict: no quality measured (run with --task and --data)" + (
            f"; the fastest decoder{' within ' + limits if limits else ''} is {fastest['name']} "
            f"({_tg(fastest):.0f} tokens/s, {fmt_mb(fastest.get('peak_rss_mb'))} peak RSS)."
            if fastest
            else f"; no model fits {limits}."
        )
        return verdict

    metric = next((n for n in (quality_metric(report, m)[0] for m in models) if n), None)
    verdict["metric"] = metric

    items = f" on {report['items']} items" if report.get("items") else ""

    def figures(m: dict[str, Any]) -> str:
        name, q = quality_metric(report, m)
        parts = [f"{name} {q:.2f}{items}"] if q is not None else []
        parts += [f"p95 {fmt_ms(_p95(m))}", f"{fmt_mb(m.get('peak_rss_mb'))} peak RSS"]
        return ", ".join(parts)

    if not fits:
        closest = min(models, key=overshoot)
        verdict["closest"] = closest["name"]
        verdict["text"] = (
            f"Nothing ships: no model meets {limits}. "
            f"The closest is {closest['name']}: {figures(closest)}."
        )
        return verdict

    order = {m["name"]: i for i, m in enumerate(models)}

    def speed(m: dict[str, Any]) -> tuple[float, float, int]:
        return (_p95(m) or 0.0, m.get("peak_rss_mb", 0.0), order[m["name"]])

    scored = [(m, quality_metric(report, m)[1]) for m in fits]
    with_q = [(m, q) for m, q in scored if q is not None]
    if with_q:
        best_m, best_q = max(with_q, key=lambda mq: (mq[1], -speed(mq[0])[0]))
        near = [m for m, q in with_q if q >= best_q - tolerance - 1e-9]
        ship = min(near, key=speed)
        verdict["best"] = {"name": best_m["name"], "quality": best_q}
        verdict["quality"] = quality_metric(report, ship)[1]
        if ship is best_m:
            why = f"the best {metric}, and no model within {tolerance:g} of it is faster"
        else:
            why = (
                f"the fastest within {tolerance:g} of the best {metric} "
                f"({best_q:.2f}, {best_m['name']})"
            )
    else:
        ship = min(fits, key=speed)
        why = "the fastest; quality not measured (no gold answers)"
    if limits and verdict["over_limits"]:
        over = verdict["over_limits"]
        more = f" and {len(over) - 3} more" if len(over) > 3 else ""
        why += f"; over {limits}: {', '.join(over[:3])}{more}"
    elif limits:
        why += f"; all within {limits}"
    verdict.update(ship=ship["name"], p95_ms=_p95(ship), peak_rss_mb=ship.get("peak_rss_mb"))
    verdict["text"] = f"Ship {ship['name']}: {figures(ship)}; {why}."
    return verdict


def fmt_limit_ms(ms: float) -> str:
    """A limit as given, unrounded: ``1.25 s``, ``500 ms``."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def fmt_limit_mb(mb: float) -> str:
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:.4g} MB"


def _limits_text(max_latency_ms: float | None, max_memory_mb: float | None) -> str:
    parts = []
    if max_latency_ms is not None:
        parts.append(f"p95 ≤ {fmt_limit_ms(max_latency_ms)}")
    if max_memory_mb is not None:
        parts.append(f"peak RSS ≤ {fmt_limit_mb(max_memory_mb)}")
    return " and ".join(parts)
