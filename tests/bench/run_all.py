#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the imgbased benchmarks in the VM lab and print figures, ratios and goals (`make bench`).

Needs root, device-mapper and a scratch disk it may wipe (default /dev/vdb, the
first `vm-run --disk`).  Each benchmark builds its own VG on that disk,
measures, prints a table and removes the VG.  Time goals are only reported,
never asserted: the exit status is 0 when every benchmark ran, 1 when one
broke, 2 when the machine cannot run them at all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import bench_base_add, bench_layer_add, bench_layout, bench_update_url  # noqa: E402
from tests.bench.machine import (  # noqa: E402
    BenchEnv,
    accel_lines,
    detect_virt,
    prepare_disk,
    release_disk,
    tool_versions,
    warm_bytecode,
)
from tests.bench.report import Goal, Section, fmt_seconds, summary  # noqa: E402
from tests.lvmhelp import has_device_mapper  # noqa: E402

TOOLS = ("lvm", "sfdisk", "wipefs", "mkfs.ext4", "e2fsck", "tune2fs", "dumpe2fs", "debugfs", "e2image", "dd")


def _as_list(result: Section | tuple[Section, ...]) -> list[Section]:
    """Benchmarks return one section or several."""
    return list(result) if isinstance(result, tuple) else [result]


BENCHES: dict[str, Callable[[BenchEnv], Section | tuple[Section, ...]]] = {
    "layer-add": bench_layer_add.run_bench,
    "base-add": bench_base_add.run_bench,
    "layout": bench_layout.run_bench,
    "update-url": bench_update_url.run_bench,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--disk", default=os.environ.get("IMGBASED_BENCH_DISK", "/dev/vdb"),
                   help="scratch disk to partition and wipe (default /dev/vdb)")
    p.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only this benchmark")
    p.add_argument("--force", action="store_true",
                   help="allow wiping --disk outside the VM lab (IMGBASED_IN_VM is not 1)")
    return p.parse_args(argv)


def preflight(args: argparse.Namespace) -> str | None:
    """Why the benchmarks cannot run here, or None when they can."""
    if not has_device_mapper():
        return ("this kernel has no device-mapper (see /proc/misc), so lvm thin cannot run; "
                "run the benchmarks in the VM lab with `make bench`")
    if os.geteuid() != 0:
        return "the benchmarks need root (lvm, mkfs, mount); run them in the VM lab with `make bench`"
    if os.environ.get("IMGBASED_IN_VM") != "1" and not args.force:
        return f"not in the VM lab: refusing to wipe {args.disk} (pass --force if you mean it)"
    try:
        if not stat.S_ISBLK(os.stat(args.disk).st_mode):
            return f"{args.disk} is not a block device; give a scratch disk with --disk"
    except OSError:
        return f"scratch disk {args.disk} does not exist; attach one (vm-run --disk 80G) or pass --disk"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing tools: {', '.join(missing)}; install lvm2, e2fsprogs, fdisk and coreutils"
    return None


def header() -> str:
    """The report's opening lines: when, where, which tools, and the emulation caveat."""
    lines = [f"imgbased benchmarks, {time.strftime('%Y-%m-%d %H:%M:%S')}", *tool_versions(),
             *accel_lines(dict(os.environ), detect_virt()),
             "time goals are reported, never asserted: these machines are noisy"]
    return "\n".join(lines)


def run_benches(env: BenchEnv, names: list[str]) -> tuple[list[Goal], list[str]]:
    """Run the chosen benchmarks in order, printing each section; collect goals and failures."""
    goals: list[Goal] = []
    failed: list[str] = []
    for name in names:
        print(f"\n>> {name}", flush=True)
        start = time.monotonic()
        try:
            sections = _as_list(BENCHES[name](env))
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"!! benchmark {name} broke:\n{traceback.format_exc()}", flush=True)
            continue
        for section in sections:
            print("\n" + section.render(), flush=True)
            goals += section.goals
        print(f"\n({name} took {fmt_seconds(time.monotonic() - start)})", flush=True)
    return goals, failed


def main(argv: list[str] | None = None) -> int:
    """Entry point: preflight, prepare the disk, run, summarise."""
    args = parse_args(argv)
    problem = preflight(args)
    if problem:
        print(f"run_all: refusing to run: {problem}", file=sys.stderr)
        return 2
    start = time.monotonic()
    print(header(), flush=True)
    disk = prepare_disk(args.disk)
    work = Path(tempfile.mkdtemp(prefix="imgbench-"))
    try:
        pycache = work / "pycache"
        print(f"compiled the package's bytecode into a private cache in {fmt_seconds(warm_bytecode(pycache))}",
              flush=True)
        goals, failed = run_benches(BenchEnv(disk, work, pycache), args.only or list(BENCHES))
    finally:
        release_disk(disk)
        shutil.rmtree(work, ignore_errors=True)
    print("\n" + Section("Summary: ratios and times against the goals").render(), flush=True)
    print(summary(goals, failed))
    print(f"\nwhole benchmark run: {fmt_seconds(time.monotonic() - start)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
