"""The bench report's plots as inline SVG: quality against p95 latency, and latency per item.

No plotting library and no script: the page must open offline from a file. Text is measured
with a per-character width table (a little wider than DejaVu Sans, the widest common sans
font, at 12 px), so a label box drawn here holds the label as a browser renders it; labels are
then placed greedily so that no two boxes, and no label and marker, overlap.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgewise.bench.metrics import percentile
from edgewise.bench.verdict import quality_metric

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
FONT_PX = 12
LINE_H = 14  # a 12 px line: 11 px above the baseline, 3 below
MARKER_R = 6
MARKER_GAP = 6  # the least room between a label and another model's marker

# advance widths of printable ASCII (space to ~) in DejaVu Sans, in thousandths of an em:
# the widest of the common sans fonts, and what system-ui resolves to on Debian
_ASCII_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636,
    636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684,
    686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695,
    635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550,
    635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392,
    634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
)  # fmt: skip
_MARGIN = 1.04  # kerning, hinting and other fonts' wider glyphs


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def ink(hex_color: str, dark: float = 0.3) -> str:
    """``hex_color`` darkened towards black, for text that must read on white."""
    r, g, b = (int(hex_color[k : k + 2], 16) for k in (1, 3, 5))
    return "#" + "".join(f"{int(c * (1 - dark)):02x}" for c in (r, g, b))


def text_width(text: str, px: float = FONT_PX) -> float:
    """An upper estimate of ``text``'s rendered width at ``px`` pixels in a sans-serif font
    (a character outside ASCII counts as a full em)."""
    units = sum(_ASCII_WIDTHS[ord(ch) - 32] if " " <= ch <= "~" else 1000 for ch in text)
    return units / 1000 * px * _MARGIN


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in SVG coordinates (y grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, gap: float = 0.0) -> bool:
        return not (
            self.x1 + gap <= other.x0
            or other.x1 + gap <= self.x0
            or self.y1 + gap <= other.y0
            or other.y1 + gap <= self.y0
        )

    def overlap_area(self, other: Box, gap: float = 0.0) -> float:
        """The area shared with ``other`` grown by ``gap`` (0 when apart)."""
        dx = min(self.x1, other.x1 + gap) - max(self.x0, other.x0 - gap)
        dy = min(self.y1, other.y1 + gap) - max(self.y0, other.y0 - gap)
        return dx * dy if dx > 0 and dy > 0 else 0.0

    def inside(self, other: Box) -> bool:
        return (
            self.x0 >= other.x0
            and self.y0 >= other.y0
            and self.x1 <= other.x1
            and self.y1 <= other.y1
        )


@dataclass(frozen=True)
class Label:
    """A placed label: its box, where its text starts, and the point it names."""

    text: str
    box: Box
    anchor_x: float
    anchor_y: float

    @property
    def baseline(self) -> float:
        return self.box.y1 - 3

    def far(self) -> bool:
        """Placed away from its marker, so it needs a leader line."""
        cx = min(max(self.anchor_x, self.box.x0), self.box.x1)
        cy = min(max(self.anchor_y, self.box.y0), self.box.y1)
        return math.hypot(cx - self.anchor_x, cy - self.anchor_y) > MARKER_R + 8


def _candidates(x: float, y: float, w: float) -> list[Box]:
    """Boxes for a ``w``-wide label near (x, y): beside, above and below the marker first,
    then stacked further up and down on either side."""
    h, d = LINE_H, MARKER_R + 4
    near = [
        Box(x + d, y - h / 2, x + d + w, y + h / 2),  # right
        Box(x - d - w, y - h / 2, x - d, y + h / 2),  # left
        Box(x - w / 2, y - d - h, x + w / 2, y - d),  # above
        Box(x - w / 2, y + d, x + w / 2, y + d + h),  # below
        Box(x + d - 2, y - d - h + 2, x + d - 2 + w, y - d + 2),  # above right
        Box(x - d + 2 - w, y - d - h + 2, x - d + 2, y - d + 2),  # above left
        Box(x + d - 2, y + d - 2, x + d - 2 + w, y + d - 2 + h),  # below right
        Box(x - d + 2 - w, y + d - 2, x - d + 2, y + d - 2 + h),  # below left
    ]
    stacked = []
    for k in range(1, 12):
        for dy in (-k * (h + 2), k * (h + 2)):
            stacked.append(Box(x + d, y - h / 2 + dy, x + d + w, y + h / 2 + dy))
            stacked.append(Box(x - d - w, y - h / 2 + dy, x - d, y + h / 2 + dy))
    return near + stacked


def place_labels(
    points: Sequence[tuple[float, float]], texts: Sequence[str], bounds: Box, gap: float = 2.0
) -> list[Label]:
    """One label per point, inside ``bounds``, no two labels within ``gap`` of each other and
    none over a marker. Points are taken left to right, so stacks grow predictably. A label
    with no free place takes the candidate that overlaps least (only in very crowded plots)."""
    markers = [Box(x - MARKER_R, y - MARKER_R, x + MARKER_R, y + MARKER_R) for x, y in points]
    placed: dict[int, Label] = {}
    for i in sorted(range(len(points)), key=lambda j: (points[j][0], points[j][1])):
        x, y = points[i]
        w = text_width(texts[i])
        taken = [lab.box for lab in placed.values()]

        others = [mk for j, mk in enumerate(markers) if j != i]

        def clash(
            box: Box, taken: list[Box] = taken, others: list[Box] = others, own: Box = markers[i]
        ) -> float:
            # another model's marker keeps a wider berth, so a label reads as its own marker's
            return (
                sum(box.overlap_area(b, gap) for b in taken)
                + sum(box.overlap_area(mk, MARKER_GAP) for mk in others)
                + box.overlap_area(own)
            )

        inside = [b for b in _candidates(x, y, w) if b.inside(bounds)]
        if not inside:  # wider than the plot: pin to its left edge, clipped by the svg
            inside = [Box(bounds.x0, y - LINE_H / 2, bounds.x0 + w, y + LINE_H / 2)]
        best = next((b for b in inside if clash(b) == 0.0), None)
        if best is None:
            best = min(inside, key=clash)
        placed[i] = Label(texts[i], best, x, y)
    return [placed[i] for i in range(len(points))]


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2, 2.5 or 5 times 10^k."""
    if top <= 0 or math.isnan(top):
        return [0.0, 1.0]
    raw = top / (count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [step * k for k in range(n + 1)]


def nice_span(lo: float, hi: float) -> list[float]:
    """Round ticks covering a quality range in 0..1 with some room: steps of 0.01 to 0.25."""
    lo, hi = max(0.0, lo), min(1.0, hi)
    room = max((hi - lo) * 0.15, 0.02)
    lo, hi = max(0.0, lo - room), min(1.0, hi + room)
    step = next(st for st in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if (hi - lo) / st <= 6)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 4) for k in range(first, max(last, first + 1) + 1)]


def _ms_tick(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g} ms"


def scatter(report: dict[str, Any], verdict: dict[str, Any] | None = None) -> str:
    """Quality against p95 latency per item, one labelled marker per model; the shipped
    model ringed, the band within the tolerance of the best shaded, the latency limit dashed."""
    pts = []
    for i, m in enumerate(report["models"]):
        metric, q = quality_metric(report, m)
        lat = (m.get("latency_ms") or {}).get("p95")
        if q is not None and lat is not None and not math.isnan(lat):
            pts.append((m["name"], float(lat), q, color(i), metric))
    if not pts:
        return ""
    verdict = verdict or {}
    w, h = 860, 400
    left, right, top, bottom = 62, 24, 16, 52
    limit = verdict.get("max_latency_ms")
    xticks = nice_ticks(max(max(p[1] for p in pts), limit or 0.0) * 1.08)
    xmax = xticks[-1]
    yticks = nice_span(min(p[2] for p in pts), max(p[2] for p in pts))
    ymin, ymax = yticks[0], yticks[-1]

    def x(v: float) -> float:
        return left + v / xmax * (w - left - right)

    def y(v: float) -> float:
        return h - bottom - (v - ymin) / (ymax - ymin) * (h - top - bottom)

    out = [f'<rect x="{left}" y="{top}" width="{w - left - right}" '
           f'height="{h - top - bottom}" fill="#fff"/>']  # fmt: skip
    best = (verdict.get("best") or {}).get("quality")
    tol = verdict.get("tolerance")
    if best is not None and tol:
        y0, y1 = y(min(best, ymax)), y(max(best - tol, ymin))
        out.append(
            f'<rect class="band" x="{left}" y="{y0:.1f}" width="{w - left - right}" '
            f'height="{max(y1 - y0, 1.5):.1f}" fill="#2e7d32" fill-opacity="0.12"/>'
        )
    for v in yticks:
        out.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{w - right}" y2="{y(v):.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>'
        )
    for v in xticks:
        out.append(
            f'<line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{h - bottom}" stroke="#eee"/>'
            f'<text x="{x(v):.1f}" y="{h - bottom + 16}" text-anchor="middle">{_ms_tick(v)}</text>'
        )
    if limit is not None and limit <= xmax:
        out.append(
            f'<line class="limit" x1="{x(limit):.1f}" y1="{top}" x2="{x(limit):.1f}" '
            f'y2="{h - bottom}" stroke="#c62828" stroke-dasharray="5 4"/>'
        )
    out.append(_axes(w, h, left, right, top, bottom, "p95 latency per item", pts[0][4]))
    points = [(x(p[1]), y(p[2])) for p in pts]
    bounds = Box(left + 2, top + 2, w - right - 2, h - bottom - 2)
    labels = place_labels(points, [p[0] for p in pts], bounds)
    ship = verdict.get("ship")
    for (name, _, _, col, _), (px, py), lab in zip(pts, points, labels):
        if lab.far():
            cx = min(max(px, lab.box.x0), lab.box.x1)
            cy = min(max(py, lab.box.y0), lab.box.y1)
            out.append(
                f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" '
                f'stroke="{col}" stroke-opacity="0.6"/>'
            )
        if name == ship:
            out.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{MARKER_R + 4}" fill="none" '
                f'stroke="#2e7d32" stroke-width="2.5"/>'
            )
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{MARKER_R}" fill="{col}" '
            f'fill-opacity="0.85" stroke="#fff"/>'
        )
    for lab, p in zip(labels, pts):
        out.append(
            f'<text class="label" x="{lab.box.x0:.1f}" y="{lab.baseline:.1f}" '
            f'style="fill:{ink(p[3])}">{html.escape(lab.text)}</text>'
        )
    return _svg(w, h, out, "Quality against p95 latency per item")


def _axes(
    w: int, h: int, left: int, right: int, top: int, bottom: int, xlabel: str, ylabel: str
) -> str:
    mid_y = (top + h - bottom) / 2
    return (
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#555"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#555"/>'
        f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle" '
        f'class="axis">{html.escape(xlabel)}</text>'
        f'<text x="16" y="{mid_y}" transform="rotate(-90 16 {mid_y})" '
        f'text-anchor="middle" class="axis">{html.escape(ylabel)}</text>'
    )


def _svg(w: int, h: int, parts: list[str], title: str) -> str:
    return (
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{html.escape(title)}">{"".join(parts)}</svg>'
    )


def boxes(report: dict[str, Any]) -> str:
    """Per-model latency distribution: box (p25-p75), median, whiskers p5-p95, dots beyond."""
    series = [
        (m["name"], m["latencies_ms"], color(i))
        for i, m in enumerate(report["models"])
        if m.get("latencies_ms")
    ]
    if not series:
        return ""
    row, pad, w = 34, 24, 860
    label_w = min(max(text_width(name) for name, _, _ in series) + 16, 300)
    h = pad * 2 + row * len(series)
    ticks = nice_ticks(max(max(v) for _, v, _ in series))
    top = ticks[-1] or 1.0

    def x(v: float) -> float:
        return label_w + v / top * (w - label_w - 24)

    out = []
    for v in ticks:
        out.append(
            f'<line x1="{x(v):.1f}" y1="{pad - 6}" x2="{x(v):.1f}" y2="{h - pad}" stroke="#e5e5e5"/>'
            f'<text x="{x(v):.1f}" y="{h - pad + 16}" text-anchor="middle">{_ms_tick(v)}</text>'
        )
    for i, (name, vals, col) in enumerate(series):
        cy = pad + row * i + row / 2
        p = {q: percentile(vals, q) for q in (5, 25, 50, 75, 95)}
        out.append(
            f'<text x="{label_w - 8:.1f}" y="{cy + 4:.1f}" text-anchor="end">{html.escape(name)}</text>'
            f'<line x1="{x(p[5]):.1f}" y1="{cy:.1f}" x2="{x(p[95]):.1f}" y2="{cy:.1f}" stroke="{col}"/>'
            f'<rect x="{x(p[25]):.1f}" y="{cy - 9:.1f}" width="{max(x(p[75]) - x(p[25]), 1):.1f}" '
            f'height="18" fill="{col}" fill-opacity="0.3" stroke="{col}"/>'
            f'<line x1="{x(p[50]):.1f}" y1="{cy - 9:.1f}" x2="{x(p[50]):.1f}" y2="{cy + 9:.1f}" '
            f'stroke="{col}" stroke-width="3"/>'
        )
        for v in vals:
            if v > p[95]:
                out.append(f'<circle cx="{x(v):.1f}" cy="{cy:.1f}" r="2.5" fill="{col}"/>')
    return _svg(w, h, out, "Latency per item")
