"""Every message the office's pages can show is translated in both catalogs (Vietnamese and English)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from entryscan.collector.web import i18n

WEB = Path(i18n.__file__).resolve().parent
SOURCES = [*sorted(WEB.glob("*.py")), WEB.parent / "citizens.py"]
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
JINJA = {"trim_blocks": "true", "lstrip_blocks": "true"}


def messages() -> set[str]:
    found: set[str] = set()
    for path, method, options in [*((p, "python", {}) for p in SOURCES),
                                  *((p, "jinja2", JINJA) for p in TEMPLATES)]:
        for _, message, _, _ in extract_from_file(method, str(path), keywords=KEYWORDS, options=options):
            found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    catalog = i18n.load_translations(lang)
    found = messages()
    assert len(found) > 200
    missing = sorted(m for m in found if m not in catalog._catalog or not catalog._catalog[m])  # type: ignore[attr-defined]
    assert missing == [], f"{lang}: {missing}"
