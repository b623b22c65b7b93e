"""Cross-site request refusal: the request's Origin (else Referer) must be the office's own, and every form
carries a token bound to the visitor's ``es_csrf`` cookie and to the form it belongs to.

The cookie is random, HttpOnly and SameSite=Strict, so a page on another site can neither read it nor make
the browser send it; the token is an HMAC over (form, cookie, issue time) with a key that lives only in this
process, so it cannot be made up elsewhere. Tokens expire after ``TOKEN_S``; a form older than that (or
served before a restart) is refused with a page that asks to send it again, keeping what was typed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse

COOKIE = "es_csrf"
FIELD = "csrf"
TOKEN_S = 12 * 3600


class Csrf:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def _mac(self, form: str, nonce: str, issued: int) -> str:
        digest = hmac.new(self._key, f"{form}\n{nonce}\n{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def token(self, form: str, nonce: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        return f"{issued}.{self._mac(form, nonce, issued)}"

    def valid(self, form: str, nonce: str | None, token: str | None, now: float | None = None) -> bool:
        if not nonce or not token or len(token) > 100:
            return False
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit():
            return False
        issued = int(issued_text)
        age = (now if now is not None else time.time()) - issued
        return 0 <= age <= TOKEN_S and hmac.compare_digest(mac, self._mac(form, nonce, issued))


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased; None for anything else."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(origin: str | None, referer: str | None, allowed: set[str]) -> bool:
    """Origin when the browser sent one (``null`` never matches), else the Referer's origin; a request with
    neither (a tool, not a browser) passes here and is left to the form token."""
    if origin is not None:
        return origin.strip().lower() in allowed
    if referer:
        return origin_of(referer) in allowed
    return True
