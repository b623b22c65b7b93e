"""A collector web server on a free loopback port, in-process, for HTTP and browser tests."""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from entryscan.collector.live import Live
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.web.auth import hash_password
from entryscan.collector.web.server import Server, make_server

PASSWORD = "correct horse battery"
TOKEN = "t0ken-for-tools-0123456789"


class WebUnderTest:
    def __init__(self, tmp: Path, store: StoreBase, sites: dict[str, SiteInfo] | None = None) -> None:
        users = tmp / "users"
        users.write_text(f"operator:{hash_password(PASSWORD)}\n")
        token = tmp / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        args = argparse.Namespace(http="127.0.0.1:0", users=users, api_token_file=token)
        self.live = Live()
        self.store = store
        self.server: Server = make_server(args, store, self.live, sites or {})
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def request(url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            opener: urllib.request.OpenerDirector | None = None) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def logged_in_opener(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _, _ = request(f"{base}/login", data={"username": "operator", "password": PASSWORD}, opener=opener)
    assert status == 200
    return opener


def api(base: str, path: str) -> Any:
    status, _, body = request(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return json.loads(body)
