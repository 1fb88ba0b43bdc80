#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Stage 2 of the VM lab guest, run by the host's bash on the overlay root.
# It finishes the system set-up (module tree, lvm without udev), runs the job
# written by vm-run, records its exit code in the shared job directory, and
# reboots, which ends qemu because it runs with -no-reboot.
set -u

for arg in $(cat /proc/cmdline); do
    case "$arg" in
        vmrun.job=*) JOB="${arg#vmrun.job=}" ;;
        vmrun.kroot=*) KROOT="${arg#vmrun.kroot=}" ;;
        vmrun.udev=1) WANT_UDEV=1 ;;
        vmrun.net=1) WANT_NET=1 ;;
    esac
done

finish() {
    sync
    echo b > /proc/sysrq-trigger
    sleep 60
}

mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /run/lvm /run/vmtmp
# A guest-local TMPDIR: 9p cannot truncate files that are open but unlinked,
# which is how tempfile.TemporaryFile works.  /tmp itself stays the host's.
mount -t tmpfs -o mode=1777 tmpfs /run/vmtmp
KVER=$(uname -r)
mkdir -p "/lib/modules/$KVER"
mount --bind "$KROOT/lib/modules/$KVER" "/lib/modules/$KVER"
echo /sbin/modprobe > /proc/sys/kernel/modprobe
hostname vmlab

# lvm2 without udev, dmeventd or lvmpolld: lvm creates the /dev nodes itself.
mkdir -p /etc/lvm
cat > /etc/lvm/lvm.conf <<'EOF'
devices {
    obtain_device_list_from_udev = 0
    external_device_info_source = "none"
    use_devicesfile = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
global {
    use_lvmpolld = 0
}
EOF
rm -f /etc/lvm/devices/system.devices

if [ "${WANT_UDEV:-0}" = 1 ]; then
    /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
    udevadm trigger --action=add >/dev/null 2>&1
    udevadm settle --timeout=30 >/dev/null 2>&1
fi

# qemu's user network (vm-run --reach-host): the guest is 10.0.2.15, the host's loopback 10.0.2.2.
ip link set lo up
if [ "${WANT_NET:-0}" = 1 ]; then
    modprobe virtio_net
    nic=""
    for _ in $(seq 50); do
        nic=$(ls /sys/class/net | grep -v '^lo$' | head -1)
        [ -n "$nic" ] && break
        sleep 0.1
    done
    if [ -z "$nic" ]; then
        echo "@@VMRUN:FAIL@@ no network card appeared for --reach-host"
    else
        ip link set "$nic" up && ip addr add 10.0.2.15/24 dev "$nic" && ip route add default via 10.0.2.2
    fi
fi

# shellcheck disable=SC1091
source "$JOB/env.sh"
export TMPDIR=/run/vmtmp
echo "@@VMRUN:BEGIN@@"
bash "$JOB/cmd.sh" < /dev/null
rc=$?
echo "$rc" > "$JOB/rc.tmp" && mv "$JOB/rc.tmp" "$JOB/rc"
echo "@@VMRUN:END@@ rc=$rc"
finish
