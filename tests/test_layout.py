"""The layout is the architecture: wings ranked by the path of a scan, no cycles, small modules, one namespace."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import REPO

TOPS = ("device", "collector", "provisioning")
# A device module may import its own wing and any wing of a strictly lower rank.
RANKS = {
    "": 0,  # the root's shared modules: errors, model, ports, keys, sqlitedb
    "config": 1,
    "hardware": 2, "access": 2,
    "scan": 3, "delivery": 3,
    "lifecycle": 4,
    "compose": 5,  # the composition root: builder and daemon
    "cli": 6,
}
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    for top in TOPS:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield "entryscan." + ".".join(parts), path


def imports_of(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, lazily or not (``from X import Y`` counts Y when it is a module)."""
    known = dict(modules())
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(t for t in targets if t in known and t != name)
    return found


def wing(module: str) -> str:
    """``entryscan.device.scan.loop`` -> ``scan``; builder and daemon -> ``compose``; other root modules -> ''."""
    parts = module.split(".")[2:]
    if not parts:
        return ""
    if parts[0] in ("builder", "daemon"):
        return "compose"
    return parts[0] if parts[0] in RANKS else ""


def test_device_wings_import_only_downwards() -> None:
    bad = []
    for name, path in modules():
        if not name.startswith("entryscan.device"):
            continue
        mine = wing(name)
        for target in imports_of(name, path):
            if not target.startswith("entryscan.device"):
                bad.append(f"{name} imports {target} (the firmware never imports the central side)")
                continue
            theirs = wing(target)
            if theirs != mine and RANKS[theirs] >= RANKS[mine]:
                bad.append(f"{name} ({mine or 'root'}) imports {target} ({theirs or 'root'})")
    assert bad == []


def test_no_import_cycles() -> None:
    graph = {name: imports_of(name, path) for name, path in modules()}
    # Package __init__ files are imported implicitly with their children; they are not edges back.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("top", TOPS)
def test_no_module_over_400_lines(top: str) -> None:
    long = {str(p.relative_to(REPO)): n for p in (REPO / top).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_device_root_holds_at_most_ten_modules() -> None:
    assert len(list((REPO / "device").glob("*.py"))) <= 10


def test_every_wing_says_what_it_owns() -> None:
    for package in (REPO / "device").iterdir():
        if (package / "__init__.py").exists():
            doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
            assert doc, f"{package.name}/__init__.py has no docstring"


def test_nothing_imports_the_bare_folder_names() -> None:
    """Only the installed namespace is imported, so no module is ever loaded twice under two names."""
    roots = [REPO / d for d in (*TOPS, "tests", "bench", "scripts", "hw_tests")]
    bare = []
    for path in (p for root in roots for p in root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in TOPS]
        text = path.read_text(encoding="utf-8")
        bare += [f"{path.relative_to(REPO)}: -m {top}" for top in TOPS if f'"-m", "{top}' in text]
    assert bare == []


def test_wheel_installs_one_namespace(tmp_path: Path) -> None:
    """The built wheel has no top-level device/collector/provisioning package, and ships the licence."""
    from setuptools import build_meta  # the backend pyproject names, in-process: no network, no isolation

    cwd = Path.cwd()
    try:
        import os

        os.chdir(REPO)
        wheel = build_meta.build_wheel(str(tmp_path))
    finally:
        os.chdir(cwd)
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"entryscan"}
    assert "entryscan/device/scan/loop.py" in names and "entryscan/collector/__main__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
