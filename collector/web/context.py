"""Per-request facts every route needs: who the client is (through a trusted proxy only), whether the
request came over https, the page's language, the operator logged in, and rendered pages with their cookies."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from entryscan.collector.web import csrf, i18n
from entryscan.collector.web.app import WebApp
from entryscan.collector.web.auth import COOKIE as SESSION_COOKIE


def web(request: Request) -> WebApp:
    app: WebApp = request.app.state.web
    return app


def peer(request: Request) -> str:
    return request.client.host if request.client else ""


def client_address(request: Request) -> str:
    """The peer, unless the peer is a configured trusted proxy: then the nearest address its forwarding
    header names that is not itself a trusted proxy (a client cannot spoof what the proxy appended)."""
    address = peer(request)
    settings = web(request).settings
    if not settings.trusts(address):
        return address
    hops = [h.strip() for h in request.headers.get(settings.proxy_header, "")[:2048].split(",") if h.strip()]
    for hop in reversed(hops):
        if not settings.trusts(hop):
            return hop[:64]
    return address


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    if web(request).settings.trusts(peer(request)):
        return request.headers.get("x-forwarded-proto", "").strip().lower() == "https"
    return False


def own_origins(request: Request) -> set[str]:
    """The origins this office is reached by: the Host the browser asked for (with the scheme the proxy
    saw), and every site's published base_url (what the venue boards point at)."""
    host = request.headers.get("host", "")[:200].lower()
    scheme = "https" if is_https(request) else "http"
    allowed = {f"{scheme}://{host}"} if host else set()
    for site in web(request).sites.values():
        origin = csrf.origin_of(site.base_url) if site.base_url else None
        if origin:
            allowed.add(origin)
    return allowed


def cookie_flags(request: Request) -> str:
    mode = web(request).settings.secure_cookie
    secure = mode == "always" or (mode == "auto" and is_https(request))
    return "; Secure" if secure else ""


def language(request: Request, site: str | None = None) -> str:
    app = web(request)
    default = app.site_language(site) if site else app.language
    return i18n.pick(request.cookies.get(i18n.COOKIE), default, app.languages)


def session(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def user(request: Request) -> str | None:
    app = web(request)
    if app.auth.bearer_ok(request.headers.get("authorization")):
        return "api-token"
    return app.auth.session_user(session(request))


def nonce(request: Request) -> str:
    """This visitor's CSRF cookie value, made on first sight (the response sets it; see ``page``)."""
    found = request.cookies.get(csrf.COOKIE)
    if found and 16 <= len(found) <= 64:
        return found
    cached: str | None = getattr(request.state, "csrf_nonce", None)
    if cached is None:
        cached = csrf.Csrf.new_nonce()
        request.state.csrf_nonce = cached
    return cached


def page(request: Request, template: str, *, status: int = 200, lang: str | None = None,
         **context: Any) -> Response:
    """Render ``template`` in the visitor's language, with a form-token maker and the CSRF cookie."""
    app = web(request)
    lang = lang or language(request)
    visitor = nonce(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context.setdefault("user", None)
    body = app.renderer.render(lang, template, languages=[(code, i18n.LANGUAGE_NAMES[code]) for code in
                                                          app.languages if code in i18n.LANGUAGE_NAMES],
                               here=here[:2048], csrf=lambda form: app.csrf.token(form, visitor), **context)
    response = HTMLResponse(body, status_code=status)
    if request.cookies.get(csrf.COOKIE) != visitor:
        response.headers.append("set-cookie", f"{csrf.COOKIE}={visitor}; Path=/; HttpOnly; SameSite=Strict"
                                + cookie_flags(request))
    return response


def form_ok(request: Request, form_id: str, fields: dict[str, str]) -> bool:
    """The request is same-origin (Origin, else Referer) and carries this visitor's token for ``form_id``."""
    app = web(request)
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("referer"), own_origins(request)):
        return False
    return app.csrf.valid(form_id, request.cookies.get(csrf.COOKIE), fields.get(csrf.FIELD))


def gettext(request: Request, message: str, lang: str | None = None) -> str:
    return web(request).renderer.gettext(lang or language(request), message)
