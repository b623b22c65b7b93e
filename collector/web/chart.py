"""Entries per hour as a server-rendered SVG bar chart (nothing loaded from anywhere else)."""

from __future__ import annotations

import datetime as dt
from html import escape

WIDTH, HEIGHT, PAD = 720, 220, 32


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


def bar_chart(series: list[tuple[dt.datetime, int]], title: str) -> str:
    peak = max((n for _, n in series), default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(series), 1)
    bars, labels = [], []
    for i, (start, n) in enumerate(series):
        h = (HEIGHT - 2 * PAD) * n / peak
        x = PAD + i * slot
        bars.append(f'<rect class="bar" x="{x + 1:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{slot - 2:.1f}" '
                    f'height="{h:.1f}"><title>{start:%Y-%m-%d %H}:00Z: {n}</title></rect>')
        if i % 3 == 0:
            labels.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="10">{start:%H}h</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}"><title>{escape(title)}</title>'
            f'<style>.bar{{fill:#2a6fb0}} text{{font-family:sans-serif;fill:#333}}</style>'
            f'<text x="{PAD}" y="18" font-size="13">{escape(title)} (max {peak}/h)</text>'
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
            + "".join(bars) + "".join(labels) + "</svg>")
