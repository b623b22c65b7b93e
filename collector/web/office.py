"""The district office's pages (login required): premises showing signs of violation (the first page after
login), one premises with its day's chart, the list to send to a commune (CSV and a printable page), the map.

Everything shown comes from ``collector.violations.premises`` (the same list ``entryscan-collector
violations`` prints); this module only picks the day and the commune and renders it.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entryscan.collector.site import SiteInfo
from entryscan.collector.violations import Commune, Premises, premises, write_csv
from entryscan.collector.web import mapview
from entryscan.collector.web.chart import Labels
from entryscan.collector.web.context import gettext, page, user, web
from entryscan.collector.web.daycharts import Place, day_chart
from entryscan.collector.web.forms import parse_query
from entryscan.collector.web.names import N_
from entryscan.collector.web.pages import ID, login_redirect, not_found

MAX_COMMUNE = 200


def _day(request: Request) -> dt.date:
    text = parse_query(request.url.query, request.url.path).get("day", "")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return dt.datetime.now(web(request).default_zone).date()


def _commune(request: Request) -> str | None:
    """``?commune=NAME`` ('' = venues without one), or None when the query names no commune."""
    parse_query(request.url.query, request.url.path)  # the query's bound (too many fields is a 400)
    value = request.query_params.get("commune")
    return None if value is None else value[:MAX_COMMUNE]


def _communes(request: Request, day: dt.date) -> list[Commune]:
    app = web(request)  # reused by the list, the map and the CSV until the next write (5 s at most)
    found: list[Commune] = app.pages.get(f"premises {day.isoformat()}",
                                         lambda: premises(app.store, app.sites, day, settings=app.settings.rules))
    return found


def _labels(request: Request, title: str) -> Labels:
    return Labels(title, gettext(request, N_("entries")), gettext(request, N_("hour (local time)")),
                  gettext(request, N_("opening hours")))


def _places(sites: dict[str, SiteInfo], items: list[Premises]) -> list[Place]:
    return [(sites[p.site], p.venue) for p in items if p.site in sites and p.venue in sites[p.site].venues]


def _commune_charts(request: Request, communes: list[Commune], day: dt.date) -> dict[str, str]:
    app = web(request)
    title = gettext(request, N_("Entries per hour on %(day)s"))
    out = {}
    for c in communes:
        places = _places(app.sites, c.premises)
        if places:
            name = c.name or gettext(request, N_("No commune recorded"))
            out[c.name] = day_chart(app.store, places, day,
                                    _labels(request, f"{name}: {title % {'day': day.strftime('%d/%m/%Y')}}"))
    return out


def violations_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    day, wanted = _day(request), _commune(request)
    communes = [c for c in _communes(request, day) if wanted is None or c.name == wanted]
    return page(request, "violations.html", title=gettext(request, N_("Premises showing signs of violation")),
                user=who, day=day.isoformat(), day_shown=day.strftime("%d/%m/%Y"), communes=communes,
                printable=False, charts={}, commune=wanted)


def print_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    day, wanted = _day(request), _commune(request) or ""
    communes = [c for c in _communes(request, day) if c.name == wanted]
    return page(request, "violations.html", title=gettext(request, N_("Premises showing signs of violation")),
                user=who, day=day.isoformat(), day_shown=day.strftime("%d/%m/%Y"), communes=communes,
                printable=True, charts=_commune_charts(request, communes, day), commune=wanted,
                printed_at=dt.datetime.now(dt.UTC).isoformat(), zone_site=next(iter(web(request).sites), None))


def violations_csv(request: Request) -> Response:
    """The list as CSV for a spreadsheet: UTF-8 with a byte-order mark, without which Excel shows
    Vietnamese as mojibake; statuses and reasons named in the page's language."""
    if user(request) is None:
        return login_redirect()
    day, wanted = _day(request), _commune(request)
    communes = [c for c in _communes(request, day) if wanted is None or c.name == wanted]
    out = io.StringIO()
    write_csv(communes, out, lambda text: gettext(request, text))
    name = f"violations-{day.isoformat()}.csv"
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def premises_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    site_id, venue_id = request.path_params["site"], request.path_params["venue"]
    if not (re.fullmatch(ID, site_id) and re.fullmatch(ID, venue_id)):
        return not_found(request)
    day = _day(request)
    found = [(c, p) for c in _communes(request, day) for p in c.premises if (p.site, p.venue) == (site_id, venue_id)]
    if not found:
        return not_found(request)
    commune, item = found[0]
    app = web(request)
    places = _places(app.sites, [item])
    title = gettext(request, N_("Entries per hour on %(day)s")) % {"day": day.strftime("%d/%m/%Y")}
    svg = day_chart(app.store, places, day, _labels(request, f"{item.name}: {title}")) if places else ""
    return page(request, "premises.html", title=item.name, user=who, p=item, commune=commune, svg=svg,
                day=day.isoformat(), day_shown=day.strftime("%d/%m/%Y"))


def map_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    day = _day(request)
    items = [p for c in _communes(request, day) for p in c.premises]
    tiles = web(request).settings.map_tiles
    response = page(request, "map.html", title=gettext(request, N_("Map of the premises")), user=who,
                    items=items, placed=[p for p in items if p.lat is not None and p.lon is not None],
                    plain=mapview.plain_map(items), tiles=tiles.url, attribution=tiles.attribution,
                    day=day.isoformat(), day_shown=day.strftime("%d/%m/%Y"), map_page=True, colours=mapview.COLOURS)
    if tiles.origin:  # only this page may load images from the configured tile server
        response.headers["content-security-policy"] = mapview.csp_with_tiles(tiles.origin)
    return response


ROUTES = [
    Route("/", violations_page, methods=["GET"]),
    Route("/violations", violations_page, methods=["GET"]),
    Route("/violations.csv", violations_csv, methods=["GET"]),
    Route("/violations/print", print_page, methods=["GET"]),
    Route("/premises/{site}/{venue}", premises_page, methods=["GET"]),
    Route("/map", map_page, methods=["GET"]),
]
