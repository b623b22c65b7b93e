#!/usr/bin/env bash
# The real Home Assistant suite alone (tests/ha, `pytest -m ha`, deselected from scripts/test.sh's run): builds
# the Home Assistant root once (scripts/ha-root.sh: about 4 minutes and 1.6 GB on a fresh machine, then cached),
# then starts Home Assistant core in it (chroot, so as root) against a test mosquitto and the simulated door.
# About a minute on a built root. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh
root=$(scripts/ha-root.sh)
# With ENTRYSCAN_HA_ROOT set, a root that is not usable fails the suite instead of skipping it.
ENTRYSCAN_HA_ROOT=$root .venv/bin/python -m pytest -q -m ha tests/ha "$@"
