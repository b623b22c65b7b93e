"""Server-rendered HTML pages; every value from the store or a request goes through ``escape``."""

from __future__ import annotations

from html import escape
from typing import Any

from entryscan.collector.venue import BoardCheck

ENTRY_COLUMNS = ("ts", "site", "device", "seq", "decision", "reason", "credential_type", "subject")
FLEET_COLUMNS = ("entries", "accepts", "denies", "missing", "last_entry_ts", "open_alerts")


def layout(title: str, body: str, *, user: str | None = None, live: bool = False) -> str:
    nav = ""
    if user:
        nav = ('<a href="/fleet">Fleet</a><a href="/compliance">Compliance</a><a href="/reports">Reports</a>'
               f'<form method="post" action="/logout"><span>{escape(user)}</span> '
               '<button type="submit">Log out</button></form>')
    script = '<script src="/static/live.js" defer></script>' if live else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/app.css">{script}</head>'
            f'<body><header><strong>entryscan</strong>{nav}</header><main><h1>{escape(title)}</h1>{body}</main>'
            '</body></html>')


def _table(headers: tuple[str, ...], rows: str, body_id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    tbody = f'<tbody id="{body_id}">' if body_id else "<tbody>"
    return f"<table><thead><tr>{head}</tr></thead>{tbody}{rows}</tbody></table>"


def _cells(values: list[Any]) -> str:
    return "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in values)


def login_page(error: str = "") -> str:
    message = f'<p class="warn">{escape(error)}</p>' if error else ""
    form = ('<form method="post" action="/login"><label>Name <input name="username" id="username" '
            'autocomplete="username" required></label> <label>Password <input type="password" name="password" '
            'id="password" autocomplete="current-password" required></label> <button type="submit" id="login">'
            'Log in</button></form>')
    return layout("Operator login", message + form)


def fleet_rows(devices: list[dict[str, Any]]) -> str:
    out = []
    for d in devices:
        link = f'<a href="/device/{escape(d["site"])}/{escape(d["device"])}">{escape(d["site"])}/{escape(d["device"])}</a>'
        out.append(f'<tr class="{escape(d["status"])}"><td>{link}</td>{_cells([d["door"]])}'
                   f'<td class="status">{escape(d["status"])}</td>{_cells([d[k] for k in FLEET_COLUMNS])}</tr>')
    return "".join(out)


def entry_rows(entries: list[dict[str, Any]]) -> str:
    return "".join(f'<tr class="entry">{_cells([e[k] for k in ENTRY_COLUMNS])}</tr>' for e in entries)


def alert_rows(alerts: list[dict[str, Any]]) -> str:
    keys = ("raised_at", "source", "rule", "site", "target", "detail")
    return "".join(f'<tr class="alert">{_cells([a.get(k) for k in keys])}</tr>' for a in alerts)


def _hours(age_s: int | None) -> str:
    return "" if age_s is None else f"{age_s // 3600} h {age_s % 3600 // 60:02d} min"


def version_rows(held: dict[str, Any]) -> str:
    cells = [["policy", "", held["policy_version"], held["policy_since"], "", _hours(held["policy_age_s"])]]
    cells += [["list", v["name"], v["version"], v["since"], v["issued_at"], _hours(v["age_s"])] for v in held["lists"]]
    return "".join(f'<tr class="version">{_cells(c)}</tr>' for c in cells)


def dashboard(user: str, devices: list[dict[str, Any]], entries: list[dict[str, Any]],
              alerts: list[dict[str, Any]], reports: list[dict[str, Any]], quarantined: int) -> str:
    body = ("<h2>Doors</h2>"
            + _table(("door", "name", "status", *FLEET_COLUMNS), fleet_rows(devices), "fleet-body")
            + f"<h2>Open alerts ({len(alerts)})</h2>"
            + _table(("raised", "source", "rule", "site", "target", "detail"), alert_rows(alerts))
            + "<h2>Live entries</h2>" + _table(ENTRY_COLUMNS, entry_rows(entries), "entries-body")
            + f'<h2>Citizens\' reports</h2><p><a href="/reports">{len(reports)} open</a>; '
            + f"{quarantined} quarantined messages.</p>")
    return layout("Fleet", body, user=user, live=True)


def reports_page(user: str, reports: list[dict[str, Any]]) -> str:
    rows = []
    for r in reports:
        action = (f'<form method="post" action="/reports/{int(r["id"])}/close"><button>Close</button></form>'
                  if r["open"] else escape(r["closed_at"] or ""))
        rows.append(f'<tr class="report">{_cells([r["created_at"], r["site"], r["venue"], r["body"], r["contact"]])}'
                    f"<td>{action}</td></tr>")
    return layout("Citizens' reports", _table(("received", "site", "venue", "report", "contact", ""), "".join(rows)),
                  user=user)


def device_page(user: str, device: dict[str, Any], svg: str, entries: list[dict[str, Any]],
                reasons: list[dict[str, Any]], held: dict[str, Any]) -> str:
    facts = "".join(f"<tr><th>{escape(k)}</th>{_cells([v])}</tr>" for k, v in device.items()
                    if k not in ("state", "list_versions", "policy_version", "policy_since", "oldest_list_at"))
    state = "".join(f"<tr><th>{escape(str(k))}</th>{_cells([v])}</tr>" for k, v in device["state"].items())
    by_reason = "".join(f'<tr class="reason">{_cells([r["decision"], r["reason"], r["count"]])}</tr>' for r in reasons)
    body = (f'<figure id="chart">{svg}</figure><h2>Door</h2><table>{facts}</table><h2>State</h2><table>{state}</table>'
            "<h2>Policy and lists held</h2>" + _table(("what", "name", "version", "held since", "issued", "age"),
                                                     version_rows(held), "versions-body")
            + "<h2>Decisions by reason</h2>" + _table(("decision", "reason", "count"), by_reason)
            + "<h2>Latest entries</h2>" + _table(ENTRY_COLUMNS, entry_rows(entries)))
    return layout(f"{device['site']}/{device['device']}", body, user=user)


def compliance_page(user: str, day: str, venues: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr>{_cells([v['site'], v['venue'], v['name'], v['hours'], v['entries'], v['longest_idle']])}</tr>"
                   for v in venues)
    form = (f'<form method="get" action="/compliance"><label>Day <input type="date" name="day" value="{escape(day)}">'
            "</label> <button>Show</button></form>")
    return layout(f"Compliance {day}", form + _table(
        ("site", "venue", "name", "opening hours", "entries in hours", "longest span without scans"), rows), user=user)


def venue_page(site: str, venue: str, check: BoardCheck, notice: str = "", query: str = "") -> str:
    if check.genuine:
        verdict = (f'<p class="ok" id="verdict">Genuine board: signed by site {escape(site)} and matching its '
                   "registry.</p>")
    else:
        why = "".join(f"<li>{escape(d)}</li>" for d in check.differences)
        verdict = (f'<p class="warn" id="verdict">Warning: this board is NOT genuine or is out of date '
                   f"(signature: {escape(check.signature)}). Do not trust what it says.</p><ul>{why}</ul>")
    registered = (f'<p>Registered venue: <strong id="venue-name">{escape(check.name)}</strong><br>'
                  f'<span id="venue-address">{escape(check.address)}</span></p>' if check.name else "")
    note = f'<p class="ok" id="notice">{escape(notice)}</p>' if notice else ""
    form = (f'<h2>Report a problem at this venue</h2><form method="post" action="/v/{escape(site)}/{escape(venue)}'
            f'{"?" + escape(query) if query else ""}"><p><textarea name="text" id="report-text" maxlength="1000" '
            'rows="5" required></textarea></p><p><label>Contact (optional) <input name="contact" id="report-contact" '
            'maxlength="200"></label></p><button type="submit" id="report-send">Send report</button></form>')
    return layout(f"Venue {venue}", verdict + registered + note + form)
