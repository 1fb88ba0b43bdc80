# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark 4: `imgbase layout` with 100 LVs (10 bases x 9 layers), against a bare lvs call.

The LVs are made directly with lvcreate (through one `lvm` shell process, so
that setting up is quick) and tagged like imgbase tags them: bases inactive
with activation skip, layers active thin snapshots.  Then, interleaved:
the bare `lvs --reportformat json` call the library makes, the library
in-process (`layout.load()` + `render_tree()`), and the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

from org_ovirt_imgbased.host import layout as layout_mod
from org_ovirt_imgbased.host.storage.lvm import LV_FIELDS, TAG_BASE, TAG_LAYER
from org_ovirt_imgbased.runner import Runner
from tests.bench.machine import BenchEnv, BenchError, Cli, lv_names, progress, remove_vg, run, timed
from tests.bench.report import Goal, Section, fmt_ratio, fmt_seconds, median, ratio

VG = "imgbench4"
BASES = 10
LAYERS_PER_BASE = 9
REPEATS = 5
CLI_COLD = "cli, no bytecode cache"
IMPORT_CACHED = "python -S: import org_ovirt_imgbased.cli (bytecode cached)"


def lvm_script(vg: str, bases: int = BASES, layers: int = LAYERS_PER_BASE) -> str:
    """The lvm shell commands that create the bases and layers, tagged like imgbase does."""
    lines = []
    for n in range(bases):
        lines.append(f"lvcreate -q --thin -V 1G -an -ky -n Base-{n} --addtag {TAG_BASE} {vg}/pool00")
        lines += [f"lvcreate -q -s -kn -n Base-{n}.{m} --addtag {TAG_LAYER} {vg}/Base-{n}"
                  for m in range(1, layers + 1)]
    return "\n".join(lines) + "\n"


def populate() -> float:
    """Create the 100 LVs; return the time it took."""
    start = time.perf_counter()
    run(["lvm"], input=lvm_script(VG))
    seconds = time.perf_counter() - start
    made = [n for n in lv_names(VG) if n.startswith("Base-")]
    if len(made) != BASES * (LAYERS_PER_BASE + 1):
        raise BenchError(f"expected {BASES * (LAYERS_PER_BASE + 1)} bases and layers, lvm made {len(made)}")
    return seconds


def library_once(cmdline: Path) -> float:
    """One in-process layout.load() + render_tree(); check it sees every base and layer."""
    start = time.perf_counter()
    found = layout_mod.load(Runner(), None, cmdline)
    layout_mod.render_tree(found)
    seconds = time.perf_counter() - start
    if len(found.bases) != BASES or len(found.layers()) != BASES * LAYERS_PER_BASE:
        raise BenchError(f"layout.load() saw {len(found.bases)} bases and {len(found.layers())} layers")
    return seconds


def measure(cli: Cli, cold: Cli, cmdline: Path) -> dict[str, list[float]]:
    """REPEATS interleaved rounds of lvs, the library and the CLI (text, --json, no bytecode cache)."""
    lvs_argv = ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--binary", "-o", LV_FIELDS]
    found: dict[str, list[float]] = {"lvs": [], "library": [], "cli": [], "cli --json": [], CLI_COLD: []}
    for _ in range(REPEATS):
        found["lvs"].append(timed(lvs_argv)[0])
        found["library"].append(library_once(cmdline))
        found["cli"].append(cli("layout", vg=False)[0])
        found["cli --json"].append(cli("layout", "--json", vg=False)[0])
        found[CLI_COLD].append(cold("layout", vg=False)[0])
    return found


def floors(cli: Cli, cold: Cli) -> dict[str, float | None]:
    """What any CLI call costs before it does anything (medians): the interpreter and the imports."""
    python = cli.argv()[0]
    imports = [python, "-S", "-c", "import org_ovirt_imgbased.cli"]

    def med(argv: list[str], env: dict[str, str] | None = None) -> float | None:
        """Median wall time of REPEATS runs."""
        return median([timed(argv, env=env)[0] for _ in range(REPEATS)])

    return {"python -S -c pass": med([python, "-S", "-c", "pass"]), IMPORT_CACHED: med(imports, cli.env),
            "python -S: import org_ovirt_imgbased.cli, no bytecode cache": med(imports, cold.env)}


def run_bench(env: BenchEnv) -> Section:
    """Run benchmark 4 and return its section."""
    section = Section(f"4. imgbase layout with {BASES * (LAYERS_PER_BASE + 1)} LVs")
    cli = Cli(env.work / "layout", VG, env.pycache)
    cold = Cli(env.work / "layout", VG, None)
    cli.init(env.disk.pv)
    try:
        progress(f"creating {BASES} bases x {LAYERS_PER_BASE} layers with one lvm shell")
        t_populate = populate()
        progress(f"created in {fmt_seconds(t_populate)}; measuring {REPEATS} rounds")
        found = measure(cli, cold, env.work / "layout" / "cmdline")
        floor = floors(cli, cold)
    finally:
        remove_vg(VG, env.disk.pv)
    lvs = median(found["lvs"])
    rows = [[name, *(fmt_seconds(t) for t in times), fmt_seconds(median(times)), fmt_ratio(ratio(median(times), lvs))]
            for name, times in found.items()]
    section.table(["call", *(f"run {i + 1}" for i in range(REPEATS)), "median", "vs lvs"], rows,
                  f"Reading the layout of {BASES} bases x {LAYERS_PER_BASE} layers (+ pool); set-up took "
                  f"{fmt_seconds(t_populate)}. lvs = the bare `lvs --reportformat json` call the library makes; "
                  "library = layout.load() + render_tree() in-process; cli = python -S -m org_ovirt_imgbased layout "
                  "with the package's bytecode cached (as installed); the last row compiles it on every start")
    section.table(["floor of every CLI call (median)", "time"], [[k, fmt_seconds(v)] for k, v in floor.items()])
    cli_med, lib_med = median(found["cli"]), median(found["library"])
    imports = floor[IMPORT_CACHED]
    overhead = None if cli_med is None or imports is None else cli_med - imports
    section.note(f"CLI minus interpreter+imports: {fmt_seconds(overhead)}; library overhead over lvs: "
                 f"{fmt_seconds(None if lib_med is None or lvs is None else lib_med - lvs)}.")
    section.goals.append(Goal("imgbase layout, 100 LVs, CLI median (bytecode cached)", cli_med, 0.3, "s"))
    section.goals.append(Goal("layout.load() + render_tree(), in-process median", lib_med, 0.3, "s"))
    section.goals.append(Goal("library / bare lvs (our overhead over lvm)", ratio(lib_med, lvs), None, "x"))
    return section
