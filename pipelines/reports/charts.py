"""Vector charts as inline SVG, drawn here: no JavaScript, no network, text escaped like any other.

>>> svg = bar_chart(["Jan", "<b>"], [1.0, -2.0], "de", unit="EUR")
>>> svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg
True
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from pipelines.reports.figures import format_value

FONT = "DejaVu Sans"
BLUE, GREY, GREEN, RED, INK, RULE = "#1f4e79", "#9fb3c8", "#2e7d32", "#c62828", "#222222", "#d0d7de"


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _text(x: float, y: float, text: str, size: float = 10, anchor: str = "middle", fill: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family={quoteattr(FONT)} font-size="{size}" '
            f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}">{escape(text)}</text>')


def _svg(width: float, height: float, body: list[str], title: str) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width / 4:.0f}mm" height="{height / 4:.0f}mm" '
                  f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>{escape(title)}</title>'
                  + "".join(body) + "</svg>")


def bar_chart(labels: list[str], values: list[float | None], language: str, unit: str | None = None,
              decimals: int = 0, highlight: int | None = None, colors: list[str] | None = None,
              title: str = "", width: float = 680, height: float = 230) -> Markup:
    """Vertical bars with a value axis; ``highlight`` marks one bar (the report period)."""
    left, right, top, bottom = 78, 10, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for v in values if v is not None]
    low, high = min([0.0, *known]), max([0.0, *known])
    step = _nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step or step
    y = lambda v: top + plot_h * (high - v) / (high - low)  # noqa: E731
    body = []
    tick = low
    while tick <= high + step / 2:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{RULE}" stroke-width="1"/>')
        body.append(_text(left - 6, y(tick) + 3.5, format_value(tick, unit, 0, language), 9, "end"))
        tick += step
    slot = plot_w / max(len(values), 1)
    for i, (label, value) in enumerate(zip(labels, values)):
        x = left + i * slot + slot * 0.15
        if value is not None:
            top_y, base_y = min(y(value), y(0)), max(y(value), y(0))
            color = (colors[i] if colors else BLUE if i == highlight else GREY)
            body.append(f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{slot * 0.7:.1f}" height="{max(base_y - top_y, 0.5):.1f}" fill="{color}"/>')
        body.append(_text(x + slot * 0.35, height - bottom + 14, label, 9))
    if highlight is not None and values[highlight] is not None:
        x = left + highlight * slot + slot * 0.5
        body.append(_text(x, y(max(values[highlight], 0)) - 3, format_value(values[highlight], unit, decimals, language), 9,
                          weight="bold"))
    return _svg(width, height, body, title)


def contribution_chart(members: list[str], contributions: list[float], language: str, unit: str | None,
                       decimals: int, good: str = "up", title: str = "", width: float = 680) -> Markup:
    """Horizontal bars of each member's contribution to a change, good green and bad red."""
    row, left, right, top = 22, 250, 10, 6
    height = top * 2 + row * max(len(members), 1)
    span = max([abs(c) for c in contributions] + [1e-9])
    zero = left + (width - left - right) / 2
    scale = ((width - left - right) / 2 - 70) / span     # room for the value label beside the bar
    body = [f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{height}" stroke="{RULE}" stroke-width="1"/>']
    for i, (member, value) in enumerate(zip(members, contributions)):
        y0 = top + i * row
        good_move = value >= 0 if good != "down" else value <= 0
        color = GREY if good == "neutral" else GREEN if good_move else RED
        x0, x1 = sorted((zero, zero + value * scale))
        body.append(f'<rect x="{x0:.1f}" y="{y0 + 3}" width="{max(x1 - x0, 0.5):.1f}" height="{row - 8}" fill="{color}"/>')
        body.append(_text(left - 8, y0 + row / 2 + 3, member[:42], 9.5, "end"))
        label_x = x1 + 4 if value >= 0 else x0 - 4
        body.append(_text(label_x, y0 + row / 2 + 3, format_value(value, unit, decimals, language, sign=True), 9,
                          "start" if value >= 0 else "end"))
    return _svg(width, height, body, title)
