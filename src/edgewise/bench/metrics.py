"""Quality and latency metrics for ``edgewise bench``: plain functions over plain data."""

from __future__ import annotations

import math
import re
import statistics
import string
from collections.abc import Mapping, Sequence
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and standard deviation of repeated measurements."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "stdev": 0.0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def classification_report(
    gold: Sequence[str | None], pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels``, per-label P/R/F1 and the confusion matrix.

    Items without gold are left out. A missing prediction (an error or abstention) counts as
    wrong; it shows in the matrix's extra column "(none)".
    """
    pairs = [(g, p) for g, p in zip(gold, pred) if g is not None]
    cols = [*labels, "(none)"]
    matrix = {g: dict.fromkeys(cols, 0) for g in labels}
    for g, p in pairs:
        if g in matrix:
            matrix[g][p if p in matrix[g] else "(none)"] += 1
    per_label: dict[str, dict[str, float]] = {}
    for lab in labels:
        tp = sum(1 for g, p in pairs if g == lab and p == lab)
        predicted = sum(1 for _, p in pairs if p == lab)
        actual = sum(1 for g, _ in pairs if g == lab)
        prec = tp / predicted if predicted else 0.0
        rec = tp / actual if actual else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_label[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": actual}
    present = [lab for lab in labels if per_label[lab]["support"]]
    return {
        "n": len(pairs),
        "accuracy": sum(g == p for g, p in pairs) / len(pairs) if pairs else float("nan"),
        "macro_f1": statistics.fmean(per_label[lab]["f1"] for lab in present)
        if present
        else float("nan"),
        "per_label": per_label,
        "confusion": {"labels": cols, "rows": matrix},
    }


def normalize(value: Any) -> str:
    """Lowercase, whitespace collapsed, punctuation stripped at both ends."""
    text = " ".join(str(value).casefold().split())
    return text.strip(string.punctuation + " ")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def field_scores(
    gold: Sequence[Mapping[str, Any] | None], pred: Sequence[Mapping[str, Any] | None]
) -> dict[str, Any]:
    """Field-level precision/recall/F1 (micro-averaged) for extraction.

    A field counts as predicted when the output has a non-empty value, as gold when the gold
    value is non-empty, and as correct when both match after ``normalize`` (numbers compare as
    numbers). An invalid output (None) predicts nothing.
    """
    tp = predicted = actual = 0
    per_field: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred):
        if g is None:
            continue
        p = p or {}
        for name in set(g) | set(p):
            stats = per_field.setdefault(name, {"tp": 0, "predicted": 0, "gold": 0})
            has_p, has_g = not _empty(p.get(name)), not _empty(g.get(name))
            stats["predicted"] += has_p
            stats["gold"] += has_g
            if has_p and has_g and _same(p[name], g[name]):
                stats["tp"] += 1
    for stats in per_field.values():
        tp += stats["tp"]
        predicted += stats["predicted"]
        actual += stats["gold"]
    prec = tp / predicted if predicted else 0.0
    rec = tp / actual if actual else 0.0
    return {
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "per_field": per_field,
    }


def _same(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    except (TypeError, ValueError):
        return normalize(a) == normalize(b)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F-measure (beta = 1) over lowercased word tokens."""
    ref = _WORD.findall(reference.casefold())
    cand = _WORD.findall(candidate.casefold())
    if not ref or not cand:
        return 0.0
    lcs = _lcs(ref, cand)
    if not lcs:
        return 0.0
    prec, rec = lcs / len(cand), lcs / len(ref)
    return 2 * prec * rec / (prec + rec)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]
