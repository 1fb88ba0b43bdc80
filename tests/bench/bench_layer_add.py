# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark 1: `imgbase layer --add` on bases of 1, 10 and 50 GiB, and where its time goes.

The bases are made with `imgbase base --add --size NG DIR` (mkfs.ext4 -d of a
small tree onto the thin LV).  That gives the same kind of filesystem as an
ext4 image of that size, without hashing a 50 GiB sparse file first (sha256
runs at about 60 MB/s under TCG, so a 50 GiB image would take ~15 minutes).
Then each base gets REPEATS layers, sizes interleaved.  The individual steps
a layer add runs are then timed by hand on probe snapshots, together with two
cheaper ways to give the snapshot a fresh UUID.
"""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.host.storage.lvm import LV_FIELDS
from tests.bench.machine import BenchEnv, Cli, lvs_json, pool_used, progress, remove_vg, run, timed
from tests.bench.payload import small_tree
from tests.bench.report import Goal, Section, fmt_mib, fmt_ratio, fmt_seconds, growth, median, ratio

VG = "imgbench1"
SIZES_GIB = (1, 10, 50)
REPEATS = 3
STEPS = ("lvcreate -s -kn", "lvchange -ay", "lvchange --permission rw", "e2fsck -f -y",
         "tune2fs -U random")
ONE_CALL = "lvcreate -s -kn --permission rw (one call)"
CLEAN_CHECK = "dumpe2fs -h (clean check)"
PLAIN_UUID = "tune2fs -U random, no e2fsck"
SEED_UUID = "tune2fs -O metadata_csum_seed -U random, no e2fsck"
ALTERNATIVES = (ONE_CALL, CLEAN_CHECK, PLAIN_UUID, SEED_UUID)
PATHS = {"sum of the steps as imgbase runs them": STEPS,
         "sum: one lvcreate, clean check, tune2fs -U": (ONE_CALL, CLEAN_CHECK, PLAIN_UUID),
         "sum: one lvcreate, csum_seed + tune2fs -U": (ONE_CALL, SEED_UUID)}


def _attr(name: str) -> str:
    """An LV's attribute string, e.g. Vwi-a-tz--."""
    rows = lvs_json("-o", "lv_attr", f"{VG}/{name}")["report"][0]["lv"]
    return rows[0]["lv_attr"] if rows else "?"


def _describe_attr(attr: str) -> str:
    """Permission and activation read from an lv_attr string."""
    perm = {"w": "writable", "r": "read-only"}.get(attr[1:2], "?")
    return f"{attr} ({perm}, {'active' if attr[4:5] == 'a' else 'inactive'})"


def _snapshot(base: str, name: str, times: dict, outcome: dict) -> str:
    """Make a writable probe snapshot of base the way imgbase does, timing each lvm step."""
    times[STEPS[0]], _ = timed(["lvcreate", "-q", "-s", "-kn", "-n", name, f"{VG}/{base}"])
    outcome["attr after lvcreate -s -kn"] = _describe_attr(_attr(name))
    times[STEPS[1]], _ = timed(["lvchange", "-q", "-ay", f"{VG}/{name}"])
    times[STEPS[2]], _ = timed(["lvchange", "-q", "--permission", "rw", f"{VG}/{name}"], check=False)
    return f"/dev/{VG}/{name}"


def _one_call(base: str, name: str, times: dict, outcome: dict) -> str:
    """Make the probe snapshot writable and active in a single lvcreate."""
    times[ONE_CALL], _ = timed(["lvcreate", "-q", "-s", "-kn", "--permission", "rw", "-n", name, f"{VG}/{base}"])
    outcome[f"attr after {ONE_CALL}"] = _describe_attr(_attr(name))
    return f"/dev/{VG}/{name}"


def _tune(argv: list[str], key: str, times: dict, outcome: dict) -> None:
    """Time a tune2fs variant; a refusal is recorded instead of a time."""
    seconds, proc = timed(argv, check=False)
    times[key] = seconds if proc.returncode == 0 else None
    outcome[key] = "ok" if proc.returncode == 0 else f"refused: {proc.stdout.strip()[-80:]}"


def _fs_state(device: str) -> str:
    """The filesystem state and checksum features of device, from dumpe2fs -h."""
    fields = {}
    for line in run(["dumpe2fs", "-h", device], check=False).stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    features = fields.get("Filesystem features", "").split()
    csum = "metadata_csum_seed" if "metadata_csum_seed" in features else (
        "metadata_csum" if "metadata_csum" in features else "no csum")
    return f"{fields.get('Filesystem state', '?')}, {csum}"


def probe_parts(base: str) -> tuple[dict[str, float | None], dict[str, str]]:
    """Time each layer-add step, and the alternatives, on probe snapshots of base."""
    times: dict[str, float | None] = {}
    outcome: dict[str, str] = {}
    dev = _snapshot(base, "probe1", times, outcome)
    outcome["base filesystem state"] = _fs_state(dev)
    times[STEPS[3]], fsck = timed(["e2fsck", "-f", "-y", dev], check=False)
    outcome[STEPS[3]] = f"exit {fsck.returncode}"
    times[STEPS[4]], _ = timed(["tune2fs", "-U", "random", dev])
    dev = _one_call(base, "probe2", times, outcome)
    times[CLEAN_CHECK], _ = timed(["dumpe2fs", "-h", dev])
    _tune(["tune2fs", "-U", "random", dev], PLAIN_UUID, times, outcome)
    dev = _one_call(base, "probe3", times, outcome)
    _tune(["tune2fs", "-O", "metadata_csum_seed", "-U", "random", dev], SEED_UUID, times, outcome)
    check = run(["e2fsck", "-f", "-n", dev], check=False)
    outcome["e2fsck -fn after csum_seed + new UUID"] = f"exit {check.returncode}"
    run(["lvremove", "-q", "-f", f"{VG}/probe1", f"{VG}/probe2", f"{VG}/probe3"])
    return times, outcome


def _median_time(argv: list[str], env: dict[str, str] | None = None) -> float | None:
    """Median wall time of REPEATS runs of a command."""
    return median([timed(argv, env=env)[0] for _ in range(REPEATS)])


def fixed_costs(cli: Cli, cold: Cli) -> dict[str, float | None]:
    """Costs every layer add pays whatever the size (medians): the interpreter, imports, one lvs."""
    return {"python -S -c pass": _median_time([cli.argv()[0], "-S", "-c", "pass"]),
            "imgbase --version (interpreter + imports, bytecode cached)":
                _median_time(cli.argv("--version", vg=False), cli.env),
            "imgbase --version, no bytecode cache (compiles the package)":
                _median_time(cold.argv("--version", vg=False), cold.env),
            "lvs --reportformat json (one layout read)":
                _median_time(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--binary",
                              "-o", LV_FIELDS])}


def _add_bases(cli: Cli, tree: Path) -> tuple[dict[int, str], list[list[str]]]:
    """One base per size from the small tree; return their names and a setup table."""
    bases, rows = {}, []
    for gib in SIZES_GIB:
        progress(f"base --add --size {gib}G (directory payload)")
        before = pool_used(VG)
        seconds, out = cli.json("base", "--add", "--size", f"{gib}G", str(tree))
        bases[gib] = out["base"]
        rows.append([f"{gib} GiB", out["base"], fmt_seconds(seconds), fmt_mib(pool_used(VG) - before)])
    return bases, rows


def _layer_runs(cli: Cli, bases: dict[int, str]) -> tuple[dict[int, list[float]], dict[int, list[int]]]:
    """REPEATS layer adds per base, sizes interleaved; wall times and pool growth per add."""
    times: dict[int, list[float]] = {g: [] for g in SIZES_GIB}
    grown: dict[int, list[int]] = {g: [] for g in SIZES_GIB}
    for rep in range(REPEATS):
        for gib in SIZES_GIB:
            before = pool_used(VG)
            seconds, out = cli.json("layer", "--add", "--base", bases[gib])
            grown[gib].append(pool_used(VG) - before)
            times[gib].append(seconds)
            progress(f"round {rep + 1}: layer --add on {gib} GiB -> {out['layer']} in {fmt_seconds(seconds)}")
    return times, grown


def run_bench(env: BenchEnv) -> Section:
    """Run benchmark 1 and return its printed section."""
    section = Section("1. imgbase layer --add on bases of 1, 10 and 50 GiB")
    top = env.disk.scratch / "layer-add"
    top.mkdir()
    tree = small_tree(top)
    cli = Cli(env.work / "layer-add", VG, env.pycache)
    progress("layout --init")
    t_init = cli.init(env.disk.pv)
    try:
        bases, setup_rows = _add_bases(cli, tree)
        times, grown = _layer_runs(cli, bases)
        parts, outcomes = {}, {}
        for gib in SIZES_GIB:
            progress(f"timing the steps by hand on {gib} GiB probe snapshots")
            parts[gib], outcomes[gib] = probe_parts(bases[gib])
        fixed = fixed_costs(cli, Cli(env.work / "layer-add", VG, None))
    finally:
        remove_vg(VG, env.disk.pv)
    section.table(["setup", "base", "time", "pool growth"],
                  [["layout --init", VG, fmt_seconds(t_init), "-"], *setup_rows],
                  "Setup (not a goal): imgbase layout --init, then base --add --size N of a 10 MiB tree")
    _report_runs(section, bases, times, grown)
    _report_parts(section, parts, outcomes, fixed)
    return section


def _report_runs(section: Section, bases: dict[int, str], times: dict[int, list[float]],
                 grown: dict[int, list[int]]) -> None:
    """The wall-time table of the CLI layer adds, and the goals."""
    small = median(times[SIZES_GIB[0]])
    rows = []
    for gib in SIZES_GIB:
        med = median(times[gib])
        rows.append([f"{gib} GiB", bases[gib], *(fmt_seconds(t) for t in times[gib]), fmt_seconds(med),
                     fmt_ratio(ratio(med, small)), fmt_mib(median(grown[gib]))])
    runs = [f"run {i + 1}" for i in range(REPEATS)]
    section.table(["base size", "base", *runs, "median", f"vs {SIZES_GIB[0]} GiB", "pool growth"], rows,
                  "imgbase layer --add, wall time of the whole CLI call (python -S, lock, lvs, lvm, fsck, tune2fs)")
    largest = median(times[SIZES_GIB[-1]])
    section.goals.append(Goal(f"layer add {SIZES_GIB[-1]} GiB / {SIZES_GIB[0]} GiB (median)",
                              ratio(largest, small), 1.25, "x", "~1.0, flat (<= 1.25x)"))
    section.goals.append(Goal(f"layer add on {SIZES_GIB[-1]} GiB, median wall time", largest, 1.0, "s",
                              "< 1 s on real hardware"))


def _report_parts(section: Section, parts: dict, outcomes: dict, fixed: dict[str, float | None]) -> None:
    """Where the time goes: each step by hand, the alternatives, fixed costs, and the growth."""
    sizes = [f"{g} GiB" for g in SIZES_GIB]

    def cell(gib: int, step: str) -> str:
        """A step's time, or what happened instead (a refusal)."""
        value = parts[gib].get(step)
        return fmt_seconds(value) if value is not None else outcomes[gib].get(step, "-")

    rows = [[step, *(cell(g, step) for g in SIZES_GIB)] for step in (*STEPS, *ALTERNATIVES)]
    sums = {name: {g: _sum(parts[g], steps) for g in SIZES_GIB} for name, steps in PATHS.items()}
    rows += [[name, *(fmt_seconds(by[g]) for g in SIZES_GIB)] for name, by in sums.items()]
    section.table(["step, run by hand on a probe snapshot", *sizes], rows,
                  "Where a layer add spends its time: imgbase's steps, then cheaper alternatives (each "
                  "alternative on its own fresh snapshot), then the sums of three ways to make a layer")
    facts = sorted({k for g in SIZES_GIB for k in outcomes[g] if k not in ALTERNATIVES})
    section.table(["what the probes saw", *sizes], [[k, *(outcomes[g].get(k, "-") for g in SIZES_GIB)]
                                                    for k in facts])
    section.table(["fixed cost per call (median)", "time"], [[k, fmt_seconds(v)] for k, v in fixed.items()])
    ratios = [f"{name}: {fmt_ratio(ratio(by[SIZES_GIB[-1]], by[SIZES_GIB[0]]))}" for name, by in sums.items()]
    section.note(f"{SIZES_GIB[-1]} GiB / {SIZES_GIB[0]} GiB per way of making a layer: " + "; ".join(ratios) + ".")
    grow = growth({g: {k: parts[g].get(k) for k in STEPS} for g in SIZES_GIB})
    if grow:
        section.note(f"Growth {SIZES_GIB[0]} -> {SIZES_GIB[-1]} GiB by imgbase's steps: "
                     + ", ".join(f"{s} {d:+.3f} s" for s, d in grow) + f". Largest: {grow[0][0]}.")


def _sum(times: dict[str, float | None], steps: tuple[str, ...]) -> float | None:
    """Sum of the steps' times, None when one is missing (a refused alternative)."""
    values = [times.get(s) for s in steps]
    return None if any(v is None for v in values) else sum(values)
