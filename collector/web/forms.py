"""Reading a posted form within bounds: at most ``MAX_BODY`` bytes and ``MAX_FIELDS`` fields.

What does not fit is refused with a short log line (never a traceback) and ``Connection: close``, so no
byte of a refused body is ever read as the start of another request on a kept-alive connection.
"""

from __future__ import annotations

import logging
import urllib.parse

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

log = logging.getLogger("collector")

MAX_BODY = 16 * 1024
MAX_FIELDS = 20
CLOSE = {"connection": "close"}


class FormRefused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def refusal(status: int, text: str) -> Response:
    return PlainTextResponse(text + "\n", status_code=status, headers=CLOSE)


async def read_form(request: Request) -> dict[str, str]:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                log.info("collector: http: %s %s: body over %d bytes refused", request.method, request.url.path,
                         MAX_BODY)
                raise FormRefused(refusal(413, "request body too large"))
    except ClientDisconnect:
        raise FormRefused(refusal(400, "the client went away")) from None
    return parse_form(bytes(body), request.url.path)


def parse_form(body: bytes, path: str) -> dict[str, str]:
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=MAX_FIELDS)
    except ValueError:
        log.info("collector: http: POST %s: more than %d form fields refused", path, MAX_FIELDS)
        raise FormRefused(refusal(400, "too many form fields")) from None
    return {k: v[0] for k, v in fields.items()}


def parse_query(text: str, path: str) -> dict[str, str]:
    try:
        fields = urllib.parse.parse_qs(text, max_num_fields=MAX_FIELDS)
    except ValueError:
        log.info("collector: http: GET %s: more than %d query fields refused", path, MAX_FIELDS)
        raise FormRefused(refusal(400, "too many query fields")) from None
    return {k: v[0] for k, v in fields.items()}
