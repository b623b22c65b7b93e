"""The map's settings and its plain fallback.

``--map-tiles`` names the tile server (a URL template with ``{z}``, ``{x}`` and ``{y}``; OpenStreetMap's by
default, ``none`` for an office without Internet). Only the map page's Content-Security-Policy names the
tile server's origin, and only when one is configured, so no other page may load anything from it.

The plain map is a server-rendered SVG placing each venue by its registry coordinates on a blank
background, with its name beside the point: what the page shows before (and without) JavaScript and tiles,
and what ``map.js`` keeps as the labels when no tile server is configured or reachable.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass
from html import escape

from entryscan.collector.violations import Premises
from entryscan.collector.web.guard import CSP
from entryscan.device.errors import ConfigError

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
# Fill per status; the list beside the map says each status in words, so colour is never the only cue.
COLOURS = {"violation": "#b71c1c", "unreadable": "#6a1b9a", "no_doors": "#616161", "compliant": "#2e7d32"}
WIDTH, HEIGHT, PAD = 720, 440, 60


@dataclass(frozen=True)
class TileSettings:
    url: str = OSM_TILES  # "" = no tiles: the points on a plain background
    attribution: str = OSM_ATTRIBUTION

    @property
    def origin(self) -> str:
        """The CSP source of the tile server: its origin, ``{s}.`` (Leaflet's subdomains) as ``*.``."""
        if not self.url:
            return ""
        parts = urllib.parse.urlsplit(self.url)
        host = "*." + parts.netloc[4:] if parts.netloc.startswith("{s}.") else parts.netloc
        return f"{parts.scheme}://{host}"


def parse_tiles(text: str | None, attribution: str | None = None) -> TileSettings:
    """``--map-tiles``: ``none``/empty for no tiles, else an http(s) template naming {z}, {x} and {y}."""
    if text is None:
        return TileSettings(attribution=OSM_ATTRIBUTION if attribution is None else attribution)
    if text.strip().lower() in ("", "none", "off"):
        return TileSettings("", "")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(k not in text for k in ("{z}", "{x}", "{y}")):
        raise ConfigError("--map-tiles", f"want an http(s) URL with {{z}}, {{x}} and {{y}}, or none; got {text[:40]!r}")
    if "{" in parts.netloc.removeprefix("{s}.") or any(c in text for c in " ;,'\"\\"):  # it goes into a CSP header and an HTML attribute
        raise ConfigError("--map-tiles", "the URL may not hold spaces, quotes, commas, semicolons, backslashes or "
                          "braces in its host other than a leading {s}.")
    return TileSettings(text, attribution if attribution is not None else "")


def csp_with_tiles(origin: str) -> str:
    return CSP.replace("img-src 'self'", f"img-src 'self' {origin}", 1)


def _project(lat: float, lon: float) -> tuple[float, float]:
    """Web Mercator, as the tiles are drawn, so the plain map and the tiled one place points alike."""
    lat = max(min(lat, 85.0), -85.0)
    return math.radians(lon), math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def plain_map(items: list[Premises]) -> str:
    placed = [p for p in items if p.lat is not None and p.lon is not None]
    points = [_project(p.lat, p.lon) for p in placed if p.lat is not None and p.lon is not None]
    if not points:
        return ""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-5)
    scale = min(WIDTH - 2 * PAD, HEIGHT - 2 * PAD) / span
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    parts = [f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#eef3f7" stroke="#9fb3c8"/>']
    for p, (x, y) in zip(placed, points, strict=True):
        px, py = WIDTH / 2 + (x - cx) * scale, HEIGHT / 2 - (y - cy) * scale
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="8" fill="{COLOURS[p.status]}" stroke="#ffffff" '
                     f'stroke-width="2"><title>{escape(p.name)}</title></circle>')
        anchor = "end" if px > WIDTH * 0.7 else "start"
        dx = -12 if anchor == "end" else 12
        parts.append(f'<text x="{px + dx:.1f}" y="{py + 4:.1f}" font-size="12" font-family="sans-serif" '
                     f'fill="#1a1a1a" text-anchor="{anchor}">{escape(p.name)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} '
            f'{HEIGHT}" class="plainmap" aria-hidden="true" focusable="false">' + "".join(parts) + "</svg>")
