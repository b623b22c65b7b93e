#!/usr/bin/env bash
# The test command: set up, lint (ruff), type-check (mypy), and run the test suite
# against a real mosquitto, real SQLite and real decoders. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check device collector provisioning tests bench scripts hw_tests
scripts/typecheck.sh
# The software bill of materials (CycloneDX) of what a door installs, into build/sbom (docs/SECURITY.md).
.venv/bin/python scripts/sbom.py build/sbom
.venv/bin/python -m pytest -q "$@"
