# SPDX-License-Identifier: GPL-2.0-or-later
"""The storage, thin and transaction groups of `imgbase check`.

Every check gives a Finding: OK, WARNING or FAILED with a one-line reason that says what is
wrong and how to fix it.  Warnings do not fail the check; any FAILED finding does.  The
group functions are pure (they take what was read), so they can be tested without LVM;
run_check reads everything (one ``lvs`` call for the layout, one for the pool's monitoring)
under the imgbased lock, so it never sees an operation half-way.
"""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.host import naming, txn
from org_ovirt_imgbased.host.check.report import FAILED, OK, WARNING, Finding, finding
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.storage import lvm, space
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import human

WARN_PERCENT = 70
PROFILE_DIR = Path("/etc/lvm/profile")


# --- storage -------------------------------------------------------------------------------------

def check_storage(layout: Layout, lvs: list[lvm.LV], vg_tags: list[str],
                  journals: list[tuple[Path, txn.Journal]]) -> list[Finding]:
    """The VG and pool tags, every base and layer, stray LVs and interrupted operations."""
    g = "storage"
    out = [finding(g, "vg", [] if lvm.TAG_VG in vg_tags else
                   [f"VG {layout.vg} lacks the tag {lvm.TAG_VG}; add it with "
                    f"`vgchange --addtag {lvm.TAG_VG} {layout.vg}`"], f"VG {layout.vg} is tagged {lvm.TAG_VG}")]
    out.append(_check_pool_tag(layout, lvs))
    pool = layout.pool.name if layout.pool else None
    for base in layout.bases:
        out.append(_check_base(base.lv, pool))
        out += [_check_layer(lv, base.lv) for lv in base.layers]
    out += _check_strays(layout, lvs)
    out.append(_check_transactions(lvs, journals))
    return out


def _check_pool_tag(layout: Layout, lvs: list[lvm.LV]) -> Finding:
    """The pool is present, a thin pool, and tagged."""
    if layout.pool is not None:
        problems = [] if layout.pool.is_pool else [f"{layout.pool.name} is tagged {lvm.TAG_POOL} but is "
                                                   "not a thin pool; remove the tag"]
        return finding("storage", "pool", problems, f"thin pool {layout.pool.name} is tagged {lvm.TAG_POOL}")
    untagged = [lv.name for lv in lvs if lv.vg == layout.vg and lv.is_pool]
    if untagged:
        reason = (f"thin pool {untagged[0]} lacks the tag {lvm.TAG_POOL}; add it with "
                  f"`lvchange --addtag {lvm.TAG_POOL} {layout.vg}/{untagged[0]}`")
    else:
        reason = f"VG {layout.vg} has no thin pool; create one with `imgbase layout --init`"
    return Finding("storage", "pool", FAILED, reason)


def _check_base(lv: lvm.LV, pool: str | None) -> Finding:
    """A base is a read-only thin LV in the pool with activation skip."""
    target = f"{lv.vg}/{lv.name}"
    problems = []
    if not lv.is_thin or (pool and lv.pool != pool):
        problems.append(f"not a thin LV in pool {pool}")
    if not lv.readonly:
        problems.append(f"writable; make it read-only with `lvchange --permission r {target}`")
    if not lv.skip_activation:
        problems.append(f"activation skip is off; set it with `lvchange --setactivationskip y {target}`")
    return finding("storage", f"base {lv.name}", problems, "read-only thin LV with activation skip, tagged")


def _check_layer(lv: lvm.LV, base_lv: lvm.LV) -> Finding:
    """A layer is a thin snapshot of its base (or the adopted root its base was snapshotted from)."""
    base = base_lv.name
    problems = []
    if not lv.is_thin:
        problems.append("not a thin LV")
    adopted = not lv.origin and base_lv.origin == lv.name  # host/adopt.py: the installed root
    if lv.origin != base and not adopted:
        problems.append(f"not a thin snapshot of {base} (origin: {lv.origin or 'none'})")
    if lv.skip_activation:
        problems.append(f"activation skip is set, so the initrd will not activate it; clear it with "
                        f"`lvchange --setactivationskip n {lv.vg}/{lv.name}`")
    return finding("storage", f"layer {lv.name}", problems, f"thin snapshot of {base}, activates normally")


def _check_strays(layout: Layout, lvs: list[lvm.LV]) -> list[Finding]:
    """LVs named or tagged like bases and layers that the layout does not hold."""
    known = set(layout.names())
    out = []
    for lv in lvs:
        if lv.vg != layout.vg or lv.name in known:
            continue
        tagged = lv.has(lvm.TAG_BASE) or lv.has(lvm.TAG_LAYER)
        if not naming.is_name(lv.name):
            if tagged:
                out.append(Finding("storage", f"lv {lv.name}", FAILED, "tagged as a base or layer but not "
                                   "named Base-N or Base-N.M; rename it or remove the tag"))
            continue
        name = naming.parse(lv.name)
        want = lvm.TAG_LAYER if name.is_layer else lvm.TAG_BASE
        if not lv.has(want):
            reason = f"named like a {'layer' if name.is_layer else 'base'} but lacks the tag {want}"
        else:
            reason = (f"layer of a base that does not exist ({name.base_name}); remove it with "
                      f"`lvremove {lv.vg}/{lv.name}` or run `imgbase recover`")
        out.append(Finding("storage", f"lv {lv.name}", FAILED, reason))
    return out


def _check_transactions(lvs: list[lvm.LV], journals: list[tuple[Path, txn.Journal]]) -> Finding:
    """No LV carries a transaction tag and no journal is pending."""
    problems = [f"{lv.name} carries {tag}" for lv in lvs for tag in lv.tags if tag.startswith(f"{txn.TXN_TAG}=")]
    problems += [f"journal {j.id} ({j.op}, step {j.step}) was interrupted" for _, j in journals if not j.committed]
    if problems:
        return Finding("storage", "transactions", FAILED,
                       "; ".join(problems) + "; clean up with `imgbase recover`")
    leftovers = [j.id for _, j in journals]
    if leftovers:
        return Finding("storage", "transactions", WARNING, f"committed journal(s) {', '.join(leftovers)} "
                       "were not tidied up; run `imgbase recover`")
    return Finding("storage", "transactions", OK, "no interrupted operations")


# --- thin pool -----------------------------------------------------------------------------------

def check_thin(pool: lvm.LV | None, max_fill: int, monitor: str | None,
               profile_dir: Path = PROFILE_DIR) -> list[Finding]:
    """Pool data and metadata use against the thresholds, autoextend profile and monitoring."""
    if pool is None:
        return [Finding("thin", "pool", WARNING, "not checked: there is no thin pool")]
    inactive = space.inactive_problem(pool)
    if inactive:
        return [Finding("thin", "pool", FAILED, inactive)]
    out = [_usage("data", pool.data_percent, human(pool.size), max_fill, pool),
           _usage("metadata", pool.metadata_percent, human(pool.metadata_size), max_fill, pool)]
    target = f"{pool.vg}/{pool.name}"
    if pool.profile != lvm.PROFILE:
        out.append(Finding("thin", "autoextend", WARNING, f"the pool has profile {pool.profile or 'none'}, not "
                           f"{lvm.PROFILE}, so it does not grow by itself; set it with "
                           f"`lvchange --metadataprofile {lvm.PROFILE} {target}`"))
    elif not (profile_dir / f"{lvm.PROFILE}.profile").is_file():
        out.append(Finding("thin", "autoextend", WARNING, f"profile {lvm.PROFILE} is attached but "
                           f"{profile_dir}/{lvm.PROFILE}.profile is missing; reinstall it"))
    else:
        out.append(Finding("thin", "autoextend", OK, f"profile {lvm.PROFILE} (grow by 20% at 70% full)"))
    if monitor == "monitored":
        out.append(Finding("thin", "monitoring", OK, "dmeventd monitors the pool"))
    else:
        out.append(Finding("thin", "monitoring", WARNING, f"the pool is {monitor or 'not monitored'}, so "
                           f"autoextend cannot happen; enable it with `lvchange --monitor y {target}` "
                           "(needs dmeventd)"))
    return out


def _usage(what: str, pct: float, size: str, max_fill: int, pool: lvm.LV) -> Finding:
    """A data or metadata fill level against the warning and failure thresholds."""
    text = f"{pct:.1f}% of {size} used"
    if pct > max_fill:
        return Finding("thin", what, FAILED, f"{text}, above the safe limit of {max_fill}%; extend the pool "
                       f"(`lvextend {'--poolmetadatasize +1G' if what == 'metadata' else '-L +10G'} "
                       f"{pool.vg}/{pool.name}`) or remove old bases (`imgbase gc`)")
    warn = min(WARN_PERCENT, max_fill)
    if pct > warn:
        return Finding("thin", what, WARNING, f"{text}, above {warn}%; plan to extend the pool or run `imgbase gc`")
    return Finding("thin", what, OK, text)


def pool_monitoring(runner: Runner, pool: lvm.LV | None) -> str | None:
    """The pool's seg_monitor value ("monitored", "not monitored", ...), or None."""
    if pool is None:
        return None
    data = runner.query_json(["lvs", "--reportformat", "json", "-o", "lv_name,seg_monitor",
                              f"{pool.vg}/{pool.name}"])
    rows = [row for rep in data.get("report", []) for row in rep.get("lv", [])]
    return rows[0].get("seg_monitor") if rows else None


# --- putting it together -------------------------------------------------------------------------
