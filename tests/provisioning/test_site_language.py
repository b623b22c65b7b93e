"""A new site's pages are Vietnamese unless its technician says otherwise (issue 16: `language = "vi"`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from entryscan.collector.site import load_site
from entryscan.device.errors import ConfigError
from entryscan.provisioning import manifest
from entryscan.provisioning.site import init_site


def test_a_new_site_is_vietnamese_by_default_and_the_collector_reads_it(tmp_path: Path) -> None:
    init_site(tmp_path / "pd", "pd", "Phong Điền")
    assert 'language = "vi"' in (tmp_path / "pd" / "site.toml").read_text(encoding="utf-8")
    assert load_site(tmp_path / "pd", dt.UTC).language == "vi"


def test_an_english_site_says_so(tmp_path: Path) -> None:
    init_site(tmp_path / "hq", "hq", "HQ", language="en")
    assert manifest.load(tmp_path / "hq").language == "en"
    assert load_site(tmp_path / "hq", dt.UTC).language == "en"


def test_an_unknown_language_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--language"):
        init_site(tmp_path / "x", "x", "X", language="fr")
    assert not (tmp_path / "x").exists()
