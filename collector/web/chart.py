"""Entries per hour as a server-rendered SVG bar chart with axes and labels (nothing loaded from elsewhere).

Colours and fonts are SVG presentation attributes, never a ``<style>`` element or ``style=`` attribute: the
office's Content-Security-Policy (``style-src 'self'``) blocks inline styles, which left every bar black.
Hours are labelled in the site's time zone.
"""

from __future__ import annotations

import datetime as dt
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 30, 34
BAR = "#2a6fb0"
INK = "#333333"
GRID = "#cccccc"


def hourly_counts(stamps: list[str], end: dt.datetime, hours: int = 24) -> list[tuple[dt.datetime, int]]:
    """Counts per hour for the ``hours`` hours up to ``end`` (UTC), oldest first."""
    top = end.replace(minute=0, second=0, microsecond=0)
    starts = [top - dt.timedelta(hours=hours - 1 - i) for i in range(hours)]
    counts = [0] * hours
    first = starts[0]
    for stamp in stamps:
        try:
            moment = dt.datetime.fromisoformat(stamp)
        except ValueError:
            continue
        index = int((moment - first).total_seconds() // 3600)
        if 0 <= index < hours:
            counts[index] += 1
    return list(zip(starts, counts, strict=True))


def _ticks(peak: int) -> list[int]:
    step = max(1, -(-peak // 4))
    return list(range(0, peak + step, step))


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-family="sans-serif" fill="{INK}" '
            f'text-anchor="{anchor}">{escape(text)}</text>')


def bar_chart(series: list[tuple[dt.datetime, int]], title: str, *, zone: dt.tzinfo | None = None,
              axis_label: str = "entries") -> str:
    ticks = _ticks(max((n for _, n in series), default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    parts = [_text(LEFT, 18, title, size=13)]
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(LEFT - 6, y + 4, str(tick), "end", 10))
    parts.append(_text(12, TOP + plot_h / 2, axis_label, "middle", 10).replace(
        "<text ", f'<text transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" ', 1))
    for i, (start, n) in enumerate(series):
        local = start.astimezone(zone)
        h = plot_h * n / top
        x = LEFT + i * slot
        parts.append(f'<rect class="bar" fill="{BAR}" x="{x + 1:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{max(slot - 2, 1):.1f}" height="{h:.1f}"><title>{local:%d/%m/%Y %H}:00: {n}</title>'
                     "</rect>")
        if i % 3 == 0:
            parts.append(_text(x + slot / 2, TOP + plot_h + 14, f"{local:%H}h", "middle", 10))
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="{INK}"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="{INK}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}"><title>{escape(title)}</title>' + "".join(parts) + "</svg>")
