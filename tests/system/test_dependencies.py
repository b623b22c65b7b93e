"""Dependencies (issue 7): every one bounded above by its next major version, known-bad cbor2
releases excluded, and a constraints file that pins versions every bound admits, used by setup.sh."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = ROOT / "constraints.txt"


def requirements() -> list[Requirement]:
    """Every third-party requirement; an extra's ``entryscan[door]`` names the project's own extras, no package."""
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != "entryscan"]


def extra_names(extra: str) -> set[str]:
    """The packages ``extra`` installs with the base, its references to the project's other extras followed."""
    names = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependencies"]}
    for line in PYPROJECT["optional-dependencies"][extra]:
        req = Requirement(line)
        if canonicalize_name(req.name) == "entryscan":
            for other in req.extras:
                names |= extra_names(other)
        else:
            names.add(canonicalize_name(req.name))
    return names


def pins() -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line!r}"
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def test_every_dependency_has_an_upper_bound() -> None:
    unbounded = [str(r) for r in requirements()
                 if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert not unbounded


def test_cbor2_excludes_releases_without_max_depth() -> None:
    (cbor2,) = [r for r in requirements() if r.name == "cbor2"]
    assert not cbor2.specifier.contains("5.8.0")  # before max_depth (CVE-2026-26209)
    assert cbor2.specifier.contains("5.9.0")
    assert not cbor2.specifier.contains("7.0.0")


def test_constraints_pin_every_dependency_within_its_bounds() -> None:
    pinned = pins()
    for req in requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue  # lgpio: only on a Pi, where apt provides it
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pinned[name]), f"{req.name}=={pinned[name]} is outside {req}"


def test_setup_installs_with_the_constraints() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if re.search(r"pip install .*-e", line)]
    assert installs and all("-c constraints.txt" in line for line in installs)


def test_hw_test_extra_installs_what_hw_tests_import() -> None:
    import sys

    hw_test = extra_names("hw-test")
    runtime = extra_names("pi")
    imported = set()
    for path in (ROOT / "hw_tests").glob("*.py"):
        imported |= set(re.findall(r"^(?:from|import) (\w+)", path.read_text(), re.MULTILINE))
    third_party = imported - set(sys.stdlib_module_names) - {"entryscan", "hw_tests", "__future__"}
    assert third_party and {canonicalize_name(m) for m in third_party} <= hw_test | runtime


def test_the_bookworm_constraints_differ_only_in_numpy() -> None:
    """constraints-bookworm.txt is constraints.txt with numpy at Debian 12's python3-numpy (1:1.24.2), which
    picamera2's simplejpeg is built against; everything else stays as the suite passed with."""
    main = pins()
    bookworm: dict[str, Version] = {}
    for line in (ROOT / "constraints-bookworm.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            bookworm[canonicalize_name(name)] = Version(version)
    assert bookworm.pop("numpy") == Version("1.24.2") and main.pop("numpy") != Version("1.24.2")
    assert bookworm == main
    assert all(r.specifier.contains("1.24.2") for r in requirements() if r.name == "numpy")
