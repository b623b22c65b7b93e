"""ASGI middleware in front of every route: security headers on every answer, and early refusals of heads and
bodies the office never reads (an over-long URL or header block, chunked, or a declared length over the
bound), each closing the connection."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entryscan.collector.web.forms import MAX_BODY
from entryscan.collector.web.upload import MAX_UPLOAD, UPLOAD_PATH

log = logging.getLogger("collector")

# h11 bounds a head only while it is incomplete (h11_max_incomplete_event_size, server.py): one sent at once
# arrives in one read of up to 256 KiB and was served, so the head is bounded here too. The office's longest
# URL (a signed board's) is ~300 bytes and a browser's headers ~2 KiB.
MAX_URL = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100

# The chart is drawn with SVG presentation attributes, not a <style> element, so style-src stays 'self'.
CSP = ("default-src 'self'; style-src 'self'; img-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin: the office's own form posts carry their Origin (no-referrer made it "null"), and a
    # venue URL's signature never leaves for another site.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode() + b"\n"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = self._early_refusal(scope)
        if refused is not None:
            log.info("collector: http: %s %s: %s", scope["method"], scope["path"][:200], refused[1])
            return await _refuse(send, *refused)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
        return None

    @staticmethod
    def _early_refusal(scope: Scope) -> tuple[int, str] | None:
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL:
            return 414, f"URL too long (over {MAX_URL} bytes)"
        headers = scope.get("headers", [])
        if len(headers) > MAX_HEADERS or sum(len(k) + len(v) + 4 for k, v in headers) > MAX_HEADER_BYTES:
            return 431, f"headers too long (over {MAX_HEADERS} or {MAX_HEADER_BYTES} bytes)"
        if _header(scope, b"transfer-encoding") is not None:
            return 411, "chunked request bodies are not accepted (send Content-Length)"
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "bad Content-Length"
            # the citizen's report form alone takes a photo; every other body stays within forms.MAX_BODY
            upload = scope["method"] == "POST" and UPLOAD_PATH.fullmatch(scope["path"]) is not None
            if int(length) > (MAX_UPLOAD if upload else MAX_BODY):
                return 413, "request body too large"
        return None
