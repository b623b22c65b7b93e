#!/usr/bin/env bash
# The virtual door's first-boot variant (scenario 2, tests/vm/test_firstboot.py): the base image build.sh made,
# plus Debian 12's cloud-init (NoCloud), dosfstools (fsck.vfat for the FAT partition in fstab) and openssh-server
# (the user-data Raspberry Pi Imager writes enables ssh in runcmd); the FAT partition labelled `bootfs` (Raspberry
# Pi OS's name for it) mounted at /boot/firmware, and cloud-init told to read only that partition.
#
#   build-cloudinit.sh BASE_FOLDER     prints the variant's folder on stdout (the last line)
#
# Derived here, never in build.sh: the image the other scenarios boot, and build.sh's input hash, stay exactly as
# they are (cloud-init is never in it, and its cache stays valid). Cached by a hash of the base folder's name
# (itself the hash of the base's inputs), this script and cloudinit/ in
#   ${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}/variants/cloudinit/<hash>/{base.qcow2,vmlinuz,initrd.img}
# Only the newest variant is kept, and only under variants/cloudinit: build.sh's images/ are never pruned here, and
# the variant is a whole qcow2 (not an overlay on the base), so build.sh pruning an old base cannot break it.
# Runs as root (loop mount, chroot); every network step has a time limit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=$(cd "${1:?usage: build-cloudinit.sh BASE_IMAGE_FOLDER}" && pwd)
PACKAGES="cloud-init dosfstools openssh-server"
CACHE=${ENTRYSCAN_VM_CACHE:-/var/cache/entryscan-vm}
VARIANTS=$CACHE/variants/cloudinit
HASH=$({ cat "$HERE/build-cloudinit.sh"; find "$HERE/cloudinit" -type f | sort | xargs cat
  echo "$(basename "$BASE") $PACKAGES"; } | sha256sum | cut -c1-16)
OUT=$VARIANTS/$HASH
log() { echo "vm-image(cloudinit): $*" >&2; }

[ -f "$BASE/done" ] || { log "no finished base image in $BASE"; exit 1; }
if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { log "building needs root (loop mount, chroot)"; exit 1; }
mkdir -p "$VARIANTS"
exec 9>"$VARIANTS.lock"
flock -w 1800 9 || { log "another build holds $VARIANTS.lock for 30 min"; exit 1; }
if [ -f "$OUT/done" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
WORK=$CACHE/variants/work-cloudinit
MNT=$WORK/root
start=$(date +%s)
unmount_all() {  # deepest first; lazily only on the way out of a failure
  for m in $(awk -v w="$MNT" '$2 == w || index($2, w "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}
trap unmount_all EXIT
# A failed build's work folder (kept for its logs) is removed first, never while something is mounted in it.
unmount_all
rm -rf --one-file-system "$WORK"; mkdir -p "$MNT"

log "root filesystem of $BASE"
qemu-img convert -O raw "$BASE/base.qcow2" "$WORK/root.raw"
mount -o loop "$WORK/root.raw" "$MNT"
mount --bind /dev "$MNT/dev"; mount --bind /dev/pts "$MNT/dev/pts"
mount -t proc proc "$MNT/proc"; mount -t sysfs sys "$MNT/sys"
in_root() { timeout 1200 chroot "$MNT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
# The guest resolves through QEMU (10.0.2.3); apt in the chroot uses the host's resolver while it runs. No service
# starts in the chroot, and no initramfs is made (the variant boots the base's kernel and initrd).
cp "$MNT/etc/resolv.conf" "$WORK/resolv.conf"; cp -L /etc/resolv.conf "$MNT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$MNT/usr/sbin/policy-rc.d"; chmod 0755 "$MNT/usr/sbin/policy-rc.d"
INITRAMFS_CONF=$MNT/etc/initramfs-tools/update-initramfs.conf
cp "$INITRAMFS_CONF" "$WORK/update-initramfs.conf"
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$INITRAMFS_CONF"
log "apt-get install $PACKAGES"
# shellcheck disable=SC2086  # PACKAGES is a list of names
{ in_root apt-get -o Acquire::Retries=3 update -qq && in_root apt-get install -y -qq --no-install-recommends $PACKAGES; } \
  >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
cp "$WORK/update-initramfs.conf" "$INITRAMFS_CONF"
rm -f "$MNT/usr/sbin/policy-rc.d"
cp "$WORK/resolv.conf" "$MNT/etc/resolv.conf"

log "first-boot configuration"
cp -a "$HERE/cloudinit/rootfs/." "$MNT/"
chown -R root:root "$MNT/etc/cloud/cloud.cfg.d"
mkdir -p "$MNT/boot/firmware"
# By label, so the root disk and the FAT disk may come up in either order.
printf 'LABEL=root / ext4 rw,errors=remount-ro 0 1\nLABEL=bootfs /boot/firmware vfat defaults 0 2\n' >"$MNT/etc/fstab"
# The site's DNS stand-in: manage_etc_hosts (in Imager's user-data) rewrites /etc/hosts from this template.
printf '10.0.2.2 broker.vm.test\n' >>"$MNT/etc/cloud/templates/hosts.debian.tmpl"
# A locale generated and set, as on a real image: Debian's cloud-init 22.4.2 locale module otherwise runs
# `locale-gen en_US.UTF-8` (Debian's ignores the argument), then update-locale refuses the locale and the module fails.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$MNT/etc/locale.gen"
in_root locale-gen >/dev/null
in_root update-locale LANG=en_US.UTF-8
version=$(dpkg-query --admindir="$MNT/var/lib/dpkg" -W -f '${Version}' cloud-init)
rm -rf "$MNT"/var/lib/apt/lists/* "$MNT"/var/cache/apt/*.bin "$MNT"/var/cache/apt/archives/*.deb \
  "$MNT"/usr/share/doc/* "$MNT"/usr/share/man/* "$MNT"/usr/share/locale/*
# Strictly here (no lazy unmount): the image is converted only once the ext4 is cleanly unmounted and written.
for m in sys proc dev/pts dev; do umount "$MNT/$m"; done
umount "$MNT"; trap - EXIT

log "filesystem image (cloud-init $version)"
qemu-img convert -O qcow2 "$WORK/root.raw" "$WORK/base.qcow2"
mkdir -p "$OUT"
mv "$WORK/base.qcow2" "$OUT/"
cp "$BASE/vmlinuz" "$BASE/initrd.img" "$OUT/"
echo "$version" >"$OUT/cloud-init-version"
echo "$(($(date +%s) - start))" >"$OUT/build-seconds"
touch "$OUT/done"
rm -rf --one-file-system "$WORK"
for old in "$VARIANTS"/*; do [ "$old" = "$OUT" ] || rm -rf --one-file-system "$old"; done
log "built $OUT in $(cat "$OUT/build-seconds") s ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
