"""The office's languages: gettext catalogs (Babel's .po, compiled to .mo), the visitor's choice, local times.

Catalogs live in ``locale/<lang>/LC_MESSAGES/messages.po`` next to this file; ``scripts/setup.sh`` and the
wheel build (setup.py) compile them to ``messages.mo``. A checkout whose ``.mo`` is missing or older than
its ``.po`` compiles the ``.po`` in memory at start, so an edited catalog is never silently ignored.
English strings are the msgids; both catalogs translate every one (tests/collector/test_collector_i18n.py).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import logging
from pathlib import Path

log = logging.getLogger("collector")

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("vi", "en")
# Each language named in itself: the switch must be readable by someone who cannot read the other one.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
COOKIE = "es_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
TIME_FORMAT = "%d/%m/%Y %H:%M"


def catalog_paths(lang: str) -> tuple[Path, Path]:
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


def compile_catalog(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def load_translations(lang: str) -> gettext.NullTranslations:
    po, mo = catalog_paths(lang)
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    log.info("collector: compiling the %s catalog in memory (%s has no up-to-date .mo)", lang, po)
    return gettext.GNUTranslations(io.BytesIO(compile_catalog(po)))


def load_all() -> dict[str, gettext.NullTranslations]:
    return {lang: load_translations(lang) for lang in LANGUAGES}


def pick(cookie: str | None, default: str, known: tuple[str, ...] = LANGUAGES) -> str:
    """The visitor's remembered choice when it is one we have, else the site's default."""
    if cookie in known:
        return str(cookie)
    return default if default in known else "en"


def site_default(languages: list[str]) -> str:
    """The office's language: the one all its sites' manifests name, else English."""
    named = {lang for lang in languages if lang}
    return named.pop() if len(named) == 1 else "en"


def local_time(text: object, zone: dt.tzinfo | None) -> str:
    """An ISO 8601 time from the store as ``dd/mm/yyyy HH:MM`` in ``zone`` (the site's), '' when absent."""
    if text is None or text == "":
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).strftime(TIME_FORMAT)
