"""Request routing for the collector's web server (one instance per request, as http.server does)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import urllib.parse
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any

from entryscan.collector import health
from entryscan.collector.compliance import compliance
from entryscan.collector.store.validate import TextRefused
from entryscan.collector.web import api, pages
from entryscan.collector.web.app import WebApp
from entryscan.collector.web.auth import COOKIE, SESSION_S
from entryscan.collector.web.chart import bar_chart, hourly_counts
from entryscan.collector.web.static import CSS, LIVE_JS

log = logging.getLogger("collector")

MAX_BODY = 16 * 1024
MAX_REPORT = 1000
ID = r"[a-z0-9][a-z0-9_-]{0,62}"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Handler(BaseHTTPRequestHandler):
    server_version = "entryscan-collector"
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops sending is dropped

    @property
    def app(self) -> WebApp:
        return self.server.app  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s %s", self.address_string(), format % args)

    # -- responses -----------------------------------------------------------------------------

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, "Content-Type": content_type, **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def html(self, text: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send(status, text.encode(), "text/html; charset=utf-8", headers)

    def json(self, doc: Any, status: int = 200) -> None:
        self.send(status, json.dumps(doc, ensure_ascii=False).encode(), "application/json", None)

    def redirect(self, where: str, headers: dict[str, str] | None = None) -> None:
        self.send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": where, **(headers or {})})

    # -- auth ------------------------------------------------------------------------------------

    def session(self) -> str | None:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", "")[:4096])
        except CookieError:
            return None
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel else None

    def user(self) -> str | None:
        if self.app.auth.bearer_ok(self.headers.get("Authorization")):
            return "api-token"
        return self.app.auth.session_user(self.session())

    def form(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large\n", "text/plain")
            return None
        raw = self.rfile.read(length).decode("utf-8", "replace")
        fields = urllib.parse.parse_qs(raw, max_num_fields=10)
        return {k: v[0] for k, v in fields.items()}

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, max_num_fields=20).items()}
        path = url.path
        if path == "/healthz":  # 503 while the database or the ingest fails (collector/health.py)
            doc = health.check(self.app.store, self.app.ingest)
            return self.json(doc, HTTPStatus.OK if doc["ok"] else HTTPStatus.SERVICE_UNAVAILABLE)
        if path == "/static/app.css":
            return self.send(200, CSS.encode(), "text/css; charset=utf-8")
        if path == "/static/live.js":
            return self.send(200, LIVE_JS.encode(), "text/javascript; charset=utf-8")
        if path == "/login":
            return self.html(pages.login_page())
        venue = re.fullmatch(f"/v/({ID})/({ID})", path)
        if venue:
            return self.venue(venue[1], venue[2], url.query)
        user = self.user()
        if user is None:
            if path.startswith("/api/"):
                return self.json({"error": "login required"}, HTTPStatus.UNAUTHORIZED)
            return self.redirect("/login")
        return self.operator_get(user, path, query)

    def operator_get(self, user: str, path: str, query: dict[str, str]) -> None:
        store = self.app.store
        if path in ("/", "/fleet"):
            return self.html(pages.dashboard(user, api.fleet(store)["devices"], store.entries(limit=25, newest_first=True),
                                             api.alerts(store, True), store.reports(open_only=True),
                                             store.quarantine(0)[0]))
        if path == "/reports":
            return self.html(pages.reports_page(user, store.reports()))
        if path == "/compliance":
            day = _day(query.get("day"))
            return self.html(pages.compliance_page(user, day.isoformat(), compliance(store, self.app.sites, day)))
        device = re.fullmatch(f"/(device|chart)/({ID})/({ID})(\\.svg)?", path)
        if device:
            return self.device(user, device[1], device[2], device[3], device[4])
        if path == "/api/events":
            return self.events()
        if path == "/metrics" and self.app.metrics is not None:  # collector/metrics.py
            return self.send(200, *self.app.metrics.render())
        if path.startswith("/api/"):
            doc = api.get(store, path, query)
            if doc is None:
                return self.json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            if "error" in doc:
                return self.json(doc, HTTPStatus.BAD_REQUEST)
            return self.json(doc)
        return self.html(pages.layout("Not found", ""), HTTPStatus.NOT_FOUND)

    def device(self, user: str, kind: str, site: str, device: str, suffix: str | None) -> None:
        found = [d for d in self.app.store.devices() if d["site"] == site and d["device"] == device]
        if not found:
            return self.html(pages.layout("Not found", ""), HTTPStatus.NOT_FOUND)
        now = dt.datetime.now(dt.UTC)
        since = (now - dt.timedelta(hours=24)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        svg = bar_chart(hourly_counts(self.app.store.entry_times(site, device, since), now),
                        f"{site}/{device}: entries per hour, last 24 h")
        if kind == "chart":
            return self.send(200, svg.encode(), "image/svg+xml")
        entries = self.app.store.entries(site, device, limit=25, newest_first=True)
        reasons = self.app.store.decisions_by_reason(site, device)
        held = api.versions(self.app.store, now, site, device).get((site, device), api.no_versions())
        return self.html(pages.device_page(user, found[0], svg, entries, reasons, held))

    def events(self) -> None:
        """Server-sent events: one message each time new data was committed."""
        if not self.app.streams.acquire(blocking=False):
            return self.json({"error": "too many live connections"}, HTTPStatus.SERVICE_UNAVAILABLE)
        try:
            self.send_response(200)
            for key, value in {**SECURITY_HEADERS, "Content-Type": "text/event-stream"}.items():
                self.send_header(key, value)
            self.end_headers()
            self.close_connection = True
            version = self.app.live.version
            while not self.app.stopping.is_set():
                new = self.app.live.wait_past(version, 15.0)
                self.wfile.write(f"data: {new}\n\n".encode() if new != version else b": keepalive\n\n")
                self.wfile.flush()
                version = new
        except OSError:
            pass  # the browser went away
        finally:
            self.app.streams.release()

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        form = self.form()
        if form is None:
            return None
        if url.path == "/login":
            return self.login(form)
        venue = re.fullmatch(f"/v/({ID})/({ID})", url.path)
        if venue:
            return self.report(venue[1], venue[2], url.query, form)
        user = self.user()
        if user is None:
            return self.redirect("/login")
        if url.path == "/logout":
            self.app.auth.logout(self.session() or "")
            return self.redirect("/login", {"Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"})
        close = re.fullmatch(r"/reports/(\d{1,18})/close", url.path)
        if close:
            self.app.store.close_report(int(close[1]))
            return self.redirect("/reports")
        return self.html(pages.layout("Not found", ""), HTTPStatus.NOT_FOUND)

    def login(self, form: dict[str, str]) -> None:
        if not self.app.login_limit.allow(self.client_address[0]):
            return self.html(pages.login_page("Too many attempts; wait a few minutes."), HTTPStatus.TOO_MANY_REQUESTS)
        session = self.app.auth.login(form.get("username", "")[:100], form.get("password", "")[:1024])
        if session is None:
            return self.html(pages.login_page("Wrong name or password."), HTTPStatus.UNAUTHORIZED)
        cookie = f"{COOKIE}={session}; Max-Age={SESSION_S}; Path=/; HttpOnly; SameSite=Strict"
        return self.redirect("/fleet", {"Set-Cookie": cookie})

    # -- public venue pages ------------------------------------------------------------------------

    def venue(self, site_id: str, venue_id: str, query: str, notice: str = "", status: int = 200) -> None:
        site = self.app.sites.get(site_id)
        if site is None:
            return self.html(pages.layout("Unknown site", '<p class="warn" id="verdict">Warning: this board names a '
                                          "site this office does not know. It is not genuine.</p>"),
                             HTTPStatus.NOT_FOUND)
        base = site.base_url or f"http://{self.headers.get('Host', '')[:200]}"
        check = self.app.boards.check(site, f"{base}/v/{site_id}/{venue_id}?{query[:1024]}")
        return self.html(pages.venue_page(site_id, venue_id, check, notice, query[:1024]), status)

    def report(self, site_id: str, venue_id: str, query: str, form: dict[str, str]) -> None:
        text = form.get("text", "").strip()
        contact = form.get("contact", "").strip()[:200]
        site = self.app.sites.get(site_id)
        if site is None or venue_id not in site.venues:
            return self.html(pages.layout("Unknown venue", ""), HTTPStatus.NOT_FOUND)
        if not text or len(text) > MAX_REPORT:
            return self.venue(site_id, venue_id, query, "The report must be 1 to 1,000 characters.",
                              HTTPStatus.BAD_REQUEST)
        if not self.app.report_limit.allow(self.client_address[0]):
            return self.venue(site_id, venue_id, query, "Too many reports from here; please try again later.",
                              HTTPStatus.TOO_MANY_REQUESTS)
        try:
            self.app.store.add_report(site_id, venue_id, text, contact, self.client_address[0])
        except TextRefused:
            return self.venue(site_id, venue_id, query, "The report holds characters that cannot be stored.",
                              HTTPStatus.BAD_REQUEST)
        self.app.live.bump()
        return self.venue(site_id, venue_id, query, "Thank you: your report was received.")


def _day(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(text or "")
    except ValueError:
        return dt.date.today()
