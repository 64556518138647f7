"""Charts as server-made SVG: no script or vendored library, shown without JavaScript.

Each chart is an <svg role="img"> with a <title> and <desc> for screen readers, and the
page puts the same numbers in a table beside it. Colours come from classes styled in
dashboard.css (the CSP forbids style attributes); every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 44, 16, 40


@dataclass(frozen=True)
class Point:
    label: str  # x-axis label (short)
    volume: int
    pct: float | None  # % within target, 0-100


def _svg(title: str, desc: str, body: list[str], css: str) -> Markup:
    ident = "c" + format(abs(hash((title, desc))) % 10**8, "08d")
    return Markup(
        f'<svg class="chart {css}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
        + "".join(body) + "</svg>"
    )


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^k)."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for mult in (1, 2, 5, 10):
        if value <= step * mult:
            return step * mult
    return step * 10


def _text(x: float, y: float, content: str, css: str = "", anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">'
            f"{escape(content)}</text>")


def weekly_trend(points: Sequence[Point], title: str = "Weekly trend") -> Markup:
    """Bars: consults submitted per week (left axis). Line: % answered within target
    (right axis, 0-100%)."""
    if not points:
        return _svg(title, "No consults in this range.", [_text(W / 2, H / 2, "No data")],
                    "trend")
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top = _nice_max(max(p.volume for p in points))
    slot = plot_w / len(points)
    body = [f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{W - RIGHT}" '
            f'y2="{TOP + plot_h}"/>']
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>')
        body.append(_text(LEFT - 6, y + 4, f"{top * frac:,.0f}", "tick", "end"))
        body.append(_text(W - RIGHT + 6, y + 4, f"{100 * frac:.0f}%", "tick pct", "start"))
    line: list[str] = []
    every = max(1, len(points) // 8)
    for i, p in enumerate(points):
        x = LEFT + i * slot
        h = plot_h * p.volume / top
        pct = "n/a" if p.pct is None else f"{p.pct:.1f}%"
        body.append(f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{h:.1f}"><title>{escape(p.label)}: '
                    f"{p.volume:,} consults, {pct} within target</title></rect>")
        if p.pct is not None:
            line.append(f"{x + slot / 2:.1f},{TOP + plot_h * (1 - p.pct / 100):.1f}")
        if i % every == 0:
            body.append(_text(x + slot / 2, H - BOTTOM + 16, p.label, "tick"))
    if line:
        body.append(f'<polyline class="line" points="{" ".join(line)}"/>')
    body.append(_text(LEFT, H - 6, "Bars: consults per week (left). Line: % within target "
                      "(right).", "legend", "start"))
    desc = (f"{len(points)} weeks from {points[0].label} to {points[-1].label}; "
            f"at most {max(p.volume for p in points):,} consults in a week.")
    return _svg(title, desc, body, "trend")


def histogram(bins: Sequence[int], *, target_hours: float, title: str) -> Markup:
    """Time to answer as tenths of the target window (the last bin: beyond twice the
    target), with the target drawn as a vertical line at 100%."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top = _nice_max(max(bins, default=0))
    slot = plot_w / max(1, len(bins))
    body = [f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{W - RIGHT}" '
            f'y2="{TOP + plot_h}"/>']
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>')
        body.append(_text(LEFT - 6, y + 4, f"{top * frac:,.0f}", "tick", "end"))
    for i, n in enumerate(bins):
        x = LEFT + i * slot
        h = plot_h * n / top
        late = " late" if i >= 10 else ""
        span = f"{i * 10}-{i * 10 + 10}% of target" if i < len(bins) - 1 else \
            f"over {i * 10}% of target"
        body.append(f'<rect class="bar{late}" x="{x + 1:.1f}" y="{TOP + plot_h - h:.1f}" '
                    f'width="{max(slot - 2, 1):.1f}" height="{h:.1f}"><title>{span}: {n:,}'
                    "</title></rect>")
        if i % 5 == 0:
            body.append(_text(x, H - BOTTOM + 16, f"{i * 10}%", "tick"))
    tx = LEFT + 10 * slot
    body.append(f'<line class="target" x1="{tx:.1f}" y1="{TOP}" x2="{tx:.1f}" '
                f'y2="{TOP + plot_h}"/>')
    body.append(_text(tx + 4, TOP + 12, f"target ({_hours(target_hours)})", "target-label",
                      "start"))
    body.append(_text(LEFT, H - 6, "Time to answer as % of the target window.", "legend",
                      "start"))
    within = sum(bins[:10])
    desc = f"{sum(bins):,} answered; {within:,} within the target of {_hours(target_hours)}."
    return _svg(title, desc, body, "histogram")


def bars(rows: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """Horizontal bars, one per row (label, value)."""
    height = TOP + BOTTOM + 22 * max(1, len(rows))
    label_w, plot_w = 180, W - 180 - RIGHT - 40
    top = _nice_max(max((v for _, v in rows), default=0))
    body = []
    for i, (label, value) in enumerate(rows):
        y = TOP + i * 22
        w = plot_w * value / top
        body.append(_text(label_w - 8, y + 15, label[:28], "tick", "end"))
        body.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16">'
                    f"<title>{escape(label)}: {value:,.0f}{unit}</title></rect>")
        body.append(_text(label_w + w + 6, y + 15, f"{value:,.0f}{unit}", "tick", "start"))
    svg = _svg(title, f"{len(rows)} rows; largest {top:,.0f}{unit} on the axis.", body, "bars")
    return Markup(str(svg).replace(f'viewBox="0 0 {W} {H}"', f'viewBox="0 0 {W} {height}"', 1))


def _hours(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:g} days"
    return f"{hours:g} h"
