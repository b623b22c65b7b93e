"""The software bill of materials CI generates (scripts/sbom.py, run by scripts/test.sh into build/sbom).

Run here into a temporary folder: it must be valid CycloneDX, name entryscan (firmware, its version) as the
root, list every runtime dependency from pyproject.toml at its installed version with a package URL, keep the
dependency graph, and leave the developer toolchain out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from entryscan.device import __version__
from tests.paths import REPO


def door_requirements() -> list[Requirement]:
    """What a door installs (``entryscan[pi]``): the base and the door's extra, not the collector's or laptop's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    own = [Requirement(r) for r in extras["pi"] + extras["door"]]
    return [Requirement(r) for r in project["dependencies"]] + [r for r in own if r.name != "entryscan"]


def test_ci_generates_a_valid_cyclonedx_sbom_of_the_runtime_dependencies(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "sbom.py"), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    bom = json.loads((tmp_path / "entryscan.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == ("entryscan", __version__, "firmware")

    components = {canonicalize_name(c["name"]): c for c in bom["components"]}
    runtime = door_requirements()
    for req in runtime:
        if req.marker is not None and not req.marker.evaluate():
            continue  # lgpio: on a Pi only
        name = canonicalize_name(req.name)
        assert name in components, f"{req.name} missing from the SBOM"
        component = components[name]
        assert component["version"] == version(req.name)
        assert req.specifier.contains(component["version"])
        assert component["purl"].startswith(f"pkg:pypi/{name}@")
    # What they pull in is there too (cryptography needs cffi), and the toolchain is not.
    assert "cffi" in components
    assert not {"pytest", "mypy", "ruff", "hypothesis", "cyclonedx-bom", "fpdf2"} & set(components)
    assert not {"starlette", "uvicorn", "jinja2", "prometheus-client"} & set(components)  # the collector's

    graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert sorted(graph[root["bom-ref"]]) == sorted(
        components[canonicalize_name(r.name)]["bom-ref"] for r in runtime if r.marker is None or r.marker.evaluate())
    assert all(ref in graph for ref in (c["bom-ref"] for c in bom["components"]))
    # The full environment's SBOM is kept beside it, for the record.
    assert json.loads((tmp_path / "environment.cdx.json").read_text())["bomFormat"] == "CycloneDX"


def test_the_sbom_tool_is_a_bounded_dev_dependency_pinned_by_the_constraints() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (req,) = [Requirement(r) for r in extras["dev"] if Requirement(r).name == "cyclonedx-bom"]
    assert any(spec.operator == "<" for spec in req.specifier)
    pinned = [line for line in (REPO / "constraints.txt").read_text().splitlines()
              if line.startswith("cyclonedx-bom==")]
    assert pinned and req.specifier.contains(pinned[0].split("==")[1])
    assert "scripts/sbom.py build/sbom" in (REPO / "scripts" / "test.sh").read_text()
