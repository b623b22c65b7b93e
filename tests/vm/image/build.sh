#!/usr/bin/env bash
# Build the virtual door's base image: Debian 12 (bookworm) amd64 with systemd, Debian's kernel (pinned), a
# gpio-sim module built for that kernel, stand-ins for python3-lgpio / python3-picamera2, an offline wheelhouse
# for pip and the test agent. Prints the image folder on stdout (the last line).
#
# Cached by a hash of its inputs (this script, guest/, the pins below, constraints.txt) in
#   ${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}/images/<hash>/{base.qcow2,vmlinuz,initrd.img}
# so a second run reuses it. Runs as root (debootstrap, chroot). Every network step has a time limit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)

# The pins: a kernel update means a new gpio-sim build, so the kernel is named by ABI and version.
SUITE=bookworm
KERNEL_ABI=6.1.0-50-amd64
KERNEL_VERSION=6.1.176-1
LINUX_SOURCE=linux-source-6.1
LGPIO_VERSION=0.2.2.0
IMAGE_SIZE=2G
# The mirror apt uses on this machine (deb822 or one-line sources), else Debian's CDN.
mirror() {
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | head -n1 | grep -oE 'https?://[^ ]+' || true)
  echo "${ENTRYSCAN_VM_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}
MIRROR=$(mirror)
CACHE=${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}

inputs_hash() {
  { cat "$HERE/build.sh"; find "$HERE/guest" -type f | sort | xargs cat; cat "$REPO/constraints.txt" "$REPO/constraints-bookworm.txt" "$REPO/pyproject.toml"
    echo "$SUITE $KERNEL_ABI $KERNEL_VERSION $LGPIO_VERSION $IMAGE_SIZE $MIRROR"; } | sha256sum | cut -c1-16
}
HASH=$(inputs_hash)
OUT=$CACHE/images/$HASH
log() { echo "vm-image: $*" >&2; }

if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { log "building needs root (debootstrap)"; exit 1; }
mkdir -p "$CACHE/images"
exec 9>"$CACHE/build.lock"
flock -w 1800 9 || { log "another build holds $CACHE/build.lock for 30 min"; exit 1; }
if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
# Keep only the newest image (bounded disk): older hashes are removed once this one is built.
WORK=$CACHE/work.$HASH
ROOTFS=$WORK/rootfs
start=$(date +%s)
cleanup() {
  for m in dev/pts dev proc sys; do umountpoint "$ROOTFS/$m"; done
}
umountpoint() { if mountpoint -q "$1" 2>/dev/null; then umount -l "$1"; fi; }
trap cleanup EXIT
# A failed build's work folder (kept for its logs) is removed first, never while something is mounted in it.
for m in $(awk -v c="$CACHE/work." 'index($2, c) == 1 {print $2}' /proc/self/mounts | sort -r); do umount -l "$m"; done
if awk -v c="$CACHE/work." 'index($2, c) == 1' /proc/self/mounts | grep -q .; then log "mounts left in $CACHE"; exit 1; fi
rm -rf --one-file-system "$CACHE"/work.*; mkdir -p "$WORK"

log "debootstrap $SUITE from $MIRROR"
INCLUDE=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,python3,python3-venv,libzbar0,openssl,ca-certificates
INCLUDE+=,systemd-timesyncd,sqlite3,initramfs-tools,zstd,python3-numpy
timeout 1200 debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

mount --bind /dev "$ROOTFS/dev"; mount --bind /dev/pts "$ROOTFS/dev/pts"
mount -t proc proc "$ROOTFS/proc"; mount -t sysfs sys "$ROOTFS/sys"
in_root() { timeout 1200 chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"
in_root apt-get update -qq
log "kernel $KERNEL_ABI ($KERNEL_VERSION) and the tools to build gpio-sim for it"
in_root apt-get install -y -qq --no-install-recommends "linux-image-$KERNEL_ABI=$KERNEL_VERSION" \
  "linux-headers-$KERNEL_ABI=$KERNEL_VERSION" gcc make libc6-dev xz-utils swig python3-dev python3-setuptools \
  >"$WORK/apt.log" 2>&1 ||
  { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
(cd "$ROOTFS/root" && timeout 900 chroot "$ROOTFS" sh -c "cd /root && apt-get download -qq $LINUX_SOURCE=$KERNEL_VERSION")

log "gpio-sim (with irq_sim and keep_level) for $KERNEL_ABI"
install -m 0755 "$HERE/guest/build-gpio-sim.sh" "$ROOTFS/root/build-gpio-sim.sh"
in_root /root/build-gpio-sim.sh "$KERNEL_ABI" >"$WORK/gpio-sim.log" 2>&1 || { tail -n 40 "$WORK/gpio-sim.log" >&2; exit 1; }
# lgpio: PyPI has no x86_64 wheel of the version Raspberry Pi OS ships, so its sdist is built here for the
# guest's Python, statically linked with its own liblgpio (PYPI=1), as PyPI's arm wheels are.
log "lgpio $LGPIO_VERSION from its sdist"
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
timeout 300 "$PY" -m pip download -q --no-deps --no-binary=:all: -d "$WORK/sdist" "lgpio==$LGPIO_VERSION"
tar -xzf "$WORK/sdist/lgpio-$LGPIO_VERSION.tar.gz" -C "$ROOTFS/root"
in_root sh -c "cd /root/lgpio-$LGPIO_VERSION && PYPI=1 python3 setup.py -q build" >"$WORK/lgpio.log" 2>&1 ||
  { tail -n 40 "$WORK/lgpio.log" >&2; exit 1; }
mkdir -p "$WORK/lgpio"
cp "$ROOTFS/root/lgpio-$LGPIO_VERSION"/build/lib.*/* "$WORK/lgpio/"
in_root apt-get purge -y -qq "linux-headers-$KERNEL_ABI" gcc make libc6-dev xz-utils swig python3-dev python3-setuptools \
  >/dev/null
in_root apt-get autoremove -y -qq --purge >/dev/null
rm -rf "$ROOTFS/root/"*

log "wheelhouse (constraints-bookworm.txt: the guest is Bookworm) and stand-in debs"
WHEELS=$ROOTFS/var/cache/vm-wheels
mkdir -p "$WHEELS"
timeout 900 "$PY" -m pip download -q -d "$WHEELS" --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform linux_x86_64 --implementation cp \
  -c "$REPO/constraints-bookworm.txt" -r <("$PY" - "$REPO" <<'EOF'
import sys, tomllib
p = tomllib.load(open(sys.argv[1] + "/pyproject.toml", "rb"))["project"]
# What `entryscan[pi]` installs on a door: the base and the door's extra (pi adds lgpio, a stand-in deb here).
print("\n".join(p["dependencies"] + p["optional-dependencies"]["door"] + ["setuptools>=77,<81", "wheel"]))
EOF
)
"$HERE/guest/make-standin-debs.sh" "$WORK/lgpio" "$WORK/debs"
cp "$WORK/debs/"*.deb "$ROOTFS/tmp/"
in_root sh -c 'dpkg -i /tmp/*.deb && rm -f /tmp/*.deb'

log "guest configuration"
cp -a "$HERE/guest/rootfs/." "$ROOTFS/"
chown -R root:root "$ROOTFS/etc/systemd" "$ROOTFS/usr/local"
in_root groupadd --system gpio
in_root systemctl enable vm-agent.service vm-gpio-sim.service vm-led-watch.service systemd-networkd.service \
  systemd-timesyncd.service >/dev/null 2>&1
in_root passwd -d root >/dev/null
echo vdoor >"$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vdoor\n10.0.2.2 broker.vm.test\n' >"$ROOTFS/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$ROOTFS/etc/fstab"
echo 'nameserver 10.0.2.3' >"$ROOTFS/etc/resolv.conf"
mkdir -p "$ROOTFS/var/log/journal"
dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${Version}' "linux-image-$KERNEL_ABI" | grep -qx "$KERNEL_VERSION" ||
  { log "kernel version is not the pinned $KERNEL_VERSION"; exit 1; }
cp "$ROOTFS/boot/vmlinuz-$KERNEL_ABI" "$WORK/vmlinuz"; cp "$ROOTFS/boot/initrd.img-$KERNEL_ABI" "$WORK/initrd.img"
# Bounded size: no apt lists, caches, docs or locales in the image.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/boot/*
cleanup; trap - EXIT

log "filesystem image"
mke2fs -q -t ext4 -L root -U 6b1e3c0a-0d00-4e57-9a3e-76766d646f6f -E root_owner=0:0 -d "$ROOTFS" "$WORK/root.raw" "$IMAGE_SIZE"
qemu-img convert -O qcow2 "$WORK/root.raw" "$WORK/base.qcow2"
rm -f "$WORK/root.raw"; rm -rf "$ROOTFS"
mkdir -p "$OUT"
mv "$WORK/base.qcow2" "$WORK/vmlinuz" "$WORK/initrd.img" "$OUT/"
echo "$(($(date +%s) - start))" >"$OUT/build-seconds"
touch "$OUT/done"
rm -rf "$WORK"
for old in "$CACHE"/images/*; do [ "$old" = "$OUT" ] || rm -rf "$old"; done
log "built $OUT in $(cat "$OUT/build-seconds") s ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
