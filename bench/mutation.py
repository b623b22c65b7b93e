"""Mutation testing of ``device/delivery`` and ``collector/web`` (``python -m bench mutation``; on request only).

mutmut's own mutation operators (``mutmut.list_mutations`` / ``mutmut.mutate``, mutmut 2.5) make the mutants;
running all of them (about 3,000, each with its tests against a real broker or web server) takes many hours
on two cores, so a seeded random sample of ``BENCH_MUTANTS`` per package (default 30) is run. Each mutant is
written into a copy of the checkout (never the checkout itself), and the tests that import the mutated module
(found by name in tests/) run against it; a mutant is killed when they fail or time out. One JSON line per
mutant, then the score per package. Needs mutmut: ``pip install mutmut==2.5.1``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Mode, emit

PACKAGES = {"device/delivery": "entryscan.device.delivery", "collector/web": "entryscan.collector.web"}
SLOW = ("test_hostile_mqtt.py", "test_collector_browser.py", "test_collector_web_connections.py")
TIMEOUT_S = 600
# A module no test imports by name (a page module, reached through the web server) is judged by these.
FALLBACK = {"device/delivery": ["tests/delivery/test_publisher.py", "tests/delivery/test_journal.py"],
            "collector/web": ["tests/collector/test_collector_web.py", "tests/collector/test_collector_web_forms.py",
                              "tests/collector/test_collector_session_expiry.py"]}


def copy_checkout(into: Path) -> tuple[Path, Path]:
    src = into / "src"
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".git", ".typecheck", "build", "mutants", "__pycache__",
                                                  ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.db"))
    pkg = into / "pkg" / "entryscan"
    pkg.mkdir(parents=True)
    for top in ("device", "collector", "provisioning"):
        (pkg / top).symlink_to(src / top)
    return src, into / "pkg"


def tests_of(src: Path, module: str) -> list[str]:
    """Test files that import ``module`` (``entryscan.device.delivery.journal``, or ``from ... import journal``)."""
    package, _, name = module.rpartition(".")
    pattern = re.compile(rf"\b{re.escape(module)}\b|from {re.escape(package)} import [^\n]*\b{name}\b")
    found = []
    for path in sorted((src / "tests").rglob("test_*.py")):
        if path.name not in SLOW and pattern.search(path.read_text(encoding="utf-8", errors="replace")):
            found.append(str(path.relative_to(src)))
    return found


def run_tests(src: Path, pkg: Path, tests: list[str]) -> tuple[bool, float]:
    env = dict(os.environ, PYTHONPATH=str(pkg), GPIOZERO_PIN_FACTORY="mock")
    env.pop("CI", None)
    t0 = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=src, env=env, capture_output=True, timeout=TIMEOUT_S, check=False)
        passed = done.returncode == 0
    except subprocess.TimeoutExpired:
        passed = False
    return passed, time.monotonic() - t0


def sample(src: Path, folder: str, count: int, rng: random.Random) -> list[tuple[Path, object]]:
    from mutmut import Context, list_mutations

    every: list[tuple[Path, object]] = []
    for path in sorted((src / folder).glob("*.py")):
        if path.name == "__init__.py":
            continue
        ctx = Context(source=path.read_text(encoding="utf-8"), filename=str(path), dict_synonyms=[])
        every += [(path, m) for m in list_mutations(ctx)]
    emit("mutation", "mutants_total", len(every), "mutants", package=folder)
    return rng.sample(every, min(count, len(every)))


def main(mode: Mode) -> None:
    from mutmut import Context, mutate

    count = int(os.environ.get("BENCH_MUTANTS", mode.pick(2, 30)))
    rng = random.Random(int(os.environ.get("BENCH_MUTANTS_SEED", "18")))
    with tempfile.TemporaryDirectory(prefix="entryscan-mutation-") as tmp:
        src, pkg = copy_checkout(Path(tmp))
        baseline: dict[tuple[str, ...], bool] = {}  # tests -> they pass unmutated (else their mutants are skipped)
        for folder, package in PACKAGES.items():
            killed = tested = 0
            for path, mutation in sample(src, folder, count, rng):
                module = f"{package}.{path.stem}"
                tests = tests_of(src, module) or FALLBACK[folder]
                if tuple(tests) not in baseline:
                    baseline[tuple(tests)] = run_tests(src, pkg, tests)[0]
                    if not baseline[tuple(tests)]:
                        emit("mutation", "baseline_failed", None, "", package=folder, tests=" ".join(tests))
                if not baseline[tuple(tests)]:
                    continue
                original = path.read_text(encoding="utf-8")
                mutated, applied = mutate(Context(source=original, mutation_id=mutation, filename=str(path),
                                                  dict_synonyms=[]))
                if not applied:
                    continue
                path.write_text(mutated, encoding="utf-8")
                try:
                    survived, seconds = run_tests(src, pkg, tests)
                finally:
                    path.write_text(original, encoding="utf-8")
                tested += 1
                killed += not survived
                emit("mutation", "mutant", "survived" if survived else "killed", "", package=folder,
                     file=str(path.relative_to(src)), line=int(getattr(mutation, "line_number", -1)) + 1,
                     source=str(getattr(mutation, "line", ""))[:120], tests=len(tests), seconds=round(seconds, 1))
            emit("mutation", "score", killed / tested if tested else None, "killed/tested", package=folder,
                 killed=killed, tested=tested)
