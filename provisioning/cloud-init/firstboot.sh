#!/bin/sh
# entryscan-firstboot: install a door from its boot partition, retrying until it is installed.
#
# Installed by vendor-data as /usr/local/sbin/entryscan-firstboot and run by entryscan-firstboot.service.
# The install needs apt and PyPI, and a first boot may have no network yet (a cable plugged in later, Wi-Fi
# that comes up late, a mirror that times out), so a one-shot cloud-init script is not enough.
#
#   entryscan-firstboot secure     move the bundle off the FAT partition into a root-only folder (no network)
#   entryscan-firstboot run        secure, check the bundle, then install with back-off until it succeeds
#   entryscan-firstboot wait [S]   wait up to S seconds (default 1800) for the marker; 0 when installed
#   entryscan-firstboot status     one line: installed / attempt N failed / not started
#
# State (root only, 0700): $STATE/bundle (the private copy of the bundle until installed), $STATE/status
# (the last attempt), and the marker $STATE/installed (version, time, attempts) that the unit's condition,
# a technician and a test wait on. Exit status of run: 0 installed, 1 gave up this run (systemd starts it
# again), 78 the bundle is unusable (retrying cannot help: the unit does not restart it).
#
# Environment for tests and odd layouts: ENTRYSCAN_ROOT (prefix), ENTRYSCAN_BOOT, ENTRYSCAN_SRC,
# ENTRYSCAN_INSTALLER (default $SRC/scripts/install-pi.sh), FIRSTBOOT_MAX_ATTEMPTS (12 per run),
# FIRSTBOOT_BASE_DELAY (15 s, doubled per failure), FIRSTBOOT_MAX_DELAY (600 s), FIRSTBOOT_ATTEMPT_TIMEOUT
# (1800 s per attempt), FIRSTBOOT_SLEEP (the sleep command).
set -eu
ROOT="${ENTRYSCAN_ROOT:-}"
BOOT="${ENTRYSCAN_BOOT:-$ROOT/boot/firmware/entryscan}"
SRC="${ENTRYSCAN_SRC:-$BOOT/src}"
INSTALLER="${ENTRYSCAN_INSTALLER:-$SRC/scripts/install-pi.sh}"
STATE="$ROOT/var/lib/entryscan-firstboot"
BUNDLE="$STATE/bundle"
MARKER="$STATE/installed"
MAX_ATTEMPTS="${FIRSTBOOT_MAX_ATTEMPTS:-12}"
BASE_DELAY="${FIRSTBOOT_BASE_DELAY:-15}"
MAX_DELAY="${FIRSTBOOT_MAX_DELAY:-600}"
ATTEMPT_TIMEOUT="${FIRSTBOOT_ATTEMPT_TIMEOUT:-1800}"
SLEEP="${FIRSTBOOT_SLEEP:-sleep}"
PRIVATE="device.key site.key"
EX_CONFIG=78

log() { echo "entryscan-firstboot: $*"; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
status() { printf '%s %s\n' "$(now)" "$*" > "$STATE/status.new" && mv -f "$STATE/status.new" "$STATE/status"; }

# The delay after failed attempt N: BASE * 2^(N-1), at most MAX.
backoff() {
  delay=$BASE_DELAY n=1
  while [ "$n" -lt "$1" ] && [ "$delay" -lt "$MAX_DELAY" ]; do delay=$((delay * 2)); n=$((n + 1)); done
  [ "$delay" -gt "$MAX_DELAY" ] && delay=$MAX_DELAY
  echo "$delay"
}

# Secrets first: a boot partition is readable by anything that mounts the card. Idempotent: a key already
# moved is not on the FAT partition any more, and the private copy keeps it until the install succeeds.
secure() {
  install -d -m 0700 "$STATE" || return 1
  [ -d "$BOOT" ] || { [ -d "$BUNDLE" ] && return 0; log "no bundle in $BOOT"; return 1; }
  install -d -m 0700 "$BUNDLE" || return 1
  for f in "$BOOT"/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    case " $PRIVATE " in
      *" $name "*)
        # (set -e does not hold inside a function called with ||: check each step before the shred)
        install -m 0600 "$f" "$BUNDLE/$name" && cmp -s "$f" "$BUNDLE/$name" || return 1
        # The copy's bytes on the card before the only other copy is shredded: a cut in between (ext4 writes a
        # new file's blocks up to 30 s later) would leave a key of length 0 and none on the boot partition.
        sync -- "$BUNDLE/$name" "$BUNDLE" || return 1
        # shred is best effort on flash (wear levelling keeps old blocks); the copy is removed either way.
        shred -u "$f" 2>/dev/null || rm -f "$f"
        log "moved $name off the boot partition" ;;
      *) install -m 0600 "$f" "$BUNDLE/$name" || return 1 ;;
    esac
  done
  # The bundle's config names badges.txt: an empty list denies every badge until the site's lists arrive.
  [ -f "$BUNDLE/badges.txt" ] || install -m 0600 /dev/null "$BUNDLE/badges.txt" || return 1
}

# One attempt, bounded in time: the package lists (a fresh image has none), then the documented install.
attempt() {
  timeout "$ATTEMPT_TIMEOUT" apt-get -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 update &&
    ENTRYSCAN_ROOT="$ROOT" ENTRYSCAN_SRC="$SRC" timeout "$ATTEMPT_TIMEOUT" "$INSTALLER" "$BUNDLE"
}

finish() {
  version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/device/__init__.py" 2>/dev/null || true)
  printf 'version=%s\ninstalled_at=%s\nattempts=%s\n' "${version:-unknown}" "$(now)" "$1" > "$MARKER.new"
  sync -- "$MARKER.new"  # install-pi.sh flushed the door's files; the marker follows them, never precedes
  mv -f "$MARKER.new" "$MARKER"
  status "installed after $1 attempt(s)"
  for key in $PRIVATE; do [ ! -f "$BUNDLE/$key" ] || shred -u "$BUNDLE/$key" 2>/dev/null || rm -f "$BUNDLE/$key"; done
  rm -rf "$BUNDLE"
  log "installed (attempt $1); the marker is $MARKER"
}

run() {
  if [ -e "$MARKER" ]; then log "already installed ($MARKER)"; return 0; fi
  secure || { status "no bundle in $BOOT"; return 1; }
  if ! ENTRYSCAN_ROOT="$ROOT" ENTRYSCAN_SRC="$SRC" "$INSTALLER" --check "$BUNDLE"; then
    status "refused: the bundle cannot be installed (see the journal); retrying will not help"
    return $EX_CONFIG
  fi
  n=1
  while :; do
    status "attempt $n started"
    if attempt; then finish "$n"; return 0; else code=$?; fi
    if [ "$n" -ge "$MAX_ATTEMPTS" ]; then
      status "attempt $n failed (exit $code); giving up this run, systemd starts it again"
      return 1
    fi
    delay=$(backoff "$n")
    status "attempt $n failed (exit $code); next in ${delay} s"
    log "attempt $n failed (exit $code); retrying in ${delay} s"
    "$SLEEP" "$delay"
    n=$((n + 1))
  done
}

wait_installed() {
  deadline=$(( $(date +%s) + ${1:-1800} ))
  while [ ! -e "$MARKER" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "not installed yet: $(show_status)"; return 1; }
    "$SLEEP" 2
  done
  log "installed: $(tr '\n' ' ' < "$MARKER")"
}

show_status() {
  if [ -e "$MARKER" ]; then echo "installed: $(tr '\n' ' ' < "$MARKER")"
  elif [ -e "$STATE/status" ]; then cat "$STATE/status"
  else echo "not started"; fi
}

case "${1:-}" in
  secure) secure ;;
  run) run ;;
  wait) wait_installed "${2:-1800}" ;;
  status) show_status ;;
  *) echo "usage: entryscan-firstboot secure|run|wait [SECONDS]|status" >&2; exit 2 ;;
esac
