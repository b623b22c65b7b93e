"""The JSON API under /api/ (a session or ``Authorization: Bearer``), its live events and its OpenAPI text."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from entryscan.collector.web import api
from entryscan.collector.web.context import user, web
from entryscan.collector.web.forms import FormRefused, parse_query
from entryscan.collector.web.openapi import document
from entryscan.collector.web.pagecache import fleet_doc

# Per endpoint, its query parameters whose empty value is not a value (others ignore unknown parameters).
NOT_BLANK = {"/api/entries": ("limit", "before"), "/api/alerts": ("open", "limit", "before"),
             "/api/reports": ("limit", "open", "before"), "/api/quarantine": ("limit", "before")}
KEEPALIVE_S = 15.0
POLL_S = 0.2


def _error(text: str, status: int) -> Response:
    return JSONResponse({"error": text}, status_code=status)


def documents(request: Request) -> Response:
    if user(request) is None:
        return _error("login required", 401)
    try:
        query = parse_query(request.url.query, request.url.path)
    except FormRefused:
        return _error("too many query fields", 400)
    blank = [k for k, v in urllib.parse.parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=20)
             if k in NOT_BLANK.get(request.url.path, ()) and not v]
    if blank:  # parse_qs drops blank values: `open=` or `before=` was answered as if absent (schemathesis)
        return _error(f"{blank[0]} may not be empty", 400)
    app = web(request)
    if request.url.path == "/api/fleet":  # the dashboard's own document, from the same short-lived cache
        doc: dict[str, object] | None = fleet_doc(app.pages)
    else:
        doc = api.get(app.store, request.url.path, query)
    if doc is None:
        return _error("not found", 404)
    if "error" in doc:
        return JSONResponse(doc, status_code=400)
    return JSONResponse(doc)


def metrics(request: Request) -> Response:
    """Prometheus text (collector/metrics.py), behind the login or the API token like the rest of /api/."""
    app = web(request)
    if user(request) is None:
        return _error("login required", 401)
    if app.metrics is None:
        return _error("not found", 404)
    body, content_type = app.metrics.render()
    return Response(body, media_type=content_type)


def openapi(request: Request) -> Response:
    return JSONResponse(document())


async def events(request: Request) -> Response:
    """Server-sent events: one message each time new data was committed (a comment line every 15 s)."""
    if user(request) is None:
        return _error("login required", 401)
    app = web(request)
    if not app.streams.acquire(blocking=False):
        return _error("too many live connections", 503)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"  # starts the generator at once, so its finally always releases the slot
            version, quiet = app.live.version, 0.0
            while not app.stopping.is_set():
                await asyncio.sleep(POLL_S)  # the counter is bumped from the ingest thread; polling it is cheap
                quiet += POLL_S
                if app.live.version != version:
                    version, quiet = app.live.version, 0.0
                    yield f"data: {version}\n\n".encode()
                elif quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield b": keepalive\n\n"
        finally:
            app.streams.release()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"connection": "close"})


def unknown(request: Request) -> Response:
    if user(request) is None:
        return _error("login required", 401)
    return _error("not found", 404)


ROUTES = [
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
    Route("/api/events", events, methods=["GET"]),
    *(Route(f"/api/{name}", documents, methods=["GET"]) for name in ("fleet", "entries", "alerts", "quarantine",
                                                                     "reports")),
    Route("/api/{rest:path}", unknown, methods=["GET"]),
]
