"""Each machine installs what it runs: a door (`door`, or `pi`), the office's server (`collector`), the
technician's laptop (`provision`).

Before: one plain install pulled the door's, the collector's and the technician's dependencies together (a
collector server got the QR decoders and GPIO; the base install carried prometheus-client). Read from the
metadata: pyproject.toml for entryscan's own requirements, then each installed distribution's Requires-Dist, so
the closure is what pip would install. Then each machine's code is imported with every installed distribution
outside its closure made unimportable, so the split cannot leave a machine missing a module it imports.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import REPO

_spec = importlib.util.spec_from_file_location("sbom", REPO / "scripts" / "sbom.py")
assert _spec is not None and _spec.loader is not None
_SBOM = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_SBOM)
WEB = {"starlette", "uvicorn", "jinja2", "babel", "prometheus-client", "h11", "anyio"}
DECODERS = {"numpy", "zxing-cpp", "pyzbar", "gpiozero", "lgpio", "colorzero"}
LAPTOP = {"fpdf2", "fonttools"}
TOOLS = {"pytest", "mypy", "ruff", "hypothesis", "selenium", "schemathesis", "psycopg"}


def _own(extras: set[str]) -> list[Requirement]:
    """entryscan's requirements with these extras (scripts/sbom.py reads them for the door's bill of materials)."""
    requirements: list[Requirement] = _SBOM.own_requirements(extras)
    return requirements


def closure(extras: set[str]) -> set[str]:
    """The distributions an install of ``entryscan[extras]`` brings, following Requires-Dist on this machine."""
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in _own(extras)
            if r.marker is None or r.marker.evaluate({"extra": ""})]
    seen: set[str] = set()
    while todo:
        name, wanted = todo.pop()
        if name in seen and not wanted:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {"", *wanted}):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return seen


def test_the_base_install_is_what_every_machine_shares() -> None:
    assert closure(set()) == {"paho-mqtt", "cbor2", "cryptography", "cffi", "pycparser"}


def test_a_door_gets_no_web_stack_laptop_tools_or_test_tools() -> None:
    door = closure({"pi"})
    assert {"numpy", "zxing-cpp", "pyzbar", "gpiozero", "pillow", "paho-mqtt"} <= door
    assert door & (WEB | LAPTOP | TOOLS) == set()
    assert closure({"door"}) == door  # lgpio only on a Pi (its marker), from apt there


def test_the_collector_gets_no_decoders_gpio_or_laptop_tools() -> None:
    collector = closure({"collector", "postgres"})
    assert {"starlette", "uvicorn", "jinja2", "babel", "prometheus-client", "pillow", "psycopg"} <= collector
    assert collector & (DECODERS | LAPTOP | TOOLS - {"psycopg"}) == set()


def test_the_laptop_gets_no_web_stack_or_gpio() -> None:
    laptop = closure({"provision"})
    assert {"fpdf2", "segno", "zxing-cpp", "pyzbar", "numpy"} <= laptop  # postercheck decodes as a door does
    assert laptop & (WEB | {"gpiozero", "lgpio"} | TOOLS) == set()


PROBE = """
import importlib, pkgutil, sys
blocked = set(sys.argv[1].split(","))
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"not installed on this machine: {name}", name=name)
sys.meta_path.insert(0, Absent())
wing = importlib.import_module(sys.argv[2])
failed = []
for info in pkgutil.walk_packages(wing.__path__, wing.__name__ + "."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.partition(".")[0] in blocked:
            failed.append(f"{info.name}: {exc}")
print("\\n".join(failed))
sys.argv = [sys.argv[3], "--help"]
importlib.import_module(sys.argv[0]).main(["--help"])
"""


def _absent(extras: set[str]) -> str:
    """The top-level modules of every installed distribution outside ``entryscan[extras]``'s closure."""
    allowed = closure(extras) | {"entryscan", "pip", "setuptools"}
    return ",".join(sorted(module for module, dists in packages_distributions().items()
                           if not {canonicalize_name(d) for d in dists} & allowed and not module.startswith("_")))


@pytest.mark.parametrize(("extras", "wing", "cli"), [
    ({"pi"}, "entryscan.device", "entryscan.device.cli.main"),
    ({"collector", "postgres"}, "entryscan.collector", "entryscan.collector.__main__"),
    ({"provision"}, "entryscan.provisioning", "entryscan.provisioning.__main__"),
])
def test_each_machine_runs_with_only_its_extras(extras: set[str], wing: str, cli: str) -> None:
    """Every module of the machine's wing imports, and its command answers --help, with the distributions of
    the other machines absent. (Before the split's fix: the collector's simulated doors imported numpy through
    entryscan.device.model, for a type alias.)"""
    blocked = _absent(extras)
    assert "numpy" in blocked or "numpy" in closure(extras)
    done = subprocess.run([sys.executable, "-c", PROBE, blocked, wing, cli], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("usage:", 1)[0].strip() == "", done.stdout
