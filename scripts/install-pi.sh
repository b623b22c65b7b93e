#!/usr/bin/env bash
# Install entryscan and one device bundle on Raspberry Pi OS; run as root:  sudo scripts/install-pi.sh BUNDLE_DIR
#
# BUNDLE_DIR comes from `entryscan-provision device add`. Idempotent: running it again with the same bundle
# changes nothing; with a newer bundle it updates the config, certificates and public keys. It never
# overwrites an installed private key (device.key, site.key): a different key in the bundle is refused
# (`entryscan wipe --yes` first, if replacing the device's identity is really meant). A bundle made with
# --csr has no device.key: the key made by `entryscan csr` must already be in /etc/entryscan.
#
# Environment (for tests and unusual layouts):
#   ENTRYSCAN_ROOT  prefix for every path written (default: none, i.e. /)
#   ENTRYSCAN_SRC   the entryscan source to pip-install (default: this checkout)
#   PYTHON          the interpreter that makes the venv (default: python3)
set -euo pipefail

die() { echo "install-pi: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 BUNDLE_DIR"
BUNDLE=$(cd "$1" 2>/dev/null && pwd) || die "no such bundle folder: $1"
[ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
ROOT=${ENTRYSCAN_ROOT:-}
SRC=${ENTRYSCAN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python3}
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
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
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

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    # picamera2 and libcamera come from apt: the venv must see the system's site-packages.
    "$PYTHON" -m venv --system-site-packages "$VENV"
  fi
  # A new entryscan (an upgrade, a downgrade, changed code) is a different RECORD (its files and their hashes):
  # then the running door must be restarted, or it runs on as the old version until the next reboot.
  local before
  before=$(installed_record)
  "$VENV/bin/pip" install --quiet "entryscan[pi] @ file://$SRC"
  if [ "$before" != "$(installed_record)" ]; then CHANGED=1; fi
}

installed_record() {
  { cat "$VENV"/lib/python3*/site-packages/entryscan*.dist-info/RECORD 2>/dev/null || true; } | sha256sum
}

# put FILE MODE OWNER:GROUP: copy from the bundle when missing or different; never replace a private key.
put() {
  local name=$1 mode=$2 owner=$3 src="$BUNDLE/$1" dst="$ETC/$1"
  if [ -e "$dst" ] && cmp -s "$src" "$dst"; then
    :
  elif [ -e "$dst" ] && [ "$mode" = 0600 ]; then
    die "$dst exists and differs from the bundle's; not overwriting a key (entryscan wipe --yes first)"
  else
    install -m "$mode" "$src" "$dst.new"
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
    install -m 0644 "$SRC/systemd/entryscan.service" "$UNIT_DIR/entryscan.service"
    CHANGED=1
  fi
  systemctl daemon-reload
  systemctl enable entryscan.service
  # --no-block: do not wait for READY=1 (the camera's first frame).
  if [ "$CHANGED" -eq 1 ]; then
    systemctl restart --no-block entryscan.service
  else
    systemctl start --no-block entryscan.service
  fi
}

check_bundle
install_packages
add_service_user
make_venv
install_bundle
install_unit
echo "install-pi: done. Self-test (the camera is the service's while it runs): systemctl stop entryscan &&" \
  "sudo -u $SERVICE_USER /opt/entryscan/venv/bin/entryscan selftest; systemctl start entryscan"
