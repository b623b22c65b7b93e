"""Catalog completeness: every message id Babel extracts from the office's code and templates has a
non-empty translation in both catalogs, and no page rendered in Vietnamese shows an English message or a
raw code (``policy_age_s``) outside the parts marked ``translate="no"`` or ``lang="en"`` (names, slugs, the
doors' own English details). A stale list's reasons and an unreadable venue's hours error are structured and
worded through the catalogs, so their pages carry no ``lang="en"`` part at all."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from entryscan.collector.rules import RuleSettings
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.app import WebSettings
from entryscan.collector.web.i18n import LOCALE_DIR
from entryscan.collector.web.mapview import TileSettings
from tests.office.office_site import DAY, Office, fill, make_site, operator_pages, public_pages
from tests.support.collector_web import WebUnderTest, logged_in_opener, request
from tests.support.events import alert

WEB = LOCALE_DIR.parent
COLLECTOR = WEB.parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
# Words that read the same in Vietnamese pages (names of things, units, formats).
SAME = {"CSV", "QR", "MB", "JPEG", "PNG", "WebP", "entryscan", "OK"}


def extracted() -> set[str]:
    """What ``scripts/i18n.sh extract`` extracts: web/ (python and templates) plus violations.py and citizens.py."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    ids = {m[2] if isinstance(m[2], str) else m[2][0] for m in
           extract_from_dir(str(WEB), method_map, options, keywords=KEYWORDS)}
    for module in ("violations.py", "citizens.py"):
        ids |= {m[1] if isinstance(m[1], str) else m[1][0]
                for m in extract_from_file("python", str(COLLECTOR / module), keywords=KEYWORDS)}
    return {i for i in ids if i}


def catalog(lang: str) -> dict[str, str]:
    """msgid -> msgstr; a plural's forms (msgid and msgid_plural) each map to its translations, "" if one is missing."""
    out: dict[str, str] = {}
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        for m in read_po(handle):
            if not m.id or m.fuzzy:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            texts = m.string if isinstance(m.string, tuple) else (m.string,)
            for i in ids:
                out[str(i)] = " | ".join(texts) if all(texts) else ""
    return out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_extracted_message_has_a_translation(lang: str) -> None:
    found = catalog(lang)
    ids = extracted()
    assert len(ids) > 200
    missing = sorted(i for i in ids if not found.get(i, "").strip())
    assert not missing, f"{len(missing)} message ids without a {lang} translation (scripts/i18n.sh extract): {missing}"


class Visible(HTMLParser):
    """The text a reader sees, without what is marked as not to be translated (and scripts and styles; the charts' SVG text counts)."""

    SKIP = frozenset({"script", "style"})
    VOID = frozenset({"br", "img", "input", "meta", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hidden = (bool(self.stack) and self.stack[-1]) or tag in self.SKIP or a.get("translate") == "no" \
            or a.get("lang") == "en"
        if not hidden:  # what a screen reader says for it, or a button's text
            self.parts += [a.get("aria-label") or "", a.get("value") or "" if tag == "button" else ""]
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = Visible()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def english_fragments(vi: dict[str, str]) -> list[str]:
    """Pieces of every English message whose Vietnamese differs: none may show on a Vietnamese page."""
    out = set()
    for msgid, text in vi.items():
        if msgid == text:
            continue
        for piece in re.split(r"%\(\w+\)s|%s|[:;,.()!?]", msgid):
            piece = piece.strip()
            if len(piece) >= 3 and piece not in SAME and re.search(r"[a-z]{2}", piece):
                out.add(piece)
    return sorted(out, key=len, reverse=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreBase]:
    s = open_store(tmp_path / "c.db")
    fill(s)
    yield s
    s.close()


def test_no_vietnamese_page_shows_english_or_raw_codes(tmp_path: Path, store: StoreBase) -> None:
    office: Office = make_site(tmp_path)
    web = WebUnderTest(tmp_path, store, office.sites,
                       settings=WebSettings(rules=RuleSettings(offline_s=0), map_tiles=TileSettings("", "")))
    try:
        opener: urllib.request.OpenerDirector = logged_in_opener(web.base)
        request(f"{web.base}/lang/vi?next=/", opener=opener)
        pieces = english_fragments(catalog("vi"))
        problems = []
        for name, path in operator_pages() + public_pages(office, web.base):
            _, _, body = request(web.base + path, opener=opener)
            text = visible_text(body.decode())
            problems += [f"{name}: English {p!r}" for p in pieces if re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", text)]
            problems += [f"{name}: raw code {c!r}" for c in re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", text)]
        assert not problems, "\n".join(problems)
    finally:
        web.stop()


# The English the rules and the hours parser write for machines (alerts, logs): never on a Vietnamese page.
ENGLISH_DETAILS = ("h old", "issued 20", "reported stale by the door", "behind the site", "cannot be read",
                   "no time span", "want e.g.")


def stale_door(store: StoreBase) -> None:
    """door-3 (nha-thi-dau) holds revoked 2, issued 8 days ago, behind door-1's 3, and reported it stale itself."""
    issued = int((dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).timestamp())
    store.ingest_batch([
        ("entryscan/q1/door-3/state", json.dumps({"camera": "ok", "lists": {"revoked": 2},
                                                  "lists_issued": {"revoked": issued}}).encode()),
        ("entryscan/q1/door-3/alert", alert("list_stale", device="door-3", site="q1", name="revoked", version=2))])


def test_a_stale_list_and_an_unreadable_venue_are_worded_in_vietnamese(tmp_path: Path, store: StoreBase) -> None:
    stale_door(store)
    office = make_site(tmp_path)
    web = WebUnderTest(tmp_path, store, office.sites, settings=WebSettings(map_tiles=TileSettings("", "")))
    try:
        opener = logged_in_opener(web.base)
        request(f"{web.base}/lang/vi?next=/", opener=opener)
        for path in (f"/?day={DAY}", f"/premises/q1/nha-thi-dau?day={DAY}", f"/premises/q1/nha-van-hoa?day={DAY}"):
            _, _, body = request(web.base + path, opener=opener)
            page = body.decode()
            assert 'data-code="stale_list"' in page or "nha-thi-dau" not in path
            assert 'data-code="venue_unreadable"' in page or "nha-van-hoa" not in path
            reasons = "".join(re.findall(r'<ul class="reasons">.*?</ul>\n', page, re.DOTALL))
            assert 'lang="en"' not in reasons, path  # (the language switcher names "English" in English)
            assert [e for e in ENGLISH_DETAILS if e in page] == [], path
        assert "sometimes" in page  # the offending token is quoted, as typed
    finally:
        web.stop()


def test_evidence_with_only_an_english_detail_still_shows_it_marked_as_english() -> None:
    """Evidence of the older shape (a string, no code): shown as it is, marked ``lang="en"``, never a crash."""
    import gettext

    from entryscan.collector.violations import Premises, Reason
    from entryscan.collector.web.render import make_environment

    env = make_environment(gettext.NullTranslations(), lambda site: None)
    reasons = [Reason("stale_list", {"doors": [{"device": "door-3", "detail": "revoked 2 is 192 h old"}]}, 1),
               Reason("venue_unreadable", {"detail": "opening_hours: bad day 'x'"}, 1)]
    p = Premises("q1", "v", "V", "", "", "", None, None, ["door-3"], "violation", reasons)
    html = env.from_string('{% from "evidence.html" import reason_items %}{{ reason_items(p) }}').render(p=p)
    assert '<span lang="en" translate="no">revoked 2 is 192 h old</span>' in html
    assert '<span lang="en" translate="no">opening_hours: bad day &#39;x&#39;</span>' in html
