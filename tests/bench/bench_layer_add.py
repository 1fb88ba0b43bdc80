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

from org_ovirt_imgbased.lvm import LV_FIELDS
from tests.bench.machine import BenchEnv, Cli, pool_used, progress, remove_vg, run, timed
from tests.bench.payload import small_tree
from tests.bench.report import Goal, Section, fmt_mib, fmt_ratio, fmt_seconds, growth, median, ratio

VG = "imgbench1"
SIZES_GIB = (1, 10, 50)
REPEATS = 3
STEPS = ("lvcreate -s -kn", "lvchange -ay", "lvchange --permission rw", "e2fsck -f -y",
         "tune2fs -U random")
ALTERNATIVES = ("dumpe2fs -h (clean check)", "tune2fs -U random, no e2fsck",
                "tune2fs -O metadata_csum_seed -U random, no e2fsck")


def _snapshot(base: str, name: str) -> dict[str, float]:
    """Make a writable probe snapshot of base the way imgbase does, timing each lvm step."""
    t_create, _ = timed(["lvcreate", "-q", "-s", "-kn", "-n", name, f"{VG}/{base}"])
    t_active, _ = timed(["lvchange", "-q", "-ay", f"{VG}/{name}"])
    t_rw, _ = timed(["lvchange", "-q", "--permission", "rw", f"{VG}/{name}"], check=False)
    return {STEPS[0]: t_create, STEPS[1]: t_active, STEPS[2]: t_rw}


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


def probe_parts(base: str) -> tuple[dict[str, float | None], dict[str, str], str]:
    """Time each layer-add step, and the alternatives, on probe snapshots of base."""
    times: dict[str, float | None] = {}
    outcome: dict[str, str] = {}
    times.update(_snapshot(base, "probe1"))
    dev = f"/dev/{VG}/probe1"
    state = _fs_state(dev)
    t_fsck, fsck = timed(["e2fsck", "-f", "-y", dev], check=False)
    times[STEPS[3]] = t_fsck
    times[STEPS[4]], _ = timed(["tune2fs", "-U", "random", dev])
    outcome[STEPS[3]] = f"exit {fsck.returncode}"
    _snapshot(base, "probe2")
    dev2 = f"/dev/{VG}/probe2"
    times[ALTERNATIVES[0]], _ = timed(["dumpe2fs", "-h", dev2])
    t_plain, plain = timed(["tune2fs", "-U", "random", dev2], check=False)
    times[ALTERNATIVES[1]] = t_plain if plain.returncode == 0 else None
    outcome[ALTERNATIVES[1]] = "ok" if plain.returncode == 0 else f"refused: {plain.stdout.strip()[-80:]}"
    _snapshot(base, "probe3")
    dev3 = f"/dev/{VG}/probe3"
    t_seed, seed = timed(["tune2fs", "-O", "metadata_csum_seed", "-U", "random", dev3], check=False)
    times[ALTERNATIVES[2]] = t_seed if seed.returncode == 0 else None
    outcome[ALTERNATIVES[2]] = "ok" if seed.returncode == 0 else f"refused: {seed.stdout.strip()[-80:]}"
    fsck3 = run(["e2fsck", "-f", "-n", dev3], check=False)
    outcome["check after csum_seed"] = f"e2fsck -fn exit {fsck3.returncode}"
    run(["lvremove", "-q", "-f", f"{VG}/probe1", f"{VG}/probe2", f"{VG}/probe3"])
    return times, outcome, state


def fixed_costs(cli: Cli) -> dict[str, float]:
    """Costs every layer add pays whatever the size: the interpreter, imports, one lvs."""
    t_python, _ = timed([cli.argv()[0], "-S", "-c", "pass"])
    t_version, _ = timed(cli.argv("--version", vg=False), env=cli.env)
    t_lvs, _ = timed(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--binary",
                      "-o", LV_FIELDS])
    return {"python -S -c pass": t_python, "imgbase --version (interpreter + imports)": t_version,
            "lvs --reportformat json (one layout read)": t_lvs}


def _add_bases(cli: Cli, tree: Path) -> tuple[dict[int, str], list[list[str]]]:
    """One base per size from the small tree; return their names and a setup table."""
    bases, rows = {}, []
    for gib in SIZES_GIB:
        progress(f"base --add --size {gib}G (directory payload)")
        seconds, out = cli.json("base", "--add", "--size", f"{gib}G", str(tree))
        bases[gib] = out["base"]
        rows.append([f"{gib} GiB", out["base"], fmt_seconds(seconds)])
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
    cli = Cli(env.work / "layer-add", VG)
    progress("layout --init")
    t_init = cli.init(env.disk.pv)
    try:
        bases, setup_rows = _add_bases(cli, tree)
        times, grown = _layer_runs(cli, bases)
        parts, outcomes, states = {}, {}, {}
        for gib in SIZES_GIB:
            progress(f"timing the steps by hand on {gib} GiB probe snapshots")
            parts[gib], outcomes[gib], states[gib] = probe_parts(bases[gib])
        fixed = fixed_costs(cli)
    finally:
        remove_vg(VG, env.disk.pv)
    section.table(["setup", "base", "time"], [["layout --init", VG, fmt_seconds(t_init)], *setup_rows],
                  "Setup (not a goal): imgbase layout --init and base --add of a 10 MiB tree")
    _report_runs(section, bases, times, grown)
    _report_parts(section, parts, outcomes, states, fixed)
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


def _report_parts(section: Section, parts: dict, outcomes: dict, states: dict, fixed: dict[str, float]) -> None:
    """Where the time goes: each step by hand, the alternatives, fixed costs, and the growth."""
    sizes = [f"{g} GiB" for g in SIZES_GIB]
    rows = [[step, *(fmt_seconds(parts[g].get(step)) for g in SIZES_GIB)] for step in STEPS]
    rows.append(["sum of the steps", *(fmt_seconds(sum(parts[g][s] for s in STEPS)) for g in SIZES_GIB)])
    section.table(["step (as imgbase runs it)", *sizes], rows,
                  "Where a layer add spends its time: the same steps run by hand on a probe snapshot")
    alt = [[step, *(fmt_seconds(parts[g].get(step)) if parts[g].get(step) is not None
                    else outcomes[g].get(step, "-") for g in SIZES_GIB)] for step in ALTERNATIVES]
    alt.append(["base filesystem state", *(states[g] for g in SIZES_GIB)])
    alt.append(["e2fsck -f -y outcome", *(outcomes[g][STEPS[3]] for g in SIZES_GIB)])
    alt.append(["after csum_seed + new UUID", *(outcomes[g]["check after csum_seed"] for g in SIZES_GIB)])
    section.table(["cheaper ways to a fresh UUID (each on its own snapshot)", *sizes], alt)
    section.table(["fixed cost per call", "time"], [[k, fmt_seconds(v)] for k, v in fixed.items()])
    grow = growth(parts)
    if grow:
        step, extra = grow[0]
        fsck_share = [ratio(parts[g][STEPS[3]] + parts[g][STEPS[4]], sum(parts[g][s] for s in STEPS))
                      for g in SIZES_GIB]
        section.note(f"Growth {SIZES_GIB[0]} -> {SIZES_GIB[-1]} GiB by step: "
                     + ", ".join(f"{s} {d:+.3f} s" for s, d in grow)
                     + f".\nLargest growth: {step} ({extra:+.3f} s). e2fsck + tune2fs share of the "
                     "steps: " + ", ".join(f"{g} GiB {100 * (s or 0):.0f}%" for g, s in zip(SIZES_GIB, fsck_share))
                     + ".")
