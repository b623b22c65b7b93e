"""The citizen's side of a report: the board page's form (with a photo), the receipt page and the rating.

A report is filed by ``collector.citizens.submit`` against the board the citizen scanned (its signed URL is
the form's action), so a page not opened from a genuine board cannot file one. The answer is a redirect to
the receipt page ``/r/CODE``: the code (60 random bits, ``store.reports``) is the only key to it, lookups
are counted per client address, and codes that match nothing are counted apart (guessing is refused).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from entryscan.collector.citizens import REFUSALS, ReportForm, ReportRefused, submit
from entryscan.collector.store.reports import normal_receipt
from entryscan.collector.store.validate import TextRefused, has_control, without_control
from entryscan.collector.venue import BoardCheck
from entryscan.collector.web.context import client_address, form_ok, gettext, language, page, web
from entryscan.collector.web.forms import FormRefused, read_form
from entryscan.collector.web.names import N_
from entryscan.collector.web.pages import ID
from entryscan.collector.web.public import board_check, venue_page
from entryscan.collector.web.upload import PHOTO_TYPES, Upload, read_upload

log = logging.getLogger("collector")

# Browsers label a photo by its extension; "application/octet-stream" is what some send for HEIC.
ACCEPTED_TYPES = (*PHOTO_TYPES, "image/jpg", "application/octet-stream")
STATUS = {"bad_board": 403, "photo_too_large": 413, "rate_limited_address": 429, "rate_limited_board": 429,
          "storage_full": 503}
RATINGS = (5, 4, 3, 2, 1)


BUSY = N_("Many reports are being sent right now; please try again in a minute.")
PHOTO_WAIT_S = 20.0


async def report(request: Request) -> Response:
    app = web(request)
    if not app.uploads.acquire(blocking=False):  # refused before its body is read: the connection closes
        response = await run_in_threadpool(venue_page, request, gettext(request, BUSY), "error", 503)
        response.headers["connection"] = "close"
        response.headers["retry-after"] = "60"
        return response
    try:
        try:
            upload = await read_upload(request)
        except FormRefused as refused:
            return refused.response
        return await run_in_threadpool(_report, request, upload)
    finally:
        app.uploads.release()


UNSTORABLE = N_("The report holds characters that cannot be stored; please remove them and send it again.")


def _typed(fields: dict[str, str]) -> dict[str, str]:
    """What the citizen typed, kept for the page that refuses it (bounded: it is sent back; without the control
    characters no report may hold, such as a posted ``%00``, which the page would otherwise carry back)."""
    return {"text": without_control(fields.get("text", "")[:2000], multiline=True),
            "contact": without_control(fields.get("contact", "")[:200]),
            # the first form had no category: a post without one (a tool's) is filed as "other"
            "category": fields.get("category", "other")[:32], "share_place": "1" if fields.get("share_place") else ""}


def _report(request: Request, upload: Upload) -> Response:
    app = web(request)
    site_id, venue_id = request.path_params["site"], request.path_params["venue"]
    lang = language(request, site_id)
    fields, typed = upload.fields, _typed(upload.fields)
    site = app.sites.get(site_id) if re.fullmatch(ID, site_id) else None
    if site is None or venue_id not in site.venues:
        return venue_page(request, status=404)
    check = board_check(request, site)

    def refused(message: str, status: int) -> Response:
        return venue_page(request, gettext(request, message, lang), "error", status, typed, check)

    if not form_ok(request, f"report:{site_id}/{venue_id}", fields):
        log.info("collector: http: report from %s refused: cross-site or expired form", client_address(request))
        return refused(N_("This form has expired or came from another site; nothing was sent. Please send it again."),
                       403)
    if upload.photo and upload.photo_type not in ACCEPTED_TYPES:
        return refused(REFUSALS["photo_not_image"], 415)
    if has_control(fields.get("text", ""), multiline=True) or has_control(fields.get("contact", "")):
        # said as what it is, before the contact's check would call a phone number with a NUL in it malformed
        return refused(UNSTORABLE, 400)
    form = ReportForm(typed["category"], fields.get("text", ""), typed["contact"], upload.photo,
                      typed["share_place"] == "1")
    filed = _file(request, check, form)
    if isinstance(filed, tuple):
        return refused(*filed)
    app.live.bump()
    return RedirectResponse(f"/r/{filed}?new=1", status_code=303)


def _file(request: Request, check: BoardCheck, form: ReportForm) -> str | tuple[str, int]:
    """The new report's receipt code, or why it was refused (a message id and the status)."""
    app = web(request)
    site_id, venue_id = request.path_params["site"], request.path_params["venue"]
    if form.photo and not app.photo_slots.acquire(timeout=PHOTO_WAIT_S):
        return BUSY, 503
    try:
        return submit(app.store, check, site_id, venue_id, form, client_address(request), app.report_limits)
    except ReportRefused as exc:
        log.info("collector: http: report for %s/%s refused: %s", site_id, venue_id, exc.code)
        return REFUSALS[exc.code], STATUS.get(exc.code, 400)
    except TextRefused:  # a field checked nowhere above; the store refuses it on either database
        return UNSTORABLE, 400
    finally:
        if form.photo:
            app.photo_slots.release()


def _receipt_page(request: Request, found: dict[str, Any], *, notice: str = "", kind: str = "ok",
                  status: int = 200) -> Response:
    app = web(request)
    site = app.sites.get(str(found["site"]))
    place = site.venues.get(str(found["venue"])) if site else None
    lang = language(request, str(found["site"]))
    code = str(found["receipt"])
    if not notice and request.query_params.get("rated") == "1":
        notice = gettext(request, N_("Thank you: your rating was stored."), lang)
    return page(request, "receipt.html", status=status, lang=lang,
                title=gettext(request, N_("Report %(code)s"), lang) % {"code": code}, report=found,
                venue_name=place.name if place else found["venue"], events=app.store.public_events(code),
                notice=notice, kind=kind, ratings=RATINGS, new=request.query_params.get("new") == "1")


def _message(request: Request, title: str, message: str, status: int) -> Response:
    return page(request, "message.html", status=status, title=gettext(request, title), kind="error",
                message=gettext(request, message))


def _find(request: Request, code: str) -> dict[str, Any] | Response:
    """The report behind ``code``, or the page that refuses the lookup (too many, or no such report)."""
    app = web(request)
    address = client_address(request)
    if app.receipt_misses.exhausted(address) or not app.receipt_limit.allow(address):
        return _message(request, N_("Too many lookups"),
                        N_("Too many receipt codes were looked up from here; please try again later."), 429)
    found = app.store.report_by_receipt(code)
    if found is None:
        app.receipt_misses.allow(address)
        return _message(request, N_("Receipt not found"),
                        N_("No report has this receipt code. Please check the code on your receipt."), 404)
    return found


def receipt(request: Request) -> Response:
    code = request.path_params["code"][:64]
    canonical = normal_receipt(code)
    if canonical is not None and canonical != code:
        return RedirectResponse(f"/r/{canonical}", status_code=303)
    found = _find(request, code)
    return found if isinstance(found, Response) else _receipt_page(request, found)


def lookup(request: Request) -> Response:
    """``/r``: a box to type a receipt code in; ``/r?code=...`` goes to its page."""
    typed = request.query_params.get("code", "")[:64]
    if typed:
        code = normal_receipt(typed)
        if code is not None:
            return RedirectResponse(f"/r/{code}", status_code=303)
    error = gettext(request, N_("A receipt code has 12 letters and digits, like 7K2M-9QXD-4TWB.")) if typed else ""
    return page(request, "lookup.html", status=400 if error else 200, title=gettext(request, N_("Follow a report")),
                error=error, typed=typed)


async def rate(request: Request) -> Response:
    try:
        fields = await read_form(request)
    except FormRefused as refused:
        return refused.response
    return await run_in_threadpool(_rate, request, fields)


def _rate(request: Request, fields: dict[str, str]) -> Response:
    code = request.path_params["code"][:64]
    found = _find(request, code)
    if isinstance(found, Response):
        return found
    lang = language(request, str(found["site"]))
    if not form_ok(request, f"rate:{found['receipt']}", fields):
        return _receipt_page(request, found, kind="error", status=403, notice=gettext(request, N_(
            "This form has expired or came from another site; nothing was sent. Please send it again."), lang))
    text = fields.get("rating", "")
    if not (text.isdigit() and len(text) == 1 and web(request).store.rate_report(code, int(text))):
        return _receipt_page(request, found, kind="error", status=400, notice=gettext(request, N_(
            "Please choose from 1 to 5 stars; a report can be rated once, after it is answered."), lang))
    return RedirectResponse(f"/r/{found['receipt']}?rated=1", status_code=303)


ROUTES = [
    Route("/v/{site}/{venue}", report, methods=["POST"]),
    Route("/r", lookup, methods=["GET"]),
    Route("/r/{code}", receipt, methods=["GET"]),
    Route("/r/{code}/rate", rate, methods=["POST"]),
]
