#!/usr/bin/env bash
# Idempotent setup for a fresh Debian / Raspberry Pi OS machine:
# apt packages (mosquitto, libzbar0, poppler-utils, systemd; postgresql and
# chromium for the collector's tests), a virtualenv in .venv, and entryscan with its dev
# tools, pinned by constraints.txt (the versions the suite passed with).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
ldconfig -p 2>/dev/null | grep -q libzbar.so.0 || need_apt+=(libzbar0)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)  # tests rasterise the PDF venue boards
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# systemd-analyze scores the shipped unit and expands its syscall filter (tests/test_systemd_unit.py);
# the package also brings libseccomp2, which the seccomp tests load.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# The collector's tests make a throwaway PostgreSQL cluster (initdb) and drive a headless Chromium.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# ss counts the web tests' open connections (in CI a test skipped for a missing tool fails).
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
# The virtual door's FAT boot partition (scenario 2), made and read without mounting: tests/vm/test_bootfs.py.
command -v mkfs.fat >/dev/null 2>&1 || need_apt+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || need_apt+=(mtools)
# A second broker for tests/delivery/test_other_brokers.py: Aedes, installed with npm on first use.
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# On a Pi, picamera2 and lgpio come from apt, so the venv must see system packages.
venv_flags=()
if grep -qs "Raspberry Pi" /proc/device-tree/model; then venv_flags+=(--system-site-packages); fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv "${venv_flags[@]}" .venv
fi
# pip's build warnings would bury the demo's output; they are kept in .venv/pip.log and shown on failure.
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"; } \
    > .venv/pip.log 2>&1; then
  cat .venv/pip.log >&2
  exit 1
fi
# The office's translations: compile the committed .po catalogs to the .mo files the collector loads.
PYTHON=.venv/bin/python scripts/i18n.sh compile >/dev/null
