#!/bin/bash
# Throwaway test helper: install a test rootfs image onto a blank disk the way imgbased lays it
# out, with a hand-written grub.cfg, to prove that the image boots from a thin LV through GRUB.
# The real installer is imgbase-install; this script only exists to check images independently.
#
# Run it as root inside the VM lab, with the blank disk attached, for example:
#   truncate -s 8G disk.img
#   image-tools/vm-run --attach disk.img -- bash tests/e2e/manual_install.sh /dev/vdb ROOTFS.img
#   image-tools/vm-run --boot disk.img --timeout 300 --expect 'IMGBASED_BOOTED Base-0.1'
#
# Layout: MBR, p1 a 512 MiB ext4 /boot, p2 an LVM PV with VG HostVG, thin pool HostVG/pool00
# on 90% of the VG, thin LV HostVG/Base-0.1 (activation skip off) holding the rootfs; the
# kernel and initrd copied to /boot/Base-0.1/; GRUB for BIOS (i386-pc) on the disk.
set -euo pipefail

usage() { echo "usage: $0 DISK ROOTFS.img [LAYER] [LV_SIZE]" >&2; exit 2; }
[ $# -ge 2 ] || usage
DISK=$1 ROOTFS=$2 LAYER=${3:-Base-0.1} LVSIZE=${4:-4G}
VG=HostVG
[ -b "$DISK" ] || { echo "$DISK is not a block device" >&2; exit 2; }
[ -f "$ROOTFS" ] || { echo "$ROOTFS: no such image" >&2; exit 2; }
MNT=$(mktemp -d /run/manual-install.XXXXXX)
T0=$(date +%s)
step() { echo "manual-install: [$(($(date +%s) - T0))s] $*"; }

cleanup() {
    umount "$MNT/boot" 2>/dev/null || true
    umount "$MNT/root" 2>/dev/null || true
    vgchange -an "$VG" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "partitioning $DISK (MBR: p1 /boot 512MiB, p2 LVM)"
wipefs -qa "$DISK"
parted -s "$DISK" mklabel msdos mkpart primary ext4 1MiB 513MiB mkpart primary 513MiB 100% \
    set 1 boot on set 2 lvm on
partprobe "$DISK" 2>/dev/null || true
for _ in $(seq 50); do [ -b "${DISK}1" ] && [ -b "${DISK}2" ] && break; sleep 0.1; done
mkfs.ext4 -q -F -L boot "${DISK}1"

step "LVM: VG $VG, thin pool, thin LV $LAYER ($LVSIZE)"
pvcreate -qy "${DISK}2"
vgcreate -q "$VG" "${DISK}2"
lvcreate -q --type thin-pool -l 90%FREE -n pool00 "$VG"
lvcreate -q --thin -V "$LVSIZE" -n "$LAYER" -kn "$VG/pool00"

step "copying the rootfs (used blocks only) into /dev/$VG/$LAYER"
e2image -ra "$ROOTFS" "/dev/$VG/$LAYER"
e2fsck -fy "/dev/$VG/$LAYER" >/dev/null || [ $? -le 1 ]
resize2fs -f "/dev/$VG/$LAYER" >/dev/null 2>&1

step "kernel, initrd and GRUB on /boot"
mkdir -p "$MNT/root" "$MNT/boot"
mount -o ro "/dev/$VG/$LAYER" "$MNT/root"
mount "${DISK}1" "$MNT/boot"
KVER=$(basename "$(ls -d "$MNT"/root/usr/lib/modules/* | head -1)")
mkdir -p "$MNT/boot/$LAYER"
cp "$MNT/root/boot/vmlinuz-$KVER" "$MNT/root/boot/initrd.img-$KVER" "$MNT/boot/$LAYER/"
grub-install --target=i386-pc --boot-directory="$MNT/boot" "$DISK" 2>&1 | grep -v '^Installing for' || true
cat > "$MNT/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
menuentry '$LAYER' --id 'imgbased-$LAYER' {
    linux /$LAYER/vmlinuz-$KVER root=/dev/$VG/$LAYER rd.lvm.lv=$VG/$LAYER rw console=ttyS0 rootdelay=15 panic=5 img.bootid=$LAYER
    initrd /$LAYER/initrd.img-$KVER
}
CFG
sync
step "done: $DISK boots $LAYER (kernel $KVER)"
