"""Print the pip requirements of the Home Assistant integrations tests/ha loads (run inside the HA root).

Home Assistant installs an integration's requirements when it first loads it; the suite starts it with
--skip-pip, so the root must hold them beforehand: those of the integrations bootstrap always sets up and of
the ones named on the command line, with their dependencies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from homeassistant import bootstrap, components

BASE = Path(components.__file__).parent
# Voice activity detection for assist_pipeline (a dependency of a default integration): no wheel for this
# Python, and building it needs a C++ compiler in the root. The suite uses no voice; without it only
# assist_pipeline fails to set up.
SKIP = ("pymicro-vad", "pyspeex-noise")


def wanted(extra: list[str]) -> set[str]:
    # What bootstrap sets up whatever the configuration says (bootstrap._get_domains), and the named ones.
    return set(extra) | set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS)


def main() -> None:
    todo, seen, reqs = wanted(sys.argv[1:]), set(), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        manifest = BASE / name / "manifest.json"
        if not manifest.exists():
            continue
        data = json.loads(manifest.read_text())
        reqs.update(r for r in data.get("requirements", []) if not r.startswith(SKIP))
        todo |= set(data.get("dependencies", [])) - seen
    print("\n".join(sorted(reqs)))


if __name__ == "__main__":
    main()
