"""docs/SECURITY.md stays true: every ETSI EN 303 645 provision is listed, and every test it cites exists."""

from __future__ import annotations

import re

from tests.paths import REPO

DOC = (REPO / "docs" / "SECURITY.md").read_text()
# EN 303 645 V2.1.1: provisions per clause (5.1 ... 5.13, then 6).
PROVISIONS = {"5.1": 5, "5.2": 3, "5.3": 16, "5.4": 4, "5.5": 8, "5.6": 9, "5.7": 2, "5.8": 3, "5.9": 3,
              "5.10": 1, "5.11": 4, "5.12": 3, "5.13": 1, "6": 5}


def test_every_provision_is_mapped_once() -> None:
    expected = [f"{clause}-{n}" for clause, count in PROVISIONS.items() for n in range(1, count + 1)]
    listed = re.findall(r"^- \*\*(\d+(?:\.\d+)?-\d+)\*\*", DOC, re.MULTILINE)
    assert listed == expected
    for line in re.findall(r"^- \*\*[\d.-]+\*\* .*$", DOC, re.MULTILINE):
        assert re.search(r"— (met|partly|operator|n/a)", line), line


def test_every_cited_test_exists() -> None:
    cited = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC))
    assert len(cited) > 40
    missing = [f"{path}::{name}" for path, name in sorted(cited)
               if not re.search(rf"^def {name}\(", (REPO / path).read_text(), re.MULTILINE)]
    assert missing == []


def test_the_policy_parts_are_there() -> None:
    for heading in ("## Reporting a vulnerability", "## Supported versions", "## Software bill of materials"):
        assert heading in DOC
