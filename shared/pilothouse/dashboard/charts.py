"""Small SVG charts drawn on the server: a time series with deployment markers, a traffic bar and an
analysis chart against its threshold. No style attributes (the Content-Security-Policy forbids
inline styles): colours come from classes in ``static/app.css``, so both themes apply.

    >>> svg = line_chart("p99", [(0, 1.0), (60, 3.0)], unit="ms", markers=[(30, "d-1 <b>")])
    >>> "<svg" in svg and "&lt;b&gt;" in svg and "<b>" not in svg
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 600, 160
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 8, 12, 22


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def line_chart(
    title: str,
    points: Sequence[tuple[float, float | None]],
    *,
    unit: str = "",
    markers: Sequence[tuple[float, str]] = (),
    threshold: float | None = None,
) -> Markup:
    """A line over time (``points``: epoch seconds, value or None for no data), with a dashed line at
    each marker's time (a deployment) and, when given, a threshold line."""
    label = f"{title} ({unit})" if unit else title
    known = [(t, v) for t, v in points if v is not None]
    times = [t for t, _ in points] + [t for t, _ in markers]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    if not known or not times:
        parts.append(
            f'<text class="axis" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data yet</text>'
        )
        parts.append("</svg>")
        return Markup("".join(parts))
    t0, t1 = min(times), max(times)
    t1 = t1 if t1 > t0 else t0 + 60
    top = max([v for _, v in known] + ([threshold] if threshold is not None else []))
    top = top * 1.1 if top > 0 else 1.0
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: float) -> float:
        return PAD_LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return PAD_TOP + plot_h - v / top * plot_h

    base = PAD_TOP + plot_h
    parts.append(
        f'<line class="axis-line" x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        v = top / 1.1 * frac
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>'
        )
    parts.append(f'<text class="axis" x="{PAD_LEFT}" y="{HEIGHT - 4}">{_clock(t0)}</text>')
    parts.append(
        f'<text class="axis" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 4}" text-anchor="end">{_clock(t1)}</text>'
    )
    if threshold is not None:
        parts.append(
            f'<line class="threshold" x1="{PAD_LEFT}" y1="{y(threshold):.1f}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{y(threshold):.1f}"><title>threshold {_fmt(threshold)}</title></line>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for t, value in points:
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append(f"{x(t):.1f},{y(value):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="series-dot" cx="{cx}" cy="{cy}" r="2.5"/>')
        else:
            parts.append(f'<polyline class="series" points="{" ".join(seg)}"/>')
    for t, text in markers:
        parts.append(
            f'<line class="marker" x1="{x(t):.1f}" y1="{PAD_TOP}" x2="{x(t):.1f}" y2="{base}">'
            f"<title>{escape(text)} at {_clock(t)}</title></line>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def traffic_bar(weights: Sequence[tuple[str, float]]) -> Markup:
    """The traffic split as one horizontal bar, a segment per revision (weights in percent)."""
    total = sum(w for _, w in weights) or 100.0
    label = ", ".join(f"{name} {w:g}%" for name, w in weights) or "no traffic recorded"
    parts = [
        f'<svg class="traffic" viewBox="0 0 400 28" role="img" aria-label="traffic: {escape(label)}">',
        f"<title>traffic: {escape(label)}</title>",
    ]
    x = 0.0
    for i, (name, w) in enumerate(weights):
        width = 400 * w / total
        if width <= 0:
            continue
        parts.append(f'<rect class="seg seg{i % 4}" x="{x:.1f}" y="0" width="{width:.1f}" height="28"/>')
        if width > 60:
            parts.append(f'<text class="seg-label" x="{x + 6:.1f}" y="18">{escape(name)} {w:g}%</text>')
        x += width
    parts.append("</svg>")
    return Markup("".join(parts))


def analysis_chart(results: Sequence[tuple[str, float | None, float | None, bool | None]]) -> Markup:
    """Analysis measurements as bars against their thresholds: (label, value, threshold, passed)."""
    if not results:
        return Markup("")
    row = 26
    height = row * len(results) + 6
    top = max([abs(v) for _, v, _, _ in results if v is not None] + [abs(t) for _, _, t, _ in results if t])
    top = top * 1.15 if top else 1.0
    parts = [
        f'<svg class="chart analysis" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="analysis results">',
        "<title>analysis measurements against thresholds</title>",
    ]
    for i, (label, value, threshold, passed) in enumerate(results):
        y = 3 + i * row
        verdict = "pass" if passed else "fail" if passed is not None else "pending"
        parts.append(f'<text class="axis" x="0" y="{y + 16}">{escape(label[:28])}</text>')
        if value is not None:
            width = (WIDTH - 220) * abs(value) / top
            parts.append(
                f'<rect class="bar {verdict}" x="200" y="{y + 4}" width="{width:.1f}" height="14">'
                f"<title>{escape(label)}: {_fmt(value)} ({verdict})</title></rect>"
            )
            parts.append(f'<text class="axis" x="{204 + width:.1f}" y="{y + 16}">{_fmt(value)}</text>')
        if threshold is not None:
            tx = 200 + (WIDTH - 220) * abs(threshold) / top
            parts.append(
                f'<line class="threshold" x1="{tx:.1f}" y1="{y}" x2="{tx:.1f}" y2="{y + row - 4}">'
                f"<title>threshold {_fmt(threshold)}</title></line>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
