"""Jinja2 templates with autoescaping and gettext, one environment per language.

Every value from the store or a request reaches HTML through Jinja's autoescape; the filters turn codes into
their human names (``names``) in the page's language and store times into the site's local time.
"""

from __future__ import annotations

import datetime as dt
import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from entryscan.collector import citizens, violations
from entryscan.collector.web import names
from entryscan.collector.web.i18n import local_time

TEMPLATES = Path(__file__).resolve().parent / "templates"
ZoneOf = Callable[[object], dt.tzinfo | None]


def _hours(age_s: object) -> str:
    if not isinstance(age_s, int):
        return ""
    return f"{age_s // 3600} h {age_s % 3600 // 60:02d} min"


# How a door counted as offline in a premises' evidence (collector.violations) is worded.
DOOR_HOW = {"never_seen": names.N_("never heard from"), "stopped": names.STATES["stopped"],
            "connection_lost": names.STATES["offline"]}


def _isodate(text: object) -> str:
    """A YYYY-MM-DD day as dd/mm/yyyy."""
    try:
        return dt.date.fromisoformat(str(text)).strftime("%d/%m/%Y")
    except ValueError:
        return str(text)


def make_environment(translations: gettext.NullTranslations, zone_of: ZoneOf) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"],
                             trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    tr = translations.gettext

    def named(table: str) -> Callable[[object], str]:
        return lambda code: tr(names.name_of(table, code)) if names.name_of(table, code) else ""

    for table in names.TABLES:
        env.filters[table] = named(table)
    env.filters["alertname"] = lambda code: tr(names.alert_name(code)) if code else ""
    env.filters["when"] = lambda text, site=None: local_time(text, zone_of(site))
    env.filters["duration"] = _hours
    def coded(table: dict[str, str]) -> Callable[[object], str]:
        return lambda code: tr(table.get(str(code), str(code))) if code else ""

    env.filters["vstatus"] = coded(violations.STATUSES)
    env.filters["vreason"] = coded(violations.REASONS)
    env.filters["category"] = coded(citizens.CATEGORIES)
    env.filters["doorhow"] = coded(DOOR_HOW)
    env.filters["isodate"] = _isodate
    env.filters["yesno"] = lambda v: "" if v is None else tr(names.YES if v else names.NO)
    return env


class Renderer:
    def __init__(self, catalogs: dict[str, gettext.NullTranslations], zone_of: ZoneOf) -> None:
        self.catalogs = catalogs
        self._envs = {lang: make_environment(t, zone_of) for lang, t in catalogs.items()}

    def render(self, lang: str, template: str, **context: Any) -> str:
        return self._envs[lang].get_template(template).render(lang=lang, **context)

    def gettext(self, lang: str, message: str) -> str:
        return self.catalogs[lang].gettext(message)
