#!/usr/bin/env bash
# The test command: set up, lint (ruff), type-check (mypy), and run the test suite
# against a real mosquitto, real SQLite and real decoders. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check device collector provisioning tests bench scripts hw_tests
scripts/typecheck.sh
.venv/bin/python -m pytest -q "$@"
