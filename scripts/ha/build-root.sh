#!/usr/bin/env bash
# The steps of scripts/ha-root.sh (run by it, as root, into the folder $1). Kept apart so that set -e holds.
set -euo pipefail
build=$1
cd "$(dirname "$0")/../.."
if ! [ -f "$build/.debootstrap-done" ]; then
  rm -rf --one-file-system "$build"
  /usr/sbin/debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libturbojpeg0,zlib1g \
    testing "$build" http://deb.debian.org/debian
  touch "$build/.debootstrap-done"
fi
# Name resolution, and the host's certificate authorities for pip (pip trusts the system store, so
# SSL_CERT_FILE, not PIP_CERT, is what reaches it).
cp /etc/resolv.conf "$build/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$build/etc/ssl/certs/host-ca.crt"
cp tests/ha/requirements.txt "$build/requirements.txt"
cp scripts/ha/integration_requirements.py "$build/integration_requirements.py"
inroot() {
  chroot "$build" env -i PATH=/opt/ha/bin:/usr/bin:/bin HOME=/root SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt \
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120 "$@"
}
[ -x "$build/opt/ha/bin/python" ] || inroot /usr/bin/python3 -m venv /opt/ha
inroot pip install -q -r /requirements.txt
# The integrations' requirements: the suite starts Home Assistant with --skip-pip (no network at test time).
# hassio: the MQTT config flow imports it (an after_dependency, which the list does not follow).
inroot python /integration_requirements.py mqtt hassio onboarding api config tag event sensor binary_sensor \
  button websocket_api auth person > "$build/integrations.txt"
cons=$(inroot python -c 'import homeassistant, os; print(os.path.dirname(homeassistant.__file__))')
inroot pip install -q -c "$cons/package_constraints.txt" -r /integrations.txt
rm -rf "$build/root/.cache" "$build/var/cache/apt/archives/"*.deb
inroot python -c 'import homeassistant.const as c, sys; print("ha-root: Home Assistant", c.__version__, sys.version)'
touch "$build/.entryscan-ready"
