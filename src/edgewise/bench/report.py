"""Rendering a bench report: a terminal table, and one self-contained HTML page (inline SVG,
no scripts, no network) with accuracy-vs-latency and latency-distribution plots."""

from __future__ import annotations

import html
import json
import math
from typing import Any

from edgewise.bench.metrics import percentile

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _num(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def quality_metric(report: dict[str, Any], model: dict[str, Any]) -> tuple[str, float | None]:
    """The headline quality figure for the task: (name, value in 0..1)."""
    q = model.get("quality") or {}
    task = report.get("task")
    if task == "classify":
        return "accuracy", q.get("accuracy")
    if task == "extract":
        return ("field F1", q["f1"]) if "f1" in q else ("valid", q.get("valid_rate"))
    if task in ("summarize", "generate") and "rouge_l" in q:
        return "ROUGE-L", q.get("rouge_l")
    return "", None


def _syn(model: dict[str, Any], key: str) -> float | None:
    value = (model.get("synthetic") or {}).get(key)
    return value["median"] if value else None


def table(report: dict[str, Any]) -> str:
    """A fixed-width table, one row per model."""
    s = report["settings"]
    cols = [
        "model",
        "format",
        "load s",
        "RSS MB",
        f"pp{s['pp']} t/s",
        f"tg{s['tg']} t/s",
        "of bound",
        "ttft ms",
    ]
    if report.get("task"):
        cols += ["p50 ms", "p95 ms", "p99 ms", "items/s", *_quality_cols(report)]
    rows = []
    for m in report["models"]:
        if m.get("error"):
            rows.append([m["name"], m.get("format", ""), f"error: {m['error']}"])
            continue
        lat = m.get("latency_ms") or {}
        row = [
            m["name"],
            m["format"],
            _num(m.get("load_s"), "{:.2f}"),
            _num(m.get("peak_rss_mb"), "{:.0f}"),
            _num(_syn(m, "pp_tps"), "{:.0f}"),
            _num(_syn(m, "tg_tps"), "{:.0f}"),
            _num(m.get("decode_of_bound"), "{:.0%}"),
            _num(_syn(m, "ttft_ms"), "{:.0f}"),
        ]
        if report.get("task"):
            ips = m.get("items_per_s") or {}
            spread = ""
            if ips and ips.get("max", 0) > ips.get("min", 0):
                spread = f" ±{(ips['max'] - ips['min']) / 2:.2f}"
            row += [
                _num(lat.get("p50"), "{:.0f}"),
                _num(lat.get("p95"), "{:.0f}"),
                _num(lat.get("p99"), "{:.0f}"),
                _num(ips.get("median"), "{:.2f}") + spread,
            ]
            row += _quality_values(report, m)
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [cols, *rows] if i < len(r)) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def _quality_cols(report: dict[str, Any]) -> list[str]:
    task = report.get("task")
    if task == "classify":
        return ["accuracy", "macro-F1"]
    if task == "extract":
        return ["valid", "field F1"]
    if task == "summarize":
        return ["ROUGE-L"]
    if task == "generate":
        return (
            ["ROUGE-L"]
            if any("rouge_l" in (m.get("quality") or {}) for m in report["models"])
            else []
        )
    return []


def _quality_values(report: dict[str, Any], m: dict[str, Any]) -> list[str]:
    q = m.get("quality") or {}
    task = report.get("task")
    if task == "classify":
        return [_num(q.get("accuracy"), "{:.3f}"), _num(q.get("macro_f1"), "{:.3f}")]
    if task == "extract":
        return [_num(q.get("valid_rate"), "{:.0%}"), _num(q.get("f1"), "{:.3f}")]
    if _quality_cols(report):
        return [_num(q.get("rouge_l"), "{:.3f}")]
    return []


# ---------------------------------------------------------------------------------- HTML
def _scatter(report: dict[str, Any]) -> str:
    """Quality against p50 latency, one dot per model."""
    pts = []
    for i, m in enumerate(report["models"]):
        name, q = quality_metric(report, m)
        lat = (m.get("latency_ms") or {}).get("p50")
        if q is not None and lat is not None and not math.isnan(q):
            pts.append((m["name"], lat, q, PALETTE[i % len(PALETTE)], name))
    if not pts:
        return ""
    w, h, pad = 560, 320, 50
    xmax = max(p[1] for p in pts) * 1.15 or 1.0
    ymin = max(0.0, min(p[2] for p in pts) - 0.1)
    ymax = min(1.0, max(p[2] for p in pts) + 0.1)
    ymax = ymax if ymax > ymin else ymin + 0.1

    def x(v: float) -> float:
        return pad + v / xmax * (w - 2 * pad)

    def y(v: float) -> float:
        return h - pad - (v - ymin) / (ymax - ymin) * (h - 2 * pad)

    out = [_axes(w, h, pad, f"p50 latency per item (ms), 0 to {xmax:.0f}", pts[0][4])]
    for k in range(5):
        v = ymin + (ymax - ymin) * k / 4
        out.append(f'<text x="{pad - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    for k in range(5):
        v = xmax * k / 4
        out.append(f'<text x="{x(v):.1f}" y="{h - pad + 16}" text-anchor="middle">{v:.0f}</text>')
    for name, lat, q, color, _ in pts:
        out.append(f'<circle cx="{x(lat):.1f}" cy="{y(q):.1f}" r="6" fill="{color}"/>')
        # a label on the right half runs leftwards, so it stays inside the plot
        right = x(lat) > w / 2
        out.append(
            f'<text x="{x(lat) + (-9 if right else 9):.1f}" y="{y(q) - 8:.1f}"'
            f' text-anchor="{"end" if right else "start"}">{html.escape(name)}</text>'
        )
    return f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}">{"".join(out)}</svg>'


def _axes(w: int, h: int, pad: int, xlabel: str, ylabel: str) -> str:
    return (
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>'
        f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" '
        f'text-anchor="middle">{html.escape(ylabel)}</text>'
    )


def _boxes(report: dict[str, Any]) -> str:
    """Per-model latency distribution: box (p25-p75), median, whiskers p5-p95, dots to max."""
    series = [
        (m["name"], m["latencies_ms"], PALETTE[i % len(PALETTE)])
        for i, m in enumerate(report["models"])
        if m.get("latencies_ms")
    ]
    if not series:
        return ""
    row, pad, label_w, w = 34, 30, 190, 720
    h = pad * 2 + row * len(series)
    top = max(max(v) for _, v, _ in series) * 1.05 or 1.0

    def x(v: float) -> float:
        return label_w + v / top * (w - label_w - 20)

    out = []
    for k in range(5):
        v = top * k / 4
        out.append(
            f'<line x1="{x(v):.1f}" y1="{pad - 6}" x2="{x(v):.1f}" y2="{h - pad}" stroke="#ddd"/>'
            f'<text x="{x(v):.1f}" y="{h - pad + 16}" text-anchor="middle">{v:.0f} ms</text>'
        )
    for i, (name, vals, color) in enumerate(series):
        cy = pad + row * i + row / 2
        p = {q: percentile(vals, q) for q in (5, 25, 50, 75, 95)}
        out.append(
            f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end">{html.escape(name)}</text>'
            f'<line x1="{x(p[5]):.1f}" y1="{cy:.1f}" x2="{x(p[95]):.1f}" y2="{cy:.1f}" stroke="{color}"/>'
            f'<rect x="{x(p[25]):.1f}" y="{cy - 9:.1f}" width="{max(x(p[75]) - x(p[25]), 1):.1f}" '
            f'height="18" fill="{color}" fill-opacity="0.3" stroke="{color}"/>'
            f'<line x1="{x(p[50]):.1f}" y1="{cy - 9:.1f}" x2="{x(p[50]):.1f}" y2="{cy + 9:.1f}" '
            f'stroke="{color}" stroke-width="3"/>'
        )
        for v in vals:
            if v > p[95]:
                out.append(f'<circle cx="{x(v):.1f}" cy="{cy:.1f}" r="2.5" fill="{color}"/>')
    return f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}">{"".join(out)}</svg>'


def _confusions(report: dict[str, Any]) -> str:
    parts = []
    for m in report["models"]:
        conf = (m.get("quality") or {}).get("confusion")
        if not conf:
            continue
        cols = conf["labels"]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for gold, counts in conf["rows"].items():
            total = sum(counts.values()) or 1
            cells = []
            for c in cols:
                n = counts.get(c, 0)
                shade = f"rgba(31,119,180,{n / total:.2f})"
                cells.append(f'<td style="background:{shade}">{n}</td>')
            body.append(f"<tr><th>{html.escape(gold)}</th>{''.join(cells)}</tr>")
        parts.append(
            f"<h3>{html.escape(m['name'])}</h3><table class=cm><tr><th>gold \\ predicted</th>"
            f"{head}</tr>{''.join(body)}</table>"
        )
    return "".join(parts)


def to_html(report: dict[str, Any]) -> str:
    """One self-contained page: the table, the plots, confusion matrices and the raw JSON."""
    mach = report["machine"]
    title = f"edgewise bench: {report.get('task') or 'synthetic'}"
    scatter = _scatter(report)
    boxes = _boxes(report)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(report['created'])} · {html.escape(str(mach['cpu']))} · "
        f"{mach['cores']} cores · memory bandwidth {mach['memory_bandwidth_gbs']:.1f} GB/s · "
        f"{report['items']} items · repeats {report['settings']['repeats']}</p>",
        f"<pre>{html.escape(table(report))}</pre>",
    ]
    if scatter:
        sections.append(f"<h2>Quality against latency</h2>{scatter}")
    if boxes:
        sections.append(
            "<h2>Latency per item</h2><p>Box: 25th to 75th percentile; thick line: median; "
            f"whiskers: 5th to 95th; dots: slower items.</p>{boxes}"
        )
    conf = _confusions(report)
    if conf:
        sections.append(f"<h2>Confusion matrices</h2>{conf}")
    raw = json.dumps(report, indent=1).replace("</", "<\\/")
    sections.append(
        f"<details><summary>Raw results (JSON)</summary><pre>{html.escape(raw)}</pre></details>"
    )
    style = (
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto}svg text{font:12px sans-serif}"
        "table.cm{border-collapse:collapse;margin-bottom:1em}"
        "table.cm td,table.cm th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
