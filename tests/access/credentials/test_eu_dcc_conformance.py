"""dgc-testdata conformance: every case decided as its EXPECTEDRESULTS say.

The loader and the agreement rules live in scripts/dcc_conformance.py (one
implementation for the test and the printed table); this file runs them per
case so a failure names the case.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.paths import REPO, TESTDATA

DCC_DATA = TESTDATA / "eu-dcc"

_spec = importlib.util.spec_from_file_location("dcc_conformance", REPO / "scripts" / "dcc_conformance.py")
assert _spec is not None and _spec.loader is not None
conformance = importlib.util.module_from_spec(_spec)
sys.modules["dcc_conformance"] = conformance
_spec.loader.exec_module(conformance)

KNOWN_KEYS = {f"EXPECTED{s.name}" for s in conformance.eu_dcc.Step} | {
    "EXPECTEDPICTUREDECODE", "EXPECTEDVALIDJSON", "EXPECTEDVALIDOBJECT", "EXPECTEDENCODE"}
CASES = list(conformance.load_cases(DCC_DATA)) if DCC_DATA.is_dir() else []


def test_testdata_present() -> None:
    # The suite must not pass vacuously when the test data is missing.
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: object) -> None:
    result = conformance.evaluate(case)
    assert set(result.case.expected) <= KNOWN_KEYS, "a new EXPECTED key needs an agreement rule"
    disagreeing = {k: result.case.expected[k] for k, ok in result.agree.items() if not ok}
    assert not disagreeing, f"expected {disagreeing}, verifier said {result.text.key()}"
    if result.image is not None:
        assert result.image.key() == result.text.key(), "PNG and PREFIX decided differently"


def test_every_case_has_an_evaluated_expectation() -> None:
    assert all(conformance.evaluate(c).agree for c in CASES)


def test_expired_case_is_denied_expired_and_valid_case_accepted() -> None:
    # Spot check of the reason mapping the table summarises.
    by_name = {c.name: conformance.evaluate(c) for c in CASES}
    assert by_name["common/CO17.json"].text.error.reason == "expired"
    assert by_name["common/CO16.json"].text.error.reason == "not_yet_valid"
    assert by_name["common/CO10.json"].text.error.reason == "rule_failed"
    assert by_name["common/CO5.json"].text.error.reason == "bad_signature"
    assert by_name["common/CO3.json"].text.verified is not None


def test_table_reports_no_disagreement() -> None:
    text, disagreements = conformance.table([conformance.evaluate(c) for c in CASES])
    assert disagreements == 0, text
