#!/bin/sh
# Stand-ins for the two Raspberry Pi OS packages install-pi.sh asks apt for, so it runs unchanged on Debian:
# python3-lgpio (lgpio built from PyPI's sdist, placed in dist-packages) and python3-picamera2 (empty: the VM's camera
# is a dir: source). usage: make-standin-debs.sh LGPIO_BUILD_DIR OUTDIR
set -eu
LGPIO=$1 OUT=$2
mkdir -p "$OUT"
T=$(mktemp -d)
mkdir -p "$T/lgpio/DEBIAN" "$T/lgpio/usr/lib/python3/dist-packages" "$T/cam/DEBIAN"
cp -r "$LGPIO"/. "$T/lgpio/usr/lib/python3/dist-packages/"
for p in lgpio:python3-lgpio:"lgpio from PyPI (entryscan VM stand-in)" cam:python3-picamera2:"empty (entryscan VM stand-in)"; do
  dir=${p%%:*}; rest=${p#*:}; name=${rest%%:*}; desc=${rest#*:}
  printf 'Package: %s\nVersion: 0.0-vm1\nArchitecture: amd64\nMaintainer: entryscan tests <none@invalid>\nDescription: %s\n' \
    "$name" "$desc" >"$T/$dir/DEBIAN/control"
  # As the real python3-picamera2 does: the door's venv then uses the system numpy (1.24 on Bookworm), as on a Pi.
  if [ "$dir" = cam ]; then echo 'Depends: python3-numpy' >>"$T/$dir/DEBIAN/control"; fi
  dpkg-deb --root-owner-group -Zgzip -b "$T/$dir" "$OUT/$name.deb" >/dev/null
done
rm -rf "$T"
