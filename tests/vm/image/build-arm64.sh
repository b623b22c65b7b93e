#!/usr/bin/env bash
# Build the arm64 virtual door's base image (scenario 8, README "Tested on"): Debian 12 (bookworm) arm64 with
# systemd, Debian's arm64 kernel (pinned) and initrd, stand-ins for python3-lgpio (PyPI's aarch64 lgpio wheel)
# and python3-picamera2, an offline aarch64 wheelhouse at constraints-bookworm.txt and the test agent. No gpio-sim:
# QEMU's `virt` machine has a PL061 GPIO controller (8 lines, gpiochip0), which the door drives through lgpio.
# Prints the image folder on stdout (the last line).
#
#   build-arm64.sh          build (or reuse) the image
#   build-arm64.sh --fetch  only download what the build needs (Debian's arm64 .debs, the wheels): no emulation
#
# Its own script and cache, so the amd64 image (build.sh, whose hash covers build.sh and guest/) is untouched:
#   ${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}/arm64/images/<hash>/{base.qcow2,vmlinuz,initrd.img,arch}
# (only the newest arm64 image kept; build.sh's own pruning never looks into arm64/). debootstrap's second stage
# and the kernel's initramfs run emulated by qemu-user-static through binfmt_misc. Root only; every step bounded.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)

SUITE=bookworm
ARCH=arm64
KERNEL_ABI=6.1.0-50-arm64
KERNEL_VERSION=6.1.176-1
LGPIO_VERSION=0.2.2.0
IMAGE_SIZE=2G
INCLUDE=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,python3,python3-venv,libzbar0,openssl,ca-certificates
INCLUDE+=,systemd-timesyncd,sqlite3,initramfs-tools,zstd,python3-numpy,linux-image-$KERNEL_ABI
# The wheels a Pi's pip would choose (Bookworm: glibc 2.36, CPython 3.11).
PLATFORMS=(--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64
           --platform manylinux_2_34_aarch64 --platform linux_aarch64)
mirror() {  # as build.sh: the mirror apt uses on this machine, else Debian's CDN
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | head -n1 | grep -oE 'https?://[^ ]+' || true)
  echo "${ENTRYSCAN_VM_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}
MIRROR=$(mirror)
CACHE=${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}/arm64
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
log() { echo "vm-image-arm64: $*" >&2; }
short_hash() { sha256sum | cut -c1-16; }

HASH=$({ cat "$HERE/build-arm64.sh"; find "$HERE/guest" "$HERE/arm64" -type f | sort | xargs cat
         cat "$REPO/constraints-bookworm.txt" "$REPO/pyproject.toml"
         echo "$SUITE $ARCH $KERNEL_ABI $KERNEL_VERSION $LGPIO_VERSION $IMAGE_SIZE $INCLUDE $MIRROR"; } | short_hash)
OUT=$CACHE/images/$HASH
DEBS=$CACHE/debs-$(echo "$SUITE $ARCH $INCLUDE $MIRROR" | short_hash).tgz
WHEELS=$CACHE/wheels-$({ cat "$REPO/constraints-bookworm.txt" "$REPO/pyproject.toml"
                         echo "${PLATFORMS[*]} $LGPIO_VERSION"; } | short_hash)

requirements() {  # what `entryscan[pi]` installs on an arm64 door (pip download evaluates markers for this host)
  "$PY" - "$REPO" "$LGPIO_VERSION" <<'EOF'
import sys, tomllib
p = tomllib.load(open(sys.argv[1] + "/pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["door"]
                + [f"lgpio=={sys.argv[2]}", "setuptools>=77,<81", "wheel"]))
EOF
}

fetch() {
  mkdir -p "$CACHE"
  if [ ! -f "$DEBS" ]; then
    log "debootstrap --make-tarball ($ARCH $SUITE from $MIRROR)"
    rm -rf "$CACHE/fetch"; mkdir -p "$CACHE/fetch"
    timeout 1200 debootstrap --arch="$ARCH" --variant=minbase --include="$INCLUDE" --make-tarball="$CACHE/fetch/debs.tgz" \
      "$SUITE" "$CACHE/fetch/root" "$MIRROR" >"$CACHE/fetch.log" 2>&1 || { tail -n 30 "$CACHE/fetch.log" >&2; exit 1; }
    mv "$CACHE/fetch/debs.tgz" "$DEBS"; rm -rf "$CACHE/fetch"
  fi
  if [ ! -f "$WHEELS/done" ]; then
    log "aarch64 wheelhouse at constraints-bookworm.txt"
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"
    timeout 900 "$PY" -m pip download -q -d "$WHEELS" --only-binary=:all: --python-version 3.11 --implementation cp \
      "${PLATFORMS[@]}" -c "$REPO/constraints-bookworm.txt" -r <(requirements)
    touch "$WHEELS/done"
  fi
}

if [ "${1:-}" = --fetch ]; then fetch; log "fetched: $DEBS $WHEELS"; exit 0; fi
if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { log "building needs root (debootstrap, chroot, binfmt_misc)"; exit 1; }
mkdir -p "$CACHE/images"
exec 9>"$CACHE/build.lock"
flock -w 1800 9 || { log "another build holds $CACHE/build.lock for 30 min"; exit 1; }
if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
start=$(date +%s)

# qemu-user-static registers qemu-aarch64 with the F flag (the interpreter is opened once), so a chroot runs
# arm64 binaries without a copy of QEMU inside it; in a container binfmt_misc may still need mounting.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  { log "qemu-aarch64 is not registered with binfmt_misc (apt-get install qemu-user-static binfmt-support)"; exit 1; }
fetch

WORK=$CACHE/work.$HASH
ROOTFS=$WORK/rootfs
umountpoint() { if mountpoint -q "$1" 2>/dev/null; then umount -l "$1"; fi; }
cleanup() { for m in dev/pts dev proc sys; do umountpoint "$ROOTFS/$m"; done; }
trap cleanup EXIT
for m in $(awk -v c="$CACHE/work." 'index($2, c) == 1 {print $2}' /proc/self/mounts | sort -r); do umount -l "$m"; done
if awk -v c="$CACHE/work." 'index($2, c) == 1' /proc/self/mounts | grep -q .; then log "mounts left in $CACHE"; exit 1; fi
rm -rf --one-file-system "$CACHE"/work.*; mkdir -p "$WORK"

log "debootstrap $ARCH $SUITE (first stage from $DEBS, second stage emulated)"
timeout 600 debootstrap --arch="$ARCH" --foreign --variant=minbase --include="$INCLUDE" --unpack-tarball="$DEBS" \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
timeout 2400 chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/debootstrap.log" >&2; tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 || true; exit 1; }
mount --bind /dev "$ROOTFS/dev"; mount --bind /dev/pts "$ROOTFS/dev/pts"
mount -t proc proc "$ROOTFS/proc"; mount -t sysfs sys "$ROOTFS/sys"
in_root() { timeout 1200 chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"
dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${Version}' "linux-image-$KERNEL_ABI" | grep -qx "$KERNEL_VERSION" ||
  { log "kernel version is not the pinned $KERNEL_VERSION"; exit 1; }
[ -f "$ROOTFS/boot/initrd.img-$KERNEL_ABI" ] || in_root update-initramfs -c -k "$KERNEL_ABI" >"$WORK/initramfs.log" 2>&1

log "stand-in debs (lgpio $LGPIO_VERSION from PyPI's aarch64 wheel) and the wheelhouse"
mkdir -p "$WORK/lgpio"
"$PY" -m zipfile -e "$(ls "$WHEELS"/lgpio-"$LGPIO_VERSION"-*.whl | head -n1)" "$WORK/lgpio"
"$HERE/guest/make-standin-debs.sh" "$WORK/lgpio" "$WORK/debs"
# guest/make-standin-debs.sh writes amd64 (changing it would rebuild the amd64 image): rewrite the control file.
for deb in "$WORK/debs/"*.deb; do
  rm -rf "$WORK/repack"; dpkg-deb -R "$deb" "$WORK/repack"
  sed -i "s/^Architecture: amd64\$/Architecture: $ARCH/" "$WORK/repack/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip -b "$WORK/repack" "$deb" >/dev/null
done
cp "$WORK/debs/"*.deb "$ROOTFS/tmp/"
in_root sh -c 'dpkg -i /tmp/*.deb && rm -f /tmp/*.deb' >"$WORK/standin.log" 2>&1 || { tail -n 20 "$WORK/standin.log" >&2; exit 1; }
mkdir -p "$ROOTFS/var/cache/vm-wheels"
cp "$WHEELS"/*.whl "$ROOTFS/var/cache/vm-wheels/"

log "guest configuration (guest/rootfs, then arm64/rootfs over it)"
cp -a "$HERE/guest/rootfs/." "$ROOTFS/"
cp -a "$HERE/arm64/rootfs/." "$ROOTFS/"
chown -R root:root "$ROOTFS/etc/systemd" "$ROOTFS/usr/local"
in_root groupadd --system gpio
# Not vm-led-watch: it reads gpio-sim's sysfs and writes to a second UART, neither of which `virt` has.
in_root systemctl enable vm-agent.service vm-gpio-sim.service systemd-networkd.service systemd-timesyncd.service \
  >/dev/null 2>&1
in_root passwd -d root >/dev/null
echo vdoor >"$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vdoor\n10.0.2.2 broker.vm.test\n' >"$ROOTFS/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$ROOTFS/etc/fstab"
echo 'nameserver 10.0.2.3' >"$ROOTFS/etc/resolv.conf"
mkdir -p "$ROOTFS/var/log/journal"
cp "$ROOTFS/boot/vmlinuz-$KERNEL_ABI" "$WORK/vmlinuz"; cp "$ROOTFS/boot/initrd.img-$KERNEL_ABI" "$WORK/initrd.img"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/boot/* "$ROOTFS"/debootstrap
cleanup; trap - EXIT

log "filesystem image"
mke2fs -q -t ext4 -L root -U 6b1e3c0a-0d00-4e57-9a3e-61726d363400 -E root_owner=0:0 -d "$ROOTFS" "$WORK/root.raw" "$IMAGE_SIZE"
qemu-img convert -O qcow2 "$WORK/root.raw" "$WORK/base.qcow2"
rm -f "$WORK/root.raw"; rm -rf "$ROOTFS"
mkdir -p "$OUT"
mv "$WORK/base.qcow2" "$WORK/vmlinuz" "$WORK/initrd.img" "$OUT/"
echo aarch64 >"$OUT/arch"  # tests/vm/qemu.py picks qemu-system-aarch64 -machine virt from it
echo "$(($(date +%s) - start))" >"$OUT/build-seconds"
touch "$OUT/done"
rm -rf "$WORK"
for old in "$CACHE"/images/*; do [ "$old" = "$OUT" ] || rm -rf "$old"; done
log "built $OUT in $(cat "$OUT/build-seconds") s ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
