# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest side, outside anaconda: what is on a disk before and after an install, and freeing it.

The driver (driver.py) fingerprints the disk before anaconda runs, inspects it after (partitions,
LVM with tags, /boot's entries and grubenv, the layer's fstab, `imgbase layout --json`), and
releases it (ends what anaconda left in its mount namespace, swapoff, deactivates and optionally
wipes) so the next kickstart's storage scan sees a blank disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def sh(*cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command, capture its output as text."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc


def disk_fingerprint(dev: str) -> dict[str, Any]:
    """Hashes of the disk's first and last MiB and what blkid and sfdisk see on it."""
    size = int(sh("blockdev", "--getsize64", dev).stdout.strip())
    mib = 1 << 20
    with open(dev, "rb") as f:
        head = f.read(mib)
        f.seek(max(0, size - mib))
        tail = f.read(mib)
    table = sh("sfdisk", "-J", dev, check=False)
    return {
        "size": size,
        "head_sha256": hashlib.sha256(head).hexdigest(),
        "tail_sha256": hashlib.sha256(tail).hexdigest(),
        "head_zero": head == bytes(len(head)),
        "blkid": sh("blkid", "-p", "-o", "export", dev, check=False).stdout.strip(),
        "partitions": json.loads(table.stdout)["partitiontable"].get("partitions", []) if table.returncode == 0
        else None,
    }


def lvm_report(kind: str, fields: str) -> list[dict[str, str]]:
    """One lvm report (pvs, vgs, lvs) as a list of rows."""
    proc = sh(kind, "--reportformat", "json", "-a" if kind == "lvs" else "-v", "-o", fields, check=False)
    try:
        return json.loads(proc.stdout)["report"][0][kind[:-1]]
    except (ValueError, KeyError, IndexError):
        return []


def vgs_on(dev: str) -> list[str]:
    """Names of the VGs with a PV on dev or its partitions."""
    rows = lvm_report("pvs", "pv_name,vg_name")
    return sorted({r["vg_name"] for r in rows if r["pv_name"].startswith(dev) and r["vg_name"]})


def read_from(dev: str, mnt: Path, paths: list[str]) -> dict[str, Any]:
    """Mount dev read-only at mnt and read the given files (missing ones are None)."""
    mnt.mkdir(parents=True, exist_ok=True)
    if sh("mount", "-o", "ro", dev, str(mnt), check=False).returncode != 0:
        return {"mount_error": f"cannot mount {dev}"}
    try:
        out: dict[str, Any] = {}
        for p in paths:
            target = mnt / p
            if target.is_dir():
                out[p] = {c.name: c.read_text(errors="replace") for c in sorted(target.iterdir()) if c.is_file()}
            elif target.is_file():
                out[p] = target.read_text(errors="replace")
            else:
                out[p] = None
        return out
    finally:
        sh("umount", str(mnt), check=False)


def boot_partition(dev: str) -> str | None:
    """The disk's ext4 partition that is not inside LVM (anaconda's /boot)."""
    rows = json.loads(sh("lsblk", "-J", "-p", "-o", "NAME,FSTYPE,TYPE", dev).stdout)["blockdevices"]
    for child in rows[0].get("children", []) if rows else []:
        if child.get("type") == "part" and child.get("fstype") in ("ext4", "ext3", "ext2", "xfs"):
            return child["name"]
    return None


def inspect_disk(dev: str, work: Path) -> dict[str, Any]:
    """What anaconda and the addon left on the disk: LVM, the layer's fstab, /boot's entries."""
    vgs = vgs_on(dev)
    out: dict[str, Any] = {"vgs": [r for r in lvm_report("vgs", "vg_name,vg_tags") if r["vg_name"] in vgs],
                           "lvs": [r for r in lvm_report("lvs", "vg_name,lv_name,lv_attr,lv_tags,pool_lv,origin,"
                                                                "lv_size,lv_permissions,lv_skip_activation")
                                   if r["vg_name"] in vgs]}
    boot = boot_partition(dev)
    out["boot_partition"] = boot
    if boot:
        out["boot"] = read_from(boot, work / "mnt-boot", ["loader/entries", "grub/grubenv"])
    for vg in vgs:
        sh("vgchange", "-ay", "-K", vg, check=False)
        names = {r["lv_name"] for r in out["lvs"] if r["vg_name"] == vg}
        for lv in [n for n in ("Base-0.1", "root") if n in names]:
            out.setdefault("roots", {})[f"{vg}/{lv}"] = read_from(f"/dev/{vg}/{lv}", work / "mnt-root",
                                                                  ["etc/fstab", "usr/lib/os-release"])
        if boot and "Base-0.1" in names:
            out.setdefault("imgbase_layout", {})[vg] = imgbase_layout(vg, boot, work / "mnt-boot")
    return out


def imgbase_layout(vg: str, boot: str, mnt: Path) -> dict[str, Any]:
    """`imgbase --vg VG --boot-dir BOOT layout --json` on the installed disk."""
    mnt.mkdir(parents=True, exist_ok=True)
    if sh("mount", "-o", "ro", boot, str(mnt), check=False).returncode != 0:
        return {"error": f"cannot mount {boot}"}
    try:
        proc = sh(sys.executable, "-c", "import sys; from org_ovirt_imgbased.cli import main; sys.exit(main())",
                  "--vg", vg, "--boot-dir", str(mnt),
                  "layout", "--json", check=False)
        try:
            return {"rc": proc.returncode, "json": json.loads(proc.stdout)}
        except ValueError:
            return {"rc": proc.returncode, "stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}
    finally:
        sh("umount", str(mnt), check=False)


def release_disk(dev: str, wipe: bool, wait: float = 60) -> dict[str, Any]:
    """Deactivate the disk's VGs (and with wipe, erase them) so the next variant sees no duplicates."""
    report: dict[str, Any] = {"vgs": vgs_on(dev), "errors": [], "swapoff": swaps_on(dev)}
    for swap in report["swapoff"]:
        # anaconda's swapon outlives its mount namespace: swap is not a mount.
        sh("swapoff", swap, check=False)
    deadline = time.monotonic() + wait
    for vg in report["vgs"]:
        while True:
            proc = sh("vgchange", "-an", vg, check=False)
            if proc.returncode == 0:
                break
            if time.monotonic() > deadline:
                report["errors"].append(f"vgchange -an {vg}: {proc.stderr.strip()[-400:]}")
                break
            time.sleep(2)
        if wipe:
            proc = sh("vgremove", "-ff", "-y", vg, check=False)
            if proc.returncode != 0:
                report["errors"].append(f"vgremove {vg}: {proc.stderr.strip()[-400:]}")
    if wipe:
        parts = json.loads(sh("lsblk", "-J", "-p", "-o", "NAME", dev).stdout)["blockdevices"][0].get("children", [])
        for p in parts:
            sh("wipefs", "-a", p["name"], check=False)
        sh("wipefs", "-a", dev, check=False)
        sh("blockdev", "--rereadpt", dev, check=False)
        if vgs_on(dev):
            report["errors"].append(f"{dev} still holds VGs {vgs_on(dev)}")
    return report


def swaps_on(dev: str) -> list[str]:
    """Active swap devices (from /proc/swaps) that are dev, its partitions or LVs on them."""
    rows = sh("lsblk", "-ln", "-o", "MAJ:MIN", dev, check=False).stdout.split()
    tree = {tuple(int(n) for n in r.split(":")) for r in rows if ":" in r}
    swaps = []
    for line in Path("/proc/swaps").read_text().splitlines()[1:]:
        path = line.split()[0]
        with contextlib.suppress(OSError):
            rdev = os.stat(path).st_rdev
            if (os.major(rdev), os.minor(rdev)) in tree:
                swaps.append(path)
    return swaps


def namespace_processes(ns: str) -> list[int]:
    """Process ids whose mount namespace is ns (as /proc/PID/ns/mnt reads)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns/mnt") == ns:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def end_namespace(ns: str | None, wait: float = 20) -> list[int]:
    """End what anaconda left running in its namespace (start-module's timers, modules still quitting)."""
    if not ns:
        return []
    left = namespace_processes(ns)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while namespace_processes(ns) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in namespace_processes(ns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    return left
