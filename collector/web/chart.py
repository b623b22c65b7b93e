"""Entries per hour as a server-rendered SVG bar chart with axes and labels (nothing loaded from elsewhere).

Colours and fonts are SVG presentation attributes, never a ``<style>`` element or ``style=`` attribute: the
office's Content-Security-Policy (``style-src 'self'``) blocks inline styles, which left every bar black.
Hours are labelled in the site's time zone. A day's chart shades the venue's opening hours behind the bars
(with a legend), so "no scans while open" is visible at a glance, not only in a table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 34, 52
BAR = "#2a6fb0"
INK = "#333333"
GRID = "#cccccc"
OPEN = "#fff0b3"  # the opening-hours band (light, so the bars and grid stay readable over it)
OPEN_EDGE = "#a66b00"


@dataclass(frozen=True)
class Labels:
    """The chart's words, already translated by the caller (the chart itself holds no language)."""

    title: str
    y_axis: str = "entries"
    x_axis: str = "hour (local time)"
    open_hours: str = "opening hours"


def hourly_counts(stamps: list[str], end: dt.datetime, hours: int = 24) -> list[tuple[dt.datetime, int]]:
    """Counts per hour for the ``hours`` hours up to ``end`` (UTC), oldest first."""
    top = end.replace(minute=0, second=0, microsecond=0)
    return counts_from(stamps, top - dt.timedelta(hours=hours - 1), hours)


def counts_from(stamps: list[str], first: dt.datetime, hours: int = 24) -> list[tuple[dt.datetime, int]]:
    """Counts per hour for ``hours`` hours from ``first`` (an aware time), oldest first."""
    starts = [first + dt.timedelta(hours=i) for i in range(hours)]
    counts = [0] * hours
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


def _open_bands(spans: list[tuple[float, float]], slot: float, plot_h: float, label: str) -> list[str]:
    """Shaded bands for the opening hours (``spans`` in hours from the chart's first bar) and their legend."""
    parts = []
    for start, end in spans:
        x, w = LEFT + start * slot, max((end - start) * slot, 1)
        parts.append(f'<rect class="open" fill="{OPEN}" stroke="{OPEN_EDGE}" stroke-dasharray="4 3" x="{x:.1f}" '
                     f'y="{TOP}" width="{w:.1f}" height="{plot_h:.1f}"/>')
    if spans:
        x = WIDTH - RIGHT - 150
        parts.append(f'<rect fill="{OPEN}" stroke="{OPEN_EDGE}" stroke-dasharray="4 3" x="{x}" y="8" width="14" '
                     'height="12"/>')
        parts.append(_text(x + 20, 18, label, size=11))
    return parts


def bar_chart(series: list[tuple[dt.datetime, int]], title: str, *, zone: dt.tzinfo | None = None,
              axis_label: str = "entries", labels: Labels | None = None,
              open_spans: list[tuple[float, float]] | None = None) -> str:
    words = labels or Labels(title, axis_label)
    ticks = _ticks(max((n for _, n in series), default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    parts = [_text(LEFT, 20, words.title, size=13), *_open_bands(open_spans or [], slot, plot_h, words.open_hours)]
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(LEFT - 6, y + 4, str(tick), "end", 10))
    parts.append(_text(12, TOP + plot_h / 2, words.y_axis, "middle", 11).replace(
        "<text ", f'<text transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" ', 1))
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 8, words.x_axis, "middle", 11))
    for i, (start, n) in enumerate(series):
        local = start.astimezone(zone)
        h = plot_h * n / top
        x = LEFT + i * slot
        parts.append(f'<rect class="bar" fill="{BAR}" x="{x + 1:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{max(slot - 2, 1):.1f}" height="{h:.1f}"><title>{local:%d/%m/%Y %H}:00: {n}</title>'
                     "</rect>")
        if i % 3 == 0:  # the label and its tick at the hour's start, where the band's edges are measured from
            parts.append(f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 4}" stroke="{INK}"/>')
            parts.append(_text(x, TOP + plot_h + 16, f"{local:%H}h", "middle", 10))
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="{INK}"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="{INK}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}"><title>{escape(words.title)}</title>' + "".join(parts) + "</svg>")
