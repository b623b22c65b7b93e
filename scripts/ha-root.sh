#!/usr/bin/env bash
# Build (once) the Debian testing root that the real Home Assistant suite (tests/ha) runs Home Assistant
# core in, and print its path. Current Home Assistant needs Python >= 3.14.2; Debian 12 has 3.11, so the
# root comes from debootstrap (Debian's packages) and Home Assistant from PyPI, pinned in
# tests/ha/requirements.txt.
#
# The root lives outside the checkout, in ENTRYSCAN_HA_CACHE (default /var/cache/entryscan-ha), under a key
# hashed from the build's inputs: change one and a new root is built and the old one removed. A half-built
# root is never used: it is built as build-KEY and renamed root-KEY when complete (a build whose debootstrap
# had finished resumes from there). Needs root (debootstrap, chroot): about 4 minutes and 1.6 GB once.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${ENTRYSCAN_HA_CACHE:-/var/cache/entryscan-ha}
key=$(cat scripts/ha-root.sh scripts/ha/build-root.sh scripts/ha/integration_requirements.py tests/ha/requirements.txt \
  | sha256sum | cut -c1-16)
root="$cache/root-$key"
if [ -f "$root/.entryscan-ready" ]; then echo "$root"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { echo "ha-root: building the Home Assistant root needs root (debootstrap, chroot)" >&2; exit 1; }
if ! [ -x /usr/sbin/debootstrap ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
timeout 1800 flock 9 || { echo "ha-root: another build still holds $cache/.lock" >&2; exit 1; }
if [ -f "$root/.entryscan-ready" ]; then echo "$root"; exit 0; fi
build="$cache/build-$key"
for old in "$cache"/root-* "$cache"/build-*; do  # roots of earlier inputs, and other half builds
  case "$old" in "$build"|"$build.log") ;; *) [ -e "$old" ] && rm -rf --one-file-system "$old" ;; esac
done
log="$build.log"
echo "ha-root: building $root (about 4 minutes; log: $log)" >&2
if ! timeout 2400 bash scripts/ha/build-root.sh "$build" > "$log" 2>&1; then
  echo "ha-root: build failed; the end of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
mv "$build" "$root"
echo "$root"
