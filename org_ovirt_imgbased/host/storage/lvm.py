# SPDX-License-Identifier: GPL-2.0-or-later
"""VG, thinpool and thin LV operations through the lvm2 command line.

Reads use ``--reportformat json`` with byte units, so nothing depends on
column layout or locale.  Every change goes through the Runner, so ``--dry``
prints it and ``--debug`` logs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner

TAG = "imgbased"
TAG_VG, TAG_POOL, TAG_BASE, TAG_LAYER = f"{TAG}:vg", f"{TAG}:pool", f"{TAG}:base", f"{TAG}:layer"
TAG_INIT, TAG_PINNED, TAG_VOLUME = f"{TAG}:init", f"{TAG}:pinned", f"{TAG}:volume"
PROFILE = "imgbased-thin"
PROFILE_TEXT = """# imgbased: grow the thinpool before it fills up (needs dmeventd monitoring)
activation {
    thin_pool_autoextend_threshold = 70
    thin_pool_autoextend_percent = 20
}
"""
LV_FIELDS = ("lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,lv_tags,vg_tags,data_percent,"
             "metadata_percent,lv_metadata_size,lv_skip_activation,lv_kernel_major,lv_kernel_minor,"
             "lv_profile,lv_time")
VG_FIELDS = "vg_name,vg_tags,vg_size,vg_free,vg_extent_size,pv_count"
#: lvm2's character set for VG and LV names; a leading '-' or '.' and '..' anywhere are refused too.
_NAME = re.compile(r"[A-Za-z0-9+_][A-Za-z0-9+_.-]{0,126}")
#: Parts of LV names lvm keeps for its own hidden volumes.
_RESERVED = ("_cdata", "_cmeta", "_corig", "_mlog", "_mimage", "_pmspare", "_rimage", "_rmeta",
             "_tdata", "_tmeta", "_vorigin", "_vdata")


def tag_value(tags: Iterable[str], key: str) -> str | None:
    """Return the value of a ``key=value`` tag, or None."""
    prefix = f"{key}="
    for tag in tags:
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return None


def _num(text: str) -> int:
    """Parse an lvm byte count ("" means 0)."""
    return int(float(text)) if text else 0


def _pct(text: str) -> float:
    """Parse an lvm percentage ("" means 0)."""
    return float(text) if text else 0.0



def name_problem(value: str | None) -> str | None:
    """Why value cannot be a VG or LV name (lvm2's rules, and no '..'), or None when it can.

    This is the one LVM name rule; callers word the error for their context.
    """
    if not _NAME.fullmatch(value or "") or ".." in (value or ""):
        return "use up to 127 letters, digits and + _ . - (not starting with - or ., no '..')"
    if value.startswith(("snapshot", "pvmove")) or any(part in value for part in _RESERVED):
        return "lvm reserves that name for its own volumes"
    return None


def check_name(value: str, what: str) -> str:
    """Return value if it is a usable VG or LV name, else raise ImgbaseError naming what it is."""
    problem = name_problem(value)
    if problem:
        raise ImgbaseError(f"bad {what} name {value!r}: {problem}")
    return value

@dataclass
class LV:
    """One logical volume as reported by lvs."""

    name: str
    vg: str
    attr: str
    size: int
    pool: str = ""
    origin: str = ""
    tags: list[str] = field(default_factory=list)
    vg_tags: list[str] = field(default_factory=list)
    data_percent: float = 0.0
    metadata_percent: float = 0.0
    metadata_size: int = 0
    skip_activation: bool = False
    dev: tuple[int, int] | None = None
    profile: str = ""
    time: str = ""

    @property
    def path(self) -> str:
        """The device path /dev/VG/LV."""
        return f"/dev/{self.vg}/{self.name}"

    @property
    def is_thin(self) -> bool:
        """True for a thin volume (in a pool)."""
        return self.attr[:1] == "V"

    @property
    def is_pool(self) -> bool:
        """True for a thin pool."""
        return self.attr[:1] == "t"

    @property
    def readonly(self) -> bool:
        """True when the LV's permission is read-only."""
        return self.attr[1:2] == "r"

    @property
    def active(self) -> bool:
        """True when the LV is active."""
        return self.attr[4:5] == "a"

    def has(self, tag: str) -> bool:
        """True if the LV carries tag."""
        return tag in self.tags


@dataclass
class VG:
    """One volume group as reported by vgs."""

    name: str
    tags: list[str]
    size: int
    free: int
    extent_size: int


def _split_tags(text: str) -> list[str]:
    """Split lvm's comma-separated tag list."""
    return [t for t in text.split(",") if t]


def _lv_from_row(row: dict) -> LV:
    """Build an LV from one JSON report row."""
    major, minor = row.get("lv_kernel_major", ""), row.get("lv_kernel_minor", "")
    dev = (int(major), int(minor)) if major not in ("", "-1") and minor not in ("", "-1") else None
    return LV(name=row["lv_name"], vg=row["vg_name"], attr=row["lv_attr"], size=_num(row["lv_size"]),
              pool=row.get("pool_lv", ""), origin=row.get("origin", ""),
              tags=_split_tags(row.get("lv_tags", "")), vg_tags=_split_tags(row.get("vg_tags", "")),
              data_percent=_pct(row.get("data_percent", "")),
              metadata_percent=_pct(row.get("metadata_percent", "")),
              metadata_size=_num(row.get("lv_metadata_size", "")),
              skip_activation=row.get("lv_skip_activation", "") not in ("", "0"),
              dev=dev, profile=row.get("lv_profile", ""), time=row.get("lv_time", ""))


def _report(runner: Runner, cmd: str, fields: str, key: str, args: list[str]) -> list[dict]:
    """Run an lvm report command and return its rows."""
    data = runner.query_json([cmd, "--reportformat", "json", "--units", "b", "--nosuffix",
                              "--binary", "-o", fields, *args])
    try:
        return [row for rep in data["report"] for row in rep.get(key, [])]
    except (KeyError, TypeError):
        raise ImgbaseError(f"unexpected {cmd} JSON report layout", detail=str(data)) from None


def list_lvs(runner: Runner, vg: str | None = None) -> list[LV]:
    """All LVs (of vg, or of every VG) from one lvs call."""
    return [_lv_from_row(r) for r in _report(runner, "lvs", LV_FIELDS, "lv", [vg] if vg else [])]


def list_vgs(runner: Runner) -> list[VG]:
    """All VGs from one vgs call."""
    rows = _report(runner, "vgs", VG_FIELDS, "vg", [])
    return [VG(r["vg_name"], _split_tags(r["vg_tags"]), _num(r["vg_size"]), _num(r["vg_free"]),
               _num(r["vg_extent_size"])) for r in rows]


def pv_names(runner: Runner) -> dict[str, str]:
    """Map every PV path to its VG name ("" for an orphan PV)."""
    return {r["pv_name"]: r["vg_name"] for r in _report(runner, "pvs", "pv_name,vg_name", "pv", [])}


def create_vg(runner: Runner, name: str, pvs: list[str], tags: list[str]) -> None:
    """Initialise the PVs and create a tagged VG on them."""
    runner.run(["pvcreate", "-y", "-q", *pvs])
    runner.run(["vgcreate", "-q", *_addtags(tags), name, *pvs])


def _addtags(tags: Iterable[str]) -> list[str]:
    """Expand tags into repeated --addtag options."""
    return [arg for tag in tags for arg in ("--addtag", tag)]


def create_pool(runner: Runner, vg: str, name: str, size: int, metadata_size: int | None,
                tags: list[str]) -> None:
    """Create a thin pool with the imgbased autoextend profile."""
    cmd = ["lvcreate", "-q", "--type", "thin-pool", "-L", f"{size}b", "-n", name,
           "--metadataprofile", PROFILE, "--discards", "passdown", *_addtags(tags)]
    if metadata_size:
        cmd += ["--poolmetadatasize", f"{metadata_size}b"]
    runner.run([*cmd, vg])


def create_thin(runner: Runner, vg: str, pool: str, name: str, size: int, tags: list[str]) -> None:
    """Create a thin LV of virtual size bytes in vg/pool."""
    runner.run(["lvcreate", "-q", "--thin", "-V", f"{size}b", "-n", name, *_addtags(tags),
                f"{vg}/{pool}"])


def snapshot(runner: Runner, vg: str, origin: str, name: str, tags: list[str]) -> None:
    """Create a thin snapshot of vg/origin (no -L): writable, active, activating normally (-kn)."""
    runner.run(["lvcreate", "-q", "-s", "-kn", "--permission", "rw", "-n", name, *_addtags(tags),
                f"{vg}/{origin}"])


def rename(runner: Runner, vg: str, old: str, new: str) -> None:
    """Rename an LV (an open or mounted one too: device-mapper renames it in place)."""
    runner.run(["lvrename", "-q", vg, old, new])


def make_readonly(runner: Runner, vg: str, name: str, tags: Iterable[str] = ()) -> None:
    """Set an LV read-only, skipped on normal activation, and add tags, in one lvchange."""
    runner.run(["lvchange", "-q", "--permission", "r", "--setactivationskip", "y", *_addtags(tags),
                f"{vg}/{name}"])


def activate(runner: Runner, vg: str, name: str) -> None:
    """Activate an LV even when it carries the activation-skip flag."""
    runner.run(["lvchange", "-q", "-ay", "-K", f"{vg}/{name}"])


def deactivate(runner: Runner, vg: str, name: str) -> None:
    """Deactivate an LV (ignore failure: it may be in use or already inactive)."""
    runner.run(["lvchange", "-q", "-an", f"{vg}/{name}"], check=False)


def remove(runner: Runner, vg: str, names: Iterable[str]) -> None:
    """Remove LVs without prompting."""
    names = list(names)
    if names:
        runner.run(["lvremove", "-q", "-f", *[f"{vg}/{n}" for n in names]])


def change_tags(runner: Runner, target: str, add: Iterable[str] = (), delete: Iterable[str] = (),
                kind: str = "lv") -> None:
    """Add and delete tags on an LV (kind "lv") or a VG (kind "vg")."""
    args = _addtags(add) + [a for t in delete for a in ("--deltag", t)]
    if args:
        runner.run([f"{kind}change", "-q", *args, target])


def ensure_profile(runner: Runner, profile_dir: str = "/etc/lvm/profile") -> None:
    """Install the thin autoextend profile lvcreate refers to, if missing."""
    path = Path(profile_dir) / f"{PROFILE}.profile"
    if not path.exists():
        runner.makedirs(path.parent)
        runner.write_file(path, PROFILE_TEXT)
