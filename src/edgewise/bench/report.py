"""Rendering a bench report: a terminal table, and one self-contained HTML page (inline CSS and
SVG, no scripts, no network): the verdict, the summary table, quality against latency, latency
distributions, confusion matrices and the raw JSON."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from typing import Any

from edgewise.bench import plots
from edgewise.bench.verdict import choose, fmt_limit_mb, fmt_limit_ms, fmt_mb


def _num(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


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
    # an error row's message spans the figures' columns without widening them
    widths = [
        max(len(str(r[i])) for r in [cols, *rows] if i < len(r) and (i < 2 or len(r) == len(cols)))
        for i in range(len(cols))
    ]
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


def verdict_of(report: dict[str, Any]) -> dict[str, Any]:
    """The report's verdict, or the default rule's (no limits) when it has none."""
    return report.get("verdict") or choose(report)


# ---------------------------------------------------------------------------------- HTML
Cell = tuple[str, str]  # text, css class ("", "best", "over", "best over")
Column = tuple[str, str, Callable[[dict[str, Any]], Cell]]  # heading, tooltip, cell


def _best(report: dict[str, Any], value: Callable[[dict[str, Any]], Any], low: bool) -> Any:
    """The best of a figure across the models that ran, when there are two or more."""
    return _best_of([value(m) for m in report["models"] if not m.get("error")], low)


def _best_of(values: list[float | None], low: bool) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if len(vals) < 2:
        return None
    return min(vals) if low else max(vals)


def _figure(text: str, value: float | None, best: float | None, limit: float | None = None) -> Cell:
    classes = []
    if value is not None and best is not None and value == best:
        classes.append("best")
    if value is not None and limit is not None and value > limit:
        classes.append("over")
    return text, " ".join(classes)


def _summary_columns(
    report: dict[str, Any], verdict: dict[str, Any]
) -> list[tuple[str, list[Column]]]:
    """What decides the ship: quality, latency per item, throughput, memory and load."""
    groups: list[tuple[str, list[Column]]] = []
    task = report.get("task")
    qcols = _quality_cols(report) if task else []
    if qcols:
        ran = [_quality_values(report, m) for m in report["models"] if not m.get("error")]
        best_q = [_best_of([_as_float(q[k]) for q in ran], low=False) for k in range(len(qcols))]
        cols: list[Column] = []
        for k, heading in enumerate(qcols):

            def qcell(m: dict[str, Any], k: int = k) -> Cell:
                text = _quality_values(report, m)[k]
                return _figure(text, _as_float(text), best_q[k])

            cols.append((heading, f"{heading} against the gold answers", qcell))
        groups.append(("Quality", cols))
    if task:

        def lat(key: str) -> Callable[[dict[str, Any]], float | None]:
            return lambda m: (m.get("latency_ms") or {}).get(key)

        best_p95 = _best(report, lat("p95"), low=True)
        limit_ms = verdict.get("max_latency_ms")

        def lcell(key: str) -> Callable[[dict[str, Any]], Cell]:
            def cell(m: dict[str, Any]) -> Cell:
                v = lat(key)(m)
                if key != "p95":
                    return _num(v, "{:,.0f}"), ""
                return _figure(_num(v, "{:,.0f}"), v, best_p95, limit_ms)

            return cell

        groups.append(
            (
                "Latency per item (ms)",
                [
                    ("p50", "median latency per item", lcell("p50")),
                    ("p95", "95th percentile: the verdict's latency", lcell("p95")),
                    ("p99", "99th percentile", lcell("p99")),
                ],
            )
        )

        def ips(m: dict[str, Any]) -> Cell:
            r = m.get("items_per_s") or {}
            spread = ""
            if r and r.get("max", 0) > r.get("min", 0):
                spread = f" ± {(r['max'] - r['min']) / 2:.2f}"
            return _num(r.get("median"), "{:.2f}") + spread, ""

        groups.append(("Throughput", [("items/s", "median over repeats, ± half the range", ips)]))
    best_rss = _best(report, lambda m: m.get("peak_rss_mb"), low=True)
    limit_mb = verdict.get("max_memory_mb")
    groups.append(
        (
            "Memory, load",
            [
                (
                    "peak RSS",
                    "the worker's own high-water mark",
                    lambda m: _figure(
                        fmt_mb(m.get("peak_rss_mb")), m.get("peak_rss_mb"), best_rss, limit_mb
                    ),
                ),
                ("load s", "seconds to load", lambda m: (_num(m.get("load_s"), "{:.2f}"), "")),
            ],
        )
    )
    if not task:
        groups += _speed_columns(report, "Speed on synthetic prompts")
    return groups


def _speed_columns(report: dict[str, Any], group: str = "") -> list[tuple[str, list[Column]]]:
    """llama-bench style figures on synthetic prompts."""
    s = report["settings"]

    def syn(key: str, fmt: str) -> Callable[[dict[str, Any]], Cell]:
        return lambda m: (_num(_syn(m, key), fmt), "")

    return [
        (
            group,
            [
                (
                    f"prompt t/s ({s['pp']})",
                    f"prompt tokens/s over {s['pp']} tokens",
                    syn("pp_tps", "{:,.0f}"),
                ),
                (
                    f"decode t/s ({s['tg']})",
                    f"decoded tokens/s over {s['tg']} tokens",
                    syn("tg_tps", "{:,.0f}"),
                ),
                (
                    "of bound",
                    "decode speed as a share of the memory-bandwidth bound",
                    lambda m: (_num(m.get("decode_of_bound"), "{:.0%}"), ""),
                ),
                (
                    "first token ms",
                    "time to first token, 128-token prompt",
                    syn("ttft_ms", "{:,.0f}"),
                ),
            ],
        )
    ]


def _html_table(
    report: dict[str, Any],
    verdict: dict[str, Any],
    groups: list[tuple[str, list[Column]]],
    css: str,
) -> str:
    """One row per model, the shipped row marked and models over a limit greyed."""
    grouped = any(g for g, _ in groups)
    ncols = 1 + sum(len(cols) for _, cols in groups)
    head2 = "".join(
        f'<th title="{html.escape(t)}">{html.escape(c)}</th>'
        for _, cols in groups
        for c, t, _ in cols
    )
    if grouped:
        head1 = '<th rowspan="2" class="name">model</th>' + "".join(
            f'<th colspan="{len(c)}" class="group">{html.escape(g)}</th>' for g, c in groups
        )
        head = f"<tr>{head1}</tr><tr>{head2}</tr>"
    else:
        head = f'<tr><th class="name">model</th>{head2}</tr>'
    rows = []
    for i, m in enumerate(report["models"]):
        badge, cls = "", ""
        over = m["name"] in verdict.get("over_limits", [])
        if m["name"] == verdict.get("ship"):
            badge, cls = '<span class="badge ship">ship</span>', ' class="ship"'
        elif m["name"] == verdict.get("closest") and report.get("task"):
            badge = '<span class="badge closest">closest</span>'
            cls = ' class="over"' if over else ""
        elif m["name"] == verdict.get("closest"):
            badge = '<span class="badge closest">fastest decode</span>'
        elif over:
            badge, cls = '<span class="badge over">over limit</span>', ' class="over"'
        name = (
            f'<td class="name"><span class="swatch" style="background:{plots.color(i)}"></span>'
            f"{html.escape(m['name'])}"
            f'<span class="fmt">{html.escape(m.get("format", ""))}{badge}</span></td>'
        )
        if m.get("error"):
            rows.append(
                f'<tr class="failed">{name}<td colspan="{ncols - 1}" class="err">'
                f"error: {html.escape(str(m['error']))}</td></tr>"
            )
            continue
        cells = []
        for _, cols in groups:
            for _, _, cell in cols:
                text, klass = cell(m)
                attr = f' class="{klass}"' if klass else ""
                cells.append(f"<td{attr}>{html.escape(text)}</td>")
        rows.append(f"<tr{cls}>{name}{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table class="{css}"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _as_float(text: str) -> float | None:
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _verdict(report: dict[str, Any], verdict: dict[str, Any]) -> str:
    text = verdict["text"]
    ship = verdict.get("ship")
    if ship and text.startswith(f"Ship {ship}:"):
        head = f"Ship {ship}"
        line = f"<strong>{html.escape(head)}</strong>{html.escape(text[len(head) :])}"
    else:
        line = html.escape(text)
    limits = []
    if verdict.get("max_latency_ms") is not None:
        limits.append(f"p95 ≤ {fmt_limit_ms(verdict['max_latency_ms'])} (--max-latency)")
    if verdict.get("max_memory_mb") is not None:
        limits.append(f"peak RSS ≤ {fmt_limit_mb(verdict['max_memory_mb'])} (--max-memory)")
    metric = verdict.get("metric") or "quality"
    if report.get("task"):
        rule = (
            "Rule: of the models within the limits, the one with the lowest p95 latency per item "
            f"whose {metric} is within {verdict['tolerance']:g} of the best (--tolerance). "
        )
    else:
        rule = "Fastest decoder: the most decode tokens/s within the limits. "
    rule += f"Limits: {'; '.join(limits)}." if limits else "No limits set."
    if report.get("task") == "classify" and report.get("items"):
        rule += f" Here one item moves accuracy by {1 / report['items']:.3g}."
    cls = "verdict" if ship else ("verdict none" if report.get("task") else "verdict open")
    return f'<section class="{cls}"><p class="line">{line}</p><p class="rule">{html.escape(rule)}</p></section>'


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
                ink = "#fff" if n / total > 0.6 else "inherit"
                cells.append(f'<td style="background:{shade};color:{ink}">{n}</td>')
            body.append(f"<tr><th>{html.escape(gold)}</th>{''.join(cells)}</tr>")
        parts.append(
            f'<figure class="cm"><figcaption>{html.escape(m["name"])}</figcaption>'
            f'<table class="cm"><tr><th>gold \\ predicted</th>{head}</tr>{"".join(body)}</table>'
            "</figure>"
        )
    return f'<div class="cms">{"".join(parts)}</div>' if parts else ""


STYLE = """
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
 background:#f4f5f7}
main{max-width:1120px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{font-size:1.15em;margin:0 0 .6em}
.meta{color:#5b6272;margin:0 0 1em;font-size:.92em}
.card{background:#fff;border:1px solid #e1e4ea;border-radius:10px;padding:16px 20px;
 margin:16px 0;overflow:hidden}
.verdict{border-radius:10px;padding:14px 20px;margin:16px 0;background:#e9f5ea;
 border:1px solid #b9dcbc;border-left:6px solid #2e7d32}
.verdict.none{background:#fdf0ef;border-color:#f0c4c0;border-left-color:#c62828}
.verdict.open{background:#f0f2f5;border-color:#d5d9e0;border-left-color:#7a808c}
.verdict .line{font-size:1.12em;margin:0}.verdict .rule{margin:.4em 0 0;color:#4a5263;
 font-size:.88em}
.scroll{overflow-x:auto}
table.summary{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;
 font-size:.93em}
table.summary th{font-weight:600;color:#4a5263;padding:6px 10px;text-align:right;
 vertical-align:bottom;border-bottom:1px solid #d5d9e0;white-space:nowrap}
table.summary th.group{text-align:center;border-bottom:2px solid #d5d9e0;color:#1d2330}
table.summary td{padding:7px 10px;text-align:right;white-space:nowrap;
 border-bottom:1px solid #eef0f3}
table.summary .name{text-align:left;position:sticky;left:0;background:#fff}
table.summary td.name{font-weight:600}
table.summary .fmt{display:block;font-weight:400;font-size:.82em;color:#7a808c;
 margin-left:18px}
table.summary tr.ship td{background:#eef7ee}
table.summary tr.over td{color:#7a808c}
table.summary td.best{font-weight:700}
table.summary tr td.over{color:#c62828;font-weight:600}
table.summary td.err{text-align:left;color:#c62828;white-space:normal}
.swatch{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:8px}
.badge{display:inline-block;font-size:.75em;font-weight:600;border-radius:9px;
 padding:0 7px;margin-left:8px;vertical-align:1px}
.badge.ship{background:#2e7d32;color:#fff}.badge.over{background:#f3d3d0;color:#8e1f17}
.badge.closest{background:#fde8c8;color:#7a4a00}
.note{color:#5b6272;font-size:.88em;margin:.5em 0 0}
svg{max-width:100%;height:auto;display:block}
svg text{font:12px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#333}
svg text.axis{fill:#4a5263}
.cms{display:flex;flex-wrap:wrap;gap:16px 28px}
figure.cm{margin:0}figcaption{font-weight:600;margin-bottom:4px}
table.cm{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.cm td,table.cm th{border:1px solid #d5d9e0;padding:4px 10px;text-align:right}
details pre{background:#f6f7f9;padding:1em;overflow:auto;max-height:480px;font-size:12px}
"""


def to_html(report: dict[str, Any]) -> str:
    """One self-contained page: the verdict, the summary table, the plots, confusion matrices
    and the raw JSON."""
    mach = report["machine"]
    verdict = verdict_of(report)
    title = f"edgewise bench: {report.get('task') or 'synthetic'}"
    s = report["settings"]
    meta = [
        report["created"],
        str(mach["cpu"]),
        f"{mach['cores']} cores",
        f"memory bandwidth {mach['memory_bandwidth_gbs']:.1f} GB/s",
    ]
    if report.get("task"):
        meta.append(f"{report['items']} items")
    meta.append(f"repeats {s['repeats']}")
    if s.get("threads"):
        meta.append(f"{s['threads']} thread{'s' if s['threads'] > 1 else ''}")
    note = (
        "Bold: the best quality, p95 latency and peak RSS; red: over a limit. "
        if report.get("task")
        else "Bold: the least peak RSS; red: over --max-memory. "
    )
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{" · ".join(html.escape(x) for x in meta)}</p>',
        _verdict(report, verdict),
        f'<section class="card"><h2>Summary</h2>'
        f"{_html_table(report, verdict, _summary_columns(report, verdict), 'summary')}"
        f'<p class="note">{note}Hover a heading for what it measures.</p></section>',
    ]
    scatter = plots.scatter(report, verdict)
    if scatter:
        notes = ["Ringed: the model to ship."]
        if verdict.get("best"):
            notes.append(f"Green band: within {verdict['tolerance']:g} of the best.")
        if verdict.get("max_latency_ms") is not None:
            notes.append("Dashed line: --max-latency.")
        sections.append(
            f'<section class="card"><h2>Quality against p95 latency</h2>{scatter}'
            f'<p class="note">{" ".join(notes)}</p></section>'
        )
    boxes = plots.boxes(report)
    if boxes:
        sections.append(
            f'<section class="card"><h2>Latency per item</h2>{boxes}<p class="note">'
            "Box: 25th to 75th percentile; thick line: median; whiskers: 5th to 95th; "
            "dots: slower items.</p></section>"
        )
    if report.get("task") and any(m.get("synthetic") for m in report["models"]):
        sections.append(
            '<section class="card"><h2>Speed on synthetic prompts</h2>'
            f"{_html_table(report, verdict, _speed_columns(report), 'summary speed')}"
            '<p class="note">llama-bench style: random token order, so no cached prefix helps.'
            "</p></section>"
        )
    conf = _confusions(report)
    if conf:
        sections.append(f'<section class="card"><h2>Confusion matrices</h2>{conf}</section>')
    raw = json.dumps(report, indent=1).replace("</", "<\\/")
    sections.append(
        '<section class="card"><details><summary>Raw results (JSON)</summary>'
        f"<pre>{html.escape(raw)}</pre></details></section>"
    )
    style = " ".join(STYLE.split())
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )
