#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
# PID 1 of the VM lab initramfs (busybox).  It loads the modules listed in
# /modules.order, mounts the host's root read-only over 9p with a tmpfs
# overlay on top, mounts the read-write shares at their host paths, and hands
# over to the stage-2 script named on the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
    echo "@@VMRUN:FAIL@@ $*"
    echo b > /proc/sysrq-trigger
    sleep 60
}

while read -r mod; do
    insmod "/modules/$mod" 2>/dev/null
done < /modules.order

probe=0; stage2=""; shares=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        vmrun.probe=1) probe=1 ;;
        vmrun.stage2=*) stage2="${arg#vmrun.stage2=}" ;;
        vmrun.shares=*) shares="${arg#vmrun.shares=}" ;;
    esac
done

if [ "$probe" = 1 ]; then
    echo "@@VMRUN:PROBE-OK@@"
    echo b > /proc/sysrq-trigger
    sleep 60
fi

mount9p() {
    # Right after insmod the transport may not have probed yet: retry.
    i=0
    while ! mount -t 9p -o "$3" "$1" "$2" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt 100 ] && die "cannot mount 9p share $1 on $2"
        sleep 0.1
    done
}

mkdir -p /lower /upper /newroot
mount9p hostroot /lower trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot \
    || die "cannot mount the overlay root"

# shares=tag=path,tag=path (paths never contain commas or spaces)
IFS=,
for share in $shares; do
    tag="${share%%=*}"; path="${share#*=}"
    mkdir -p "/newroot$path"
    mount9p "$tag" "/newroot$path" trans=virtio,version=9p2000.L,msize=512000,cache=mmap
done
unset IFS

[ -n "$stage2" ] || die "no vmrun.stage2= on the kernel command line"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash "$stage2"
