#!/usr/bin/env bash
# The virtual door (tests/vm, README "Tested on"): builds the Debian 12 image or reuses its cache, boots it
# under QEMU with systemd as PID 1, installs the door with scripts/install-pi.sh and runs the scenarios.
# Needs root (debootstrap, chroot). Extra arguments go to pytest. ENTRYSCAN_VM_CUTS sets the power cuts
# (default 6; the soak uses 20 or more); ENTRYSCAN_VM_ARM64=1 runs only scenario 8, the arm64 guest
# (tests/vm/test_arm64.py; image by tests/vm/image/build-arm64.sh). On a failure the serial console and
# journalctl of the VM are in build/vm/<test>/; QEMU is always stopped (it runs in pytest's process group,
# ended here at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test-vm: run as root (debootstrap and chroot build the image)" >&2; exit 1; }
need_apt=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_apt+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need_apt+=(qemu-utils)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v mke2fs >/dev/null 2>&1 || need_apt+=(e2fsprogs)
# Scenario 2's boot partition is a FAT image made and read on the host without mounting it.
command -v mkfs.fat >/dev/null 2>&1 || need_apt+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || need_apt+=(mtools)
# Scenario 8 (ENTRYSCAN_VM_ARM64=1): the arm64 guest, and qemu-user through binfmt_misc for its image's chroot.
if [ "${ENTRYSCAN_VM_ARM64:-}" = 1 ]; then
  command -v qemu-system-aarch64 >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
  command -v qemu-aarch64-static >/dev/null 2>&1 || need_apt+=(qemu-user-static)
  command -v update-binfmts >/dev/null 2>&1 || need_apt+=(binfmt-support)
fi
if ((${#need_apt[@]})); then
  echo "test-vm: installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
scripts/setup.sh
rm -rf build/vm; mkdir -p build/vm
# Order matters: the power cuts kill and reboot the shared door, so they run last. First boot (scenario 2) boots
# its own VM and site and stops them before the shared door starts, so two VMs never share the 2 cores.
tests=(tests/vm/test_firstboot.py tests/vm/test_install.py tests/vm/test_sandbox.py tests/vm/test_relay.py tests/vm/test_stop.py
       tests/vm/test_upgrade.py tests/vm/test_power.py)
# The arm64 guest (scenario 8) is slow under emulation: one run, alone, when asked for.
if [ "${ENTRYSCAN_VM_ARM64:-}" = 1 ]; then tests=(tests/vm/test_arm64.py); fi
existing=(); for t in "${tests[@]}"; do [ -f "$t" ] && existing+=("$t"); done
started=$(date +%s)
# pytest leads its own process group (setsid), so whatever it started, QEMU included, is ended with it.
setsid env ENTRYSCAN_VM_REQUIRED=1 .venv/bin/python -m pytest -m vm -p no:cacheprovider -s --durations=0 \
  "${existing[@]}" "$@" > >(tee build/vm/pytest.log) 2>&1 &
pid=$!
trap 'kill -KILL -- "-$pid" 2>/dev/null || true' EXIT INT TERM
rc=0; wait "$pid" || rc=$?
echo "test-vm: $(($(date +%s) - started)) s, exit $rc (logs in build/vm/)"
exit "$rc"
