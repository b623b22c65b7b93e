#!/usr/bin/env bash
# Install or upgrade entryscan on Raspberry Pi OS; run as root:
#   sudo scripts/install-pi.sh BUNDLE_DIR   install (or re-install) this checkout with one device bundle
#   sudo scripts/install-pi.sh --upgrade    upgrade an installed door to this checkout; /etc/entryscan is kept
#   sudo scripts/install-pi.sh --check BUNDLE_DIR   only say whether the bundle can be installed (exit 1 if not)
#
# BUNDLE_DIR comes from `entryscan-provision device add`. Idempotent: running it again with the same bundle and
# checkout changes nothing and does not restart the service; with a newer bundle it updates the config,
# certificates and public keys. It never overwrites an installed private key (device.key, site.key): a different
# key in the bundle is refused (`entryscan wipe --yes` first, if replacing the device's identity is really meant).
# A bundle made with --csr has no device.key: the key made by `entryscan csr` must already be in /etc/entryscan.
#
# Upgrading (docs/upgrade.md): the journal, its undelivered rows, the keys and the config stay where they are;
# the venv gets this checkout (pinned by constraints.txt) only when it differs from what is installed
# (/opt/entryscan/installed records a fingerprint), and the service is restarted once if anything changed. The
# new version migrates the journal when it opens it. A checkout older than the journal's schema is refused before
# anything is changed: going back over a newer journal is not supported.
#
# Environment (for tests and unusual layouts):
#   ENTRYSCAN_ROOT  prefix for every path written (default: none, i.e. /)
#   ENTRYSCAN_SRC   the entryscan source to pip-install (default: this checkout)
#   PYTHON          the interpreter that makes the venv (default: python3)
#   CHECK_PYTHON    the interpreter that reads the journal's schema version (default: $PYTHON)
set -euo pipefail

die() { echo "install-pi: $*" >&2; exit 1; }

MODE=install  # --check: refuse an unusable bundle (exit 1) and stop; the first-boot unit asks before retrying
case "${1:-}" in
  --check) MODE=check; shift ;;
  --upgrade) MODE=upgrade; shift ;;
esac
if [ "$MODE" = upgrade ]; then
  [ $# -eq 0 ] || die "usage: $0 --upgrade (no bundle: the installed /etc/entryscan is kept)"
  BUNDLE=
else
  [ $# -eq 1 ] || die "usage: $0 [--check] BUNDLE_DIR | $0 --upgrade"
  BUNDLE=$(cd "$1" 2>/dev/null && pwd) || die "no such bundle folder: $1"
fi
[ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
ROOT=${ENTRYSCAN_ROOT:-}
SRC=${ENTRYSCAN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python3}
CHECK_PYTHON=${CHECK_PYTHON:-$PYTHON}
STAMP=$ROOT/opt/entryscan/installed
ETC=$ROOT/etc/entryscan
VENV=$ROOT/opt/entryscan/venv
UNIT_DIR=$ROOT/etc/systemd/system
SERVICE_USER=entryscan
APT_PACKAGES=(python3-picamera2 python3-lgpio python3-venv libzbar0)
PUBLIC_FILES=(config.toml ca.pem device.pem issuer.pub lists.pub)
PRIVATE_FILES=(device.key site.key)
CHANGED=0  # set when a file is installed or replaced: the service is then restarted

check_bundle() {
  local f
  for f in "${PUBLIC_FILES[@]}" site.key badges.txt; do
    [ -f "$BUNDLE/$f" ] || die "$BUNDLE/$f is missing (make bundles with entryscan-provision device add)"
  done
  local key="$BUNDLE/device.key"
  [ -f "$key" ] || key="$ETC/device.key"
  [ -f "$key" ] ||
    die "the bundle has no device.key and $ETC/device.key does not exist (run entryscan csr on this device first)"
  [ "$(openssl x509 -noout -pubkey -in "$BUNDLE/device.pem")" = "$(openssl pkey -pubout -in "$key")" ] ||
    die "device.pem in the bundle is not a certificate for $key (a bundle for another device?)"
  [ -f "$SRC/systemd/entryscan.service" ] || die "no systemd/entryscan.service under $SRC"
}

install_packages() {
  # Wait for a dpkg lock held by unattended-upgrades or cloud-init's own package step instead of failing.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
    "${APT_PACKAGES[@]}"
}

add_service_user() {
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/entryscan --no-create-home \
      --shell /usr/sbin/nologin --comment "entryscan QR scanner" "$SERVICE_USER"
  fi
  local group
  for group in video gpio; do  # camera and GPIO access; the gpio group exists only on Raspberry Pi OS
    if getent group "$group" >/dev/null; then usermod -a -G "$group" "$SERVICE_USER"; fi
  done
}

# What is being installed: the version and a digest of everything that ends up in the venv or the unit.
fingerprint() {
  local version
  version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/device/__init__.py")
  echo "version=$version"
  echo "sources=$( (cd "$SRC" && find device collector provisioning systemd -type f \
    ! -name '*.pyc' ! -path '*/__pycache__/*' ! -name '*.mo' -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum; sha256sum pyproject.toml setup.py constraints*.txt) | sha256sum | cut -d' ' -f1)"
}

# Bookworm's picamera2 is built against the system's numpy 1.24 (docs/raspberry-pi.md): there the pins are
# constraints-bookworm.txt, which differs from constraints.txt only in numpy. ENTRYSCAN_OS_RELEASE: for tests.
constraints_file() {
  local codename
  codename=$(sed -n 's/^VERSION_CODENAME=//p' "${ENTRYSCAN_OS_RELEASE:-/etc/os-release}" 2>/dev/null | tr -d '"')
  if [ "$codename" = bookworm ] && [ -f "$SRC/constraints-bookworm.txt" ]; then
    echo "$SRC/constraints-bookworm.txt"
  else
    echo "$SRC/constraints.txt"
  fi
}

make_venv() {
  local want
  want=$(fingerprint)
  if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    return 0  # this very checkout is installed already: nothing to do, no restart
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    # picamera2 and libcamera come from apt: the venv must see the system's site-packages.
    "$PYTHON" -m venv --system-site-packages "$VENV"
  fi
  # The exact versions the test suite passed with (README: "a fleet installs with -c constraints.txt").
  "$VENV/bin/pip" install --quiet -c "$(constraints_file)" "entryscan[pi] @ file://$SRC"
  # The venv on the card before the stamp says it is installed: a power cut after pip (ext4 allocates a file's
  # blocks up to 30 s after it was written) left files of length 0 and a stamp that skipped the next install.
  sync
  printf '%s\n' "$want" > "$STAMP.new" && sync -- "$STAMP.new" && mv -f "$STAMP.new" "$STAMP"
  CHANGED=1
}

# Refuse a checkout whose journal schema is older than the installed journal's (a downgrade over a newer
# journal), before anything is changed. The new code's version is read from its source; the file's from SQLite.
check_journal_schema() {
  local config=$ETC/config.toml
  [ -f "$config" ] || return 0  # a first install: no journal yet
  "$CHECK_PYTHON" - "$config" "$SRC/device/delivery/journal_schema.py" "$ROOT" <<'PY' ||
import pathlib, re, sqlite3, sys, tomllib
config, schema_py, root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
try:
    path = pathlib.Path(tomllib.loads(config.read_text()).get("journal", {}).get("path", "/var/lib/entryscan/journal.db"))
except (OSError, tomllib.TOMLDecodeError, AttributeError):
    sys.exit(0)  # the service says what is wrong with the config; the schema cannot be told
if not path.is_absolute():
    path = config.parent / path
elif root:
    path = pathlib.Path(root + str(path))
known = re.search(r"^SCHEMA_VERSION = (\d+)", schema_py.read_text(), re.M)
if not path.is_file() or known is None:
    sys.exit(0)
db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
have = db.execute("PRAGMA user_version").fetchone()[0]
if have > int(known.group(1)):
    print(f"{path} has journal schema {have}; this checkout knows up to {known.group(1)}", file=sys.stderr)
    sys.exit(1)
PY
    die "refusing to install an older entryscan over a newer journal (its undelivered rows would be refused);" \
      "install the newer version again"
}

# put FILE MODE OWNER:GROUP: copy from the bundle when missing or different; never replace a private key.
put() {
  local name=$1 mode=$2 owner=$3 src="$BUNDLE/$1" dst="$ETC/$1"
  if [ -e "$dst" ] && cmp -s "$src" "$dst"; then
    :
  elif [ -e "$dst" ] && [ "$mode" = 0600 ]; then
    die "$dst exists and differs from the bundle's; not overwriting a key (entryscan wipe --yes first)"
  else
    # Its bytes on the card before the rename: the virtual door's power cut 23 s after an install found every
    # key and certificate of a new door at length 0 (written, not yet allocated), a door that cannot start.
    install -m "$mode" "$src" "$dst.new"
    sync -- "$dst.new"
    mv -f "$dst.new" "$dst"
    CHANGED=1
  fi
  chmod "$mode" "$dst"
  chown "$owner" "$dst"
}

install_bundle() {
  install -d -m 0750 "$ETC"
  chown "root:$SERVICE_USER" "$ETC"
  local f
  for f in "${PUBLIC_FILES[@]}"; do put "$f" 0640 "root:$SERVICE_USER"; done
  for f in "${PRIVATE_FILES[@]}"; do
    if [ -f "$BUNDLE/$f" ]; then put "$f" 0600 "$SERVICE_USER:$SERVICE_USER"; fi
  done
  # A key made here by `entryscan csr` or openssl (as root) must become the service user's.
  chmod 0600 "$ETC/device.key"
  chown "$SERVICE_USER:$SERVICE_USER" "$ETC/device.key"
  if [ ! -e "$ETC/badges.txt" ]; then  # the site may have filled it since: keep it
    put badges.txt 0640 "root:$SERVICE_USER"
  fi
}

install_unit() {
  install -d -m 0755 "$UNIT_DIR"
  if ! cmp -s "$SRC/systemd/entryscan.service" "$UNIT_DIR/entryscan.service"; then
    install -m 0644 "$SRC/systemd/entryscan.service" "$UNIT_DIR/entryscan.service.new"
    sync -- "$UNIT_DIR/entryscan.service.new"
    mv -f "$UNIT_DIR/entryscan.service.new" "$UNIT_DIR/entryscan.service"
    CHANGED=1
  fi
  systemctl daemon-reload
  systemctl enable entryscan.service
  # Everything the door needs (files, unit, its enable link, the renames) on the card before it starts: a cut
  # right after "install-pi: done" must boot the same door (an empty unit file reads as masked to systemd).
  sync
  # --no-block: do not wait for READY=1 (the camera's first frame).
  if [ "$CHANGED" -eq 1 ]; then
    systemctl restart --no-block entryscan.service
  else
    systemctl start --no-block entryscan.service
  fi
}

if [ "$MODE" = upgrade ]; then
  [ -f "$ETC/config.toml" ] && [ -f "$ETC/device.key" ] ||
    die "no installed door in $ETC (install with a bundle first: $0 BUNDLE_DIR)"
  [ -f "$SRC/systemd/entryscan.service" ] || die "no systemd/entryscan.service under $SRC"
else
  check_bundle
fi
if [ "$MODE" = check ]; then echo "install-pi: $BUNDLE can be installed"; exit 0; fi
check_journal_schema
install_packages
add_service_user
make_venv
if [ "$MODE" = install ]; then install_bundle; fi
install_unit
echo "install-pi: done. Self-test (the camera is the service's while it runs): systemctl stop entryscan &&" \
  "sudo -u $SERVICE_USER /opt/entryscan/venv/bin/entryscan selftest; systemctl start entryscan"
