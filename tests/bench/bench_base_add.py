# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmarks 2 and 3: base add against `dd conv=sparse`, and the pool bytes a base costs.

A realistic 2 GiB ext4 image (random and compressible files, many small
ones; about 400 MiB used) is added with `imgbase base --add IMAGE`, and in
the same rounds copied with `lvcreate` + `dd conv=sparse` into a fresh thin LV
of the same size.  Rounds alternate the order and start with a cold page
cache.  The pool's used bytes are read before and after each copy.  Finally
the parts of a base add (sha256, debugfs, lvcreate, e2image, sealing) are
timed one by one.
"""

from __future__ import annotations

import time

from org_ovirt_imgbased.host.image import sha256_of
from tests.bench.machine import BenchEnv, Cli, drop_caches, pool_used, progress, remove_vg, run, timed
from tests.bench.payload import allocated, ext4_used, make_ext4, realistic_tree
from tests.bench.report import Goal, Section, fmt_mib, fmt_ratio, fmt_seconds, median, median_ratio, ratio

VG = "imgbench2"
POOL_SIZE = "8G"  # small, so the pool's 0.01% data_percent steps are below 1 MiB
IMAGE_SIZE = "2G"
ROUNDS = 3
DD_BS = "1M"


def imgbase_round(cli: Cli, image) -> dict[str, float]:
    """One cold `imgbase base --add IMAGE`; then remove the base again."""
    drop_caches()
    before = pool_used(VG)
    seconds, out = cli.json("base", "--add", str(image))
    grown = pool_used(VG) - before
    cli("base", "--remove", out["base"])
    progress(f"imgbase base --add: {fmt_seconds(seconds)}, pool +{fmt_mib(grown)}")
    return {"imgbase": seconds, "imgbase_pool": grown}


def dd_round(image, size: int) -> dict[str, float]:
    """One cold lvcreate + `dd conv=sparse` of IMAGE into a fresh thin LV; then remove it."""
    drop_caches()
    before = pool_used(VG)
    t_lv, _ = timed(["lvcreate", "-q", "--thin", "-V", f"{size}b", "-n", "ddcopy", f"{VG}/pool00"])
    t_dd, _ = timed(["dd", f"if={image}", f"of=/dev/{VG}/ddcopy", f"bs={DD_BS}", "conv=sparse,fsync",
                     "status=none"])
    grown = pool_used(VG) - before
    run(["lvremove", "-q", "-f", f"{VG}/ddcopy"])
    progress(f"lvcreate + dd conv=sparse: {fmt_seconds(t_lv + t_dd)}, pool +{fmt_mib(grown)}")
    return {"lvcreate": t_lv, "dd": t_dd, "lvcreate+dd": t_lv + t_dd, "dd_pool": grown}


def parts(image, size: int) -> dict[str, float]:
    """The steps of a base add, by hand: hash, identity, create, copy, seal."""
    drop_caches()
    start = time.perf_counter()
    sha256_of(image)
    found = {"sha256 of the image (library code, in-process)": time.perf_counter() - start}
    found["debugfs cat os-release"], _ = timed(["debugfs", "-R", "cat /usr/lib/os-release", str(image)])
    found["lvcreate --thin"], _ = timed(["lvcreate", "-q", "--thin", "-V", f"{size}b", "-n", "parts",
                                         f"{VG}/pool00"])
    before = pool_used(VG)
    found["e2image -ra (sparse copy)"], _ = timed(["e2image", "-ra", str(image), f"/dev/{VG}/parts"])
    found["pool growth by e2image"] = pool_used(VG) - before
    start = time.perf_counter()
    for args in (["--permission", "r"], ["--setactivationskip", "y"], ["-an"]):
        run(["lvchange", "-q", *args, f"{VG}/parts"])
    found["seal: 3 x lvchange"] = time.perf_counter() - start
    run(["lvremove", "-q", "-f", f"{VG}/parts"])
    return found


def run_bench(env: BenchEnv) -> tuple[Section, Section]:
    """Run benchmarks 2 and 3 (same rounds) and return their sections."""
    top = env.disk.scratch / "base-add"
    top.mkdir()
    progress("building a realistic tree and a 2 GiB ext4 image from it")
    start = time.perf_counter()
    image = make_ext4(realistic_tree(top), top / "rootfs.img", IMAGE_SIZE)
    t_build = time.perf_counter() - start
    fs_size, fs_used = ext4_used(image)
    cli = Cli(env.work / "base-add", VG, env.pycache)
    cli.init(env.disk.pv, POOL_SIZE)
    rounds = []
    try:
        for i in range(ROUNDS):
            found: dict[str, float] = {}
            steps = [lambda: imgbase_round(cli, image), lambda: dd_round(image, fs_size)]
            for step in steps if i % 2 == 0 else reversed(steps):
                found.update(step())
            rounds.append(found)
        progress("timing the parts of a base add by hand")
        found_parts = parts(image, fs_size)
    finally:
        remove_vg(VG, env.disk.pv)
    info = {"fs_size": fs_size, "fs_used": fs_used, "allocated": allocated(image), "build": t_build}
    return _time_section(rounds, found_parts, info), _pool_section(rounds, found_parts, info)


def _time_section(rounds: list[dict[str, float]], found: dict[str, float], info: dict) -> Section:
    """Benchmark 2's section: the rounds, the median ratio and the parts."""
    section = Section("2. imgbase base --add against lvcreate + dd conv=sparse")
    section.note(f"Image: {fmt_mib(info['fs_size'])} ext4 filesystem, {fmt_mib(info['fs_used'])} used "
                 f"(dumpe2fs), {fmt_mib(info['allocated'])} allocated in the sparse file; built in "
                 f"{fmt_seconds(info['build'])}. dd uses bs={DD_BS} conv=sparse,fsync. Each run starts with "
                 "a dropped page cache; rounds alternate which copy goes first.")
    rows = [[f"round {i + 1}", "imgbase first" if i % 2 == 0 else "dd first", fmt_seconds(r["imgbase"]),
             fmt_seconds(r["lvcreate"]), fmt_seconds(r["dd"]), fmt_seconds(r["lvcreate+dd"]),
             fmt_ratio(ratio(r["imgbase"], r["lvcreate+dd"])), fmt_ratio(ratio(r["imgbase"], r["dd"]))]
            for i, r in enumerate(rounds)]
    vs_both = median_ratio([(r["imgbase"], r["lvcreate+dd"]) for r in rounds])
    vs_dd = median_ratio([(r["imgbase"], r["dd"]) for r in rounds])
    rows.append(["median", "", fmt_seconds(median([r["imgbase"] for r in rounds])), "", "",
                 fmt_seconds(median([r["lvcreate+dd"] for r in rounds])), fmt_ratio(vs_both), fmt_ratio(vs_dd)])
    section.table(["round", "order", "imgbase", "lvcreate", "dd", "lvcreate+dd", "ratio", "vs dd alone"], rows)
    timed_parts = {k: v for k, v in found.items() if not k.startswith("pool")}
    total = sum(timed_parts.values())
    section.table(["part of a base add (by hand)", "time", "share"],
                  [[k, fmt_seconds(v), f"{100 * v / total:.0f}%"] for k, v in timed_parts.items()]
                  + [["sum", fmt_seconds(total), "100%"]])
    section.goals.append(Goal("base add / (lvcreate + dd conv=sparse), median of rounds", vs_both, 1.15))
    return section


def _pool_section(rounds: list[dict[str, float]], found: dict[str, float], info: dict) -> Section:
    """Benchmark 3's section: pool bytes against the image's used bytes."""
    section = Section("3. Pool bytes used by a base against the image's used bytes")
    used, alloc = info["fs_used"], info["allocated"]
    grown = median([r["imgbase_pool"] for r in rounds])
    dd_grown = median([r["dd_pool"] for r in rounds])
    rows = [["imgbase base --add (median)", fmt_mib(grown), fmt_ratio(ratio(grown, used)),
             fmt_ratio(ratio(grown, alloc))],
            ["e2image -ra alone", fmt_mib(found["pool growth by e2image"]),
             fmt_ratio(ratio(found["pool growth by e2image"], used)),
             fmt_ratio(ratio(found["pool growth by e2image"], alloc))],
            [f"dd bs={DD_BS} conv=sparse (median)", fmt_mib(dd_grown), fmt_ratio(ratio(dd_grown, used)),
             fmt_ratio(ratio(dd_grown, alloc))]]
    section.table(["copy", "pool growth", "vs fs used", "vs file allocated"], rows,
                  f"fs used (dumpe2fs blocks - free) = {fmt_mib(used)}; the image file's allocated "
                  f"blocks = {fmt_mib(alloc)}; pool read as lvs data_percent x size ({POOL_SIZE} pool)")
    section.goals.append(Goal("pool bytes of a base / image fs used bytes", ratio(grown, used), 1.05))
    return section
