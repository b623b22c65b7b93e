"""Citizens' reports from a venue board's page: what is accepted, how often, and how much is kept.

``submit`` checks one report and files it, returning the citizen's receipt code, or raises
:class:`ReportRefused` with a code (translatable by the pages; the citizen's text is theirs to keep).
Bounds: a valid board signature (the URL the citizen scanned), a category, at most ``MAX_TEXT``
characters, a phone number or e-mail address or nothing, a photo re-encoded without metadata
(``collector.photo``), so many reports per client address and per board in a window (counted in the
store, so every collector process and a restart see the same counts), and storage caps: at the cap new
reports (or their photos) are refused, and from ``WARN_AT`` of a cap the rules raise ``report_storage``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from entryscan.collector.photo import PhotoRefused, clean_photo
from entryscan.collector.store.reports import NewReport
from entryscan.collector.store.validate import iso
from entryscan.device.errors import EntryscanError


def N_(message: str) -> str:
    """Marks a message id for the catalogs (Babel extracts ``N_``); the pages translate it when shown."""
    return message


CATEGORIES: dict[str, str] = {
    "no_board": N_("No QR board at the entrance"),
    "wrong_place": N_("The board names another place"),
    "cannot_scan": N_("The board cannot be scanned"),
    "not_checking": N_("Staff do not check the QR codes"),
    "other": N_("Other"),
}
STATES: dict[str, str] = {"received": N_("Received"), "assigned": N_("Sent to the commune"),
                          "answered": N_("Answered"), "closed": N_("Closed")}
REFUSALS: dict[str, str] = {
    "bad_board": N_("This page was not opened from a genuine board of this site, so it cannot take reports."),
    "bad_category": N_("Please choose what the problem is."),
    "bad_text": N_("Please describe the problem in at most 1,000 characters."),
    "bad_contact": N_("Please give a phone number or an e-mail address, or leave it empty."),
    "photo_too_large": N_("The photo is too large (at most 8 MB and 40 megapixels)."),
    "photo_not_image": N_("The photo could not be read; please send a JPEG, PNG or WebP picture."),
    "rate_limited_address": N_("Too many reports from here; please try again later."),
    "rate_limited_board": N_("This venue has received many reports just now; please try again later."),
    "storage_full": N_("Reports cannot be stored at the moment; please try again later."),
}
MAX_TEXT = 1000
WARN_AT = 0.9
KEEP_CLOSED_DAYS = 365  # ``--keep-closed-days``: how long a closed report (and its photo) is kept
AGE_EVERY_S = 3600.0
AGE_BATCH = 500  # reports deleted per transaction: a large first ageing never holds the store for long
log = logging.getLogger("collector")
_PHONE = re.compile(r"\+?[0-9][0-9 .-]{6,18}[0-9]")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


class ReportRefused(EntryscanError):
    def __init__(self, code: str) -> None:
        super().__init__(REFUSALS[code])
        self.code = code


@dataclass(frozen=True)
class ReportLimits:
    per_address: int = 3
    address_window_s: float = 600
    per_board: int = 20
    board_window_s: float = 3600
    max_reports: int = 100_000
    max_photo_bytes: int = 2 * 1024**3


DEFAULT_LIMITS = ReportLimits()


@dataclass(frozen=True)
class ReportForm:
    category: str
    text: str = ""
    contact: str = ""
    photo: bytes = b""
    share_place: bool = False


def check_contact(text: str) -> str:
    contact = text.strip()
    if contact and not (len(contact) <= 200 and (_PHONE.fullmatch(contact) or _EMAIL.fullmatch(contact))):
        raise ReportRefused("bad_contact")
    return contact


def submit(store: Any, board: Any, site: str, venue: str, form: ReportForm, client: str,
           limits: ReportLimits = DEFAULT_LIMITS, now: dt.datetime | None = None) -> str:
    """File one report for the board ``board`` (a ``collector.venue.BoardCheck``); returns the receipt."""
    if board is None or board.signature != "ok" or board.current_version is None:
        raise ReportRefused("bad_board")
    if form.category not in CATEGORIES:
        raise ReportRefused("bad_category")
    text = form.text.strip()
    if len(text) > MAX_TEXT or (form.category == "other" and not text):
        raise ReportRefused("bad_text")
    contact = check_contact(form.contact)
    _check_rates(store, site, venue, client, limits, now or dt.datetime.now(dt.UTC))
    count, photo_bytes = store.report_usage()
    if count >= limits.max_reports:
        raise ReportRefused("storage_full")
    photo = None
    if form.photo:
        try:
            photo = clean_photo(form.photo, keep_place=form.share_place)
        except PhotoRefused as exc:
            raise ReportRefused(exc.code) from None
        if photo_bytes + len(photo.data) > limits.max_photo_bytes:
            raise ReportRefused("storage_full")
    report = NewReport(site, venue, form.category, text, contact, client, board.board_version,
                       photo.data if photo else b"", photo.mime if photo else "", photo.place if photo else None)
    return str(store.file_report(report)[1])


def _check_rates(store: Any, site: str, venue: str, client: str, limits: ReportLimits, now: dt.datetime) -> None:
    if store.reports_since(iso(now - dt.timedelta(seconds=limits.address_window_s)), client=client) \
            >= limits.per_address:
        raise ReportRefused("rate_limited_address")
    if store.reports_since(iso(now - dt.timedelta(seconds=limits.board_window_s)), board=(site, venue)) \
            >= limits.per_board:
        raise ReportRefused("rate_limited_board")


def storage_findings(store: Any, limits: ReportLimits = DEFAULT_LIMITS) -> Iterable[tuple[str, str, str]]:
    """The ``report_storage`` alert's findings: a cap at ``WARN_AT`` or more."""
    count, photo_bytes = store.report_usage()
    for target, used, cap, unit in (("reports", count, limits.max_reports, "reports"),
                                    ("photos", photo_bytes, limits.max_photo_bytes, "bytes")):
        if used >= WARN_AT * cap:
            yield "*", target, f"{used} of {cap} {unit} stored ({used / cap:.0%}); at the cap new ones are refused"


def age_reports(store: Any, keep_closed_days: int, now: dt.datetime | None = None) -> int:
    """Delete the reports closed more than ``keep_closed_days`` ago, with their photos and history (open ones stay
    however old); one log line with the count. Returns how many were deleted."""
    cutoff = iso((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_closed_days))
    deleted = 0
    while True:
        n = int(store.delete_closed_reports(cutoff, AGE_BATCH))
        deleted += n
        if n < AGE_BATCH:
            break
    if deleted:
        log.info("collector: deleted %d citizens' reports closed before %s (--keep-closed-days %d)", deleted,
                 cutoff, keep_closed_days)
    return deleted


class ReportAgeing:
    """Ages the report store at most once per ``every_s`` (called after each rules round; never raises: a failed
    ageing is retried next time, the rules go on)."""

    def __init__(self, store: Any, keep_closed_days: int, every_s: float = AGE_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.keep_closed_days, self.every_s, self.clock = store, keep_closed_days, every_s, clock
        self.last: float | None = None

    def __call__(self) -> None:
        if self.last is not None and self.clock() - self.last < self.every_s:
            return
        self.last = self.clock()
        try:
            age_reports(self.store, self.keep_closed_days)
        except Exception as exc:  # noqa: BLE001 - the database may be down for a moment: next round tries again
            log.error("collector: ageing the citizens' reports failed: %s", exc)
