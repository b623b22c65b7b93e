"""A collector web server (uvicorn + Starlette) on a free loopback port, in-process, for HTTP and browser tests.

Forms carry a CSRF token bound to the visitor's ``es_csrf`` cookie: ``post_form`` reads the page that holds the
form first (as a browser does), then posts with its token and the page's own Origin.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from entryscan.collector.live import Live
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.web.auth import hash_password
from entryscan.collector.web.server import WebServer, make_server

PASSWORD = "correct horse battery"
TOKEN = "t0ken-for-tools-0123456789"


class WebUnderTest:
    def __init__(self, tmp: Path, store: StoreBase, sites: dict[str, SiteInfo] | None = None,
                 **options: Any) -> None:
        users = tmp / "users"
        users.write_text(f"operator:{hash_password(PASSWORD)}\n")
        token = tmp / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        web_options = {k: options.pop(k) for k in ("catalogs", "settings") if k in options}
        args = argparse.Namespace(http=options.pop("http", "127.0.0.1:0"), users=users, api_token_file=token,
                                  **options)
        self.live = Live()
        self.store = store
        self.sites = sites or {}
        self.server: WebServer = make_server(args, store, self.live, sites or {}, **web_options).start()
        self.port = int(self.server.server_address[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def new_opener(follow: bool = False) -> urllib.request.OpenerDirector:
    handlers: list[Any] = [urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())]
    if not follow:
        handlers.append(NoRedirect)
    return urllib.request.build_opener(*handlers)


def request(url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            opener: urllib.request.OpenerDirector | None = None, method: str | None = None,
            ) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive, as HTTP's are) and body."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def form_token(page: str, action: str | None = None) -> str:
    """The CSRF token of the first form on ``page`` (whose action starts with ``action`` when given)."""
    for form in re.finditer(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', page, re.DOTALL):
        if action is None or form[1].startswith(action):
            found = re.search(r'name="csrf" value="([^"]+)"', form[2])
            if found:
                return found[1]
    raise AssertionError(f"no form with a token for {action!r}")


def post_form(page_url: str, data: dict[str, str], *, opener: urllib.request.OpenerDirector | None = None,
              action: str | None = None, headers: dict[str, str] | None = None,
              ) -> tuple[int, Message, bytes]:
    """GET ``page_url``, then POST ``data`` with that page's token to its form's action (default: the page)."""
    opener = opener or new_opener()
    status, _, body = request(page_url, opener=opener)
    assert status in (200, 400, 403, 429), status
    parts = urllib.parse.urlsplit(page_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    target = origin + action if action else page_url
    token = form_token(body.decode(), urllib.parse.urlsplit(target).path)
    return request(target, data={**data, "csrf": token}, opener=opener,
                   headers={"Origin": origin, **(headers or {})})


def logged_in_opener(base: str) -> urllib.request.OpenerDirector:
    opener = new_opener(follow=True)
    status, _, _ = post_form(f"{base}/login", {"username": "operator", "password": PASSWORD}, opener=opener)
    assert status == 200
    return opener


def api(base: str, path: str) -> Any:
    status, _, body = request(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return json.loads(body)
