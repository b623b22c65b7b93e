"""Reading the citizen's report form: ``multipart/form-data`` with one optional photo, within bounds.

The whole body is bounded before a byte of it is parsed: the guard refuses a declared length over
``MAX_UPLOAD`` for the report route (``UPLOAD_PATH``) and this reader stops at the same count while
streaming. Then python-multipart (the parser Starlette itself uses) splits it: at most ``MAX_PARTS``
parts, text fields of at most ``MAX_FIELD`` bytes, one file (``photo``), and a body that does not end
with its closing boundary (a truncated upload) is refused. A URL-encoded post (a form without a photo,
or a tool) is read as the other forms are (``forms.read_form``). Anything else is a 415.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from entryscan.collector.photo import MAX_BYTES
from entryscan.collector.web.forms import FormRefused, read_form, refusal

log = logging.getLogger("collector")

MAX_UPLOAD = MAX_BYTES + 64 * 1024  # the largest photo photo.py takes, and the form's text beside it
MAX_PARTS = 12
MAX_FIELD = 16 * 1024
UPLOAD_PATH = re.compile(r"/v/[^/]{1,63}/[^/]{1,63}")  # the only route that takes more than forms.MAX_BODY
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    photo: bytes = b""
    photo_type: str = ""  # the part's declared Content-Type (lower case, no parameters)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


def _refuse(request: Request, status: int, why: str) -> FormRefused:
    log.info("collector: http: %s %s: %s", request.method, request.url.path[:200], why)
    return FormRefused(refusal(status, why))


async def _body(request: Request, limit: int) -> bytes:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _refuse(request, 413, "request body too large")
    except ClientDisconnect:
        raise FormRefused(refusal(400, "the client went away")) from None
    return bytes(body)


async def read_upload(request: Request) -> Upload:
    kind, options = parse_options_header(request.headers.get("content-type", "")[:500])
    if kind == b"application/x-www-form-urlencoded":
        return Upload(await read_form(request))
    if kind != b"multipart/form-data":
        raise _refuse(request, 415, "send the form as multipart/form-data")
    boundary = options.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise _refuse(request, 400, "a multipart body needs a boundary")
    return _parse(request, await _body(request, MAX_UPLOAD), boundary)


def _parse(request: Request, body: bytes, boundary: bytes) -> Upload:
    parts: list[_Part] = []
    header: list[bytes] = [b"", b""]

    def begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise _refuse(request, 400, "too many form fields")
        parts.append(_Part())

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1].data += chunk[start:end]

    def header_field(chunk: bytes, start: int, end: int) -> None:
        header[0] += chunk[start:end]

    def header_value(chunk: bytes, start: int, end: int) -> None:
        header[1] += chunk[start:end]

    def header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[:] = [b"", b""]

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_part_data": data,  # type: ignore[typeddict-item]
                                        "on_header_field": header_field, "on_header_value": header_value,
                                        "on_header_end": header_end})
    try:
        parser.write(body)
    except FormParserError:
        raise _refuse(request, 400, "malformed multipart body") from None
    if parser.state != MultipartState.END:
        raise _refuse(request, 400, "truncated multipart body")
    return _collect(request, parts)


def _collect(request: Request, parts: list[_Part]) -> Upload:
    upload = Upload()
    for part in parts:
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")[:64]
        if b"filename" in options:
            if name != "photo" or upload.photo:
                raise _refuse(request, 400, "one photo at most")
            upload.photo = bytes(part.data)
            kind, _ = parse_options_header(part.headers.get(b"content-type", b"application/octet-stream"))
            upload.photo_type = kind.decode("latin-1").lower()[:100]
        elif len(part.data) > MAX_FIELD:
            raise _refuse(request, 413, "a form field is too large")
        elif name not in upload.fields:
            upload.fields[name] = part.data.decode("utf-8", "replace")
    return upload
