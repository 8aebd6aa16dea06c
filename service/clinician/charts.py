"""Server-rendered SVG charts (no script, no external asset) with a text alternative each.

Every chart is ``role="img"`` with ``<title>`` and ``<desc>`` (read by screen readers); the page also
shows the same numbers as a table, so nothing is only in the picture.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from service.clinician.dashboard import Point

W, H = 480, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 28, 18, 28
PAD = 16  # between the axis and the first and last point


def _x(i: int, n: int) -> float:
    span = W - LEFT - RIGHT - 2 * PAD
    return LEFT + PAD + (span / 2 if n == 1 else span * i / (n - 1))


def _y(value: float, low: float, high: float) -> float:
    span = (high - low) or 1
    return TOP + (H - TOP - BOTTOM) * (1 - (min(max(value, low), high) - low) / span)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _axes(low: float, high: float, points: Sequence[Point]) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" y1="{_y(low, low, high):.1f}" x2="{W - RIGHT}" '
             f'y2="{_y(low, low, high):.1f}"/>']
    for tick in (low, (low + high) / 2, high):
        y = _y(tick, low, high)
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>')
    for i, p in enumerate(points):
        parts.append(f'<text class="tick" x="{_x(i, len(points)):.1f}" y="{H - 8}" text-anchor="middle">'
                     f'{escape(p.when[5:])}</text>')
    return parts


def line_chart(chart_id: str, title: str, summary: str, points: Sequence[Point], low: float, high: float,
               band: tuple[float, float] | None = None, goal: float | None = None) -> Markup:
    """A line over time; ``band`` is drawn shaded (e.g. the MCID around the first value), ``goal`` dashed."""
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
             f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-t">{escape(title)}</title>'
             f'<desc id="{chart_id}-d">{escape(summary)}</desc>']
    if band is not None:
        top, bottom = _y(max(band), low, high), _y(min(band), low, high)
        parts.append(f'<rect class="band" x="{LEFT}" y="{top:.1f}" width="{W - LEFT - RIGHT}" '
                     f'height="{max(bottom - top, 1):.1f}"/>')
    parts.extend(_axes(low, high, points))
    if goal is not None:
        y = _y(goal, low, high)
        parts.append(f'<line class="goal" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT + 4}" y="{y - 4:.1f}">goal {_fmt(goal)}</text>')
    coords = [(_x(i, len(points)), _y(p.value, low, high)) for i, p in enumerate(points)]
    if len(coords) > 1:
        parts.append('<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    for (x, y), p in zip(coords, points, strict=True):
        parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="4"/>'
                     f'<text class="value" x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">{_fmt(p.value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def describe(label: str, points: Sequence[Point], unit: str = "") -> str:
    if not points:
        return f"{label}: no measurements."
    values = ", ".join(f"{_fmt(p.value)}{unit} on {p.when}" for p in points)
    return f"{label}: {values}."
