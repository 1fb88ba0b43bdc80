# SPDX-License-Identifier: GPL-2.0-or-later
"""The imgbased layout as read from LVM: the VG, its pool, bases, layers and volumes.

Everything comes from one ``lvs`` call: the VG is the one tagged
``imgbased:vg``, bases and layers are recognised by their tags and names,
and every other LV in the VG is a data volume.  The current layer is the one
named by ``img.bootid=`` on the kernel command line, else the LV mounted at /.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import MOUNTINFO, read_mountinfo
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import human


@dataclass
class Base:
    """A read-only base LV and its layers, oldest first."""

    lv: lvm.LV
    layers: list[lvm.LV] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The base's name, Base-N."""
        return self.lv.name


@dataclass
class Layout:
    """A snapshot of the imgbased layout of one VG."""

    vg: str
    pool: lvm.LV | None
    bases: list[Base]
    volumes: list[lvm.LV]
    init: lvm.LV | None = None
    current: str | None = None
    mounts: dict[str, str] = field(default_factory=dict)
    all_names: list[str] = field(default_factory=list)  # every LV in the VG, tagged or not

    def layers(self) -> list[lvm.LV]:
        """Every layer in natural order."""
        return [layer for base in self.bases for layer in base.layers]

    def names(self) -> list[str]:
        """Every LV name in the VG that is a base or a layer."""
        return [b.name for b in self.bases] + [lv.name for lv in self.layers()]

    def names_in_use(self) -> list[str]:
        """Every LV name in the VG, ours or not: new bases and layers must not reuse one."""
        return sorted(set(self.names()) | set(self.all_names))

    def latest_base(self) -> Base | None:
        """The base with the highest number."""
        return self.bases[-1] if self.bases else None

    def latest_layer(self) -> lvm.LV | None:
        """The newest layer (highest base, then highest layer number)."""
        layers = self.layers()
        return layers[-1] if layers else None

    def base(self, name: str) -> Base:
        """Look a base up by name; error if it does not exist."""
        naming.parse_base(name)
        for base in self.bases:
            if base.name == name:
                return base
        raise ImgbaseError(f"there is no base {name} in {self.vg}; see `imgbase base --list`")

    def layer(self, name: str) -> lvm.LV:
        """Look a layer up by name; error if it does not exist."""
        naming.parse_layer(name)
        for lv in self.layers():
            if lv.name == name:
                return lv
        raise ImgbaseError(f"there is no layer {name} in {self.vg}; see `imgbase layer --list`")

    def base_of(self, layer: str) -> Base:
        """The base a layer was made from."""
        return self.base(str(naming.parse_layer(layer).base_name))

    def require_pool(self) -> lvm.LV:
        """The pool, or an error explaining how to create one."""
        if self.pool is None:
            raise ImgbaseError(f"VG {self.vg} has no thin pool tagged {lvm.TAG_POOL}; "
                               "create one with `imgbase layout --init --pvs DEV`")
        return self.pool

    def to_dict(self) -> dict:
        """A JSON-ready description of the layout."""
        latest = self.latest_layer()

        def lv_dict(lv: lvm.LV) -> dict:
            return {"name": lv.name, "size": lv.size, "used_percent": lv.data_percent,
                    "readonly": lv.readonly, "active": lv.active, "tags": lv.tags,
                    "image": lvm.tag_value(lv.tags, "imgbased:image"),
                    "pinned": lv.has(lvm.TAG_PINNED), "current": lv.name == self.current,
                    "newest": latest is not None and lv.name == latest.name}

        pool = self.pool
        return {
            "vg": self.vg,
            "pool": None if pool is None else {
                "name": pool.name, "size": pool.size, "data_percent": pool.data_percent,
                "metadata_size": pool.metadata_size, "metadata_percent": pool.metadata_percent,
                "profile": pool.profile},
            "current": self.current,
            "bases": [{**lv_dict(b.lv), "layers": [lv_dict(lv) for lv in b.layers]}
                      for b in self.bases],
            "volumes": [{**lv_dict(v), "mountpoint": self.mounts.get(v.name)} for v in self.volumes],
        }


def render_tree(layout: Layout) -> str:
    """A human tree of bases and layers, marking the current and newest layers."""
    d = layout.to_dict()
    lines = []
    pool = d["pool"]
    if pool:
        lines.append(f"{d['vg']}/{pool['name']}: data {pool['data_percent']:.1f}% of "
                     f"{human(pool['size'])}, metadata {pool['metadata_percent']:.1f}% of "
                     f"{human(pool['metadata_size'])}")
    else:
        lines.append(f"{d['vg']}: no thin pool")
    for i, base in enumerate(d["bases"]):
        last_base = i == len(d["bases"]) - 1
        lines.append(f"{'└──' if last_base else '├──'} {base['name']}  {_describe(base)}")
        for j, layer in enumerate(base["layers"]):
            stem = "    " if last_base else "│   "
            branch = "└──" if j == len(base["layers"]) - 1 else "├──"
            lines.append(f"{stem}{branch} {layer['name']}  {_describe(layer)}")
    if not d["bases"]:
        lines.append("(no bases yet: add one with `imgbase base --add IMAGE`)")
    for vol in d["volumes"]:
        where = f" on {vol['mountpoint']}" if vol["mountpoint"] else ""
        lines.append(f"volume {vol['name']}{where}: {human(vol['size'])}, {vol['used_percent']:.1f}% used")
    return "\n".join(lines)


def _describe(entry: dict) -> str:
    """One-line details for a base or layer in the tree."""
    bits = [human(entry["size"]), f"{entry['used_percent']:.1f}% used"]
    if entry["image"]:
        bits.append(f"image {entry['image']}")
    for flag, word in (("readonly", "ro"), ("pinned", "pinned"), ("current", "current"),
                       ("newest", "newest")):
        if entry[flag]:
            bits.append(word)
    return ", ".join(bits)


def running_layer_from_cmdline(cmdline: Path | None = None) -> str | None:
    """The layer named by img.bootid= on the kernel command line, if any."""
    try:
        words = Path(cmdline or paths.cmdline()).read_text().split()
    except OSError:
        return None
    ids = [w.split("=", 1)[1] for w in words if w.startswith("img.bootid=")]
    if ids and naming.is_name(ids[-1]) and naming.parse(ids[-1]).is_layer:
        return ids[-1]
    return None


def mounted_devices(mountinfo: Path = MOUNTINFO) -> dict[tuple[int, int], str]:
    """Map (major, minor) of mounted block devices to their first mount point."""
    found: dict[tuple[int, int], str] = {}
    for mount in read_mountinfo(mountinfo):
        found.setdefault(mount.dev, mount.mountpoint)
    return found


def root_dev() -> tuple[int, int]:
    """The (major, minor) of the filesystem mounted at /."""
    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


def find_vg(lvs: list[lvm.LV], runner: Runner, vg: str | None) -> str:
    """Pick the imgbased VG: the named one, or the single VG tagged imgbased:vg."""
    tagged = {lv.vg for lv in lvs if lvm.TAG_VG in lv.vg_tags}
    if not tagged or (vg and vg not in tagged):
        tagged |= {g.name for g in lvm.list_vgs(runner) if lvm.TAG_VG in g.tags}
    if vg:
        if vg not in tagged:
            raise ImgbaseError(f"VG {vg} is not an imgbased VG (no {lvm.TAG_VG} tag); "
                               "run `imgbase layout --init` first")
        return vg
    if not tagged:
        raise ImgbaseError("no imgbased layout found (no VG tagged imgbased:vg); "
                           "run `imgbase layout --init --pvs DEV` or `--from VG/LV` first")
    if len(tagged) > 1:
        raise ImgbaseError(f"several imgbased VGs found ({', '.join(sorted(tagged))}); choose one with --vg")
    return tagged.pop()


def build(vg: str, lvs: list[lvm.LV], cmdline: Path | None = None) -> Layout:
    """Assemble a Layout of vg from an lvs listing."""
    mine = [lv for lv in lvs if lv.vg == vg]
    pool = next((lv for lv in mine if lv.has(lvm.TAG_POOL)), None)
    bases = {lv.name: Base(lv) for lv in mine
             if lv.has(lvm.TAG_BASE) and naming.is_name(lv.name) and not naming.parse(lv.name).is_layer}
    layers = [lv for lv in mine if lv.has(lvm.TAG_LAYER) and naming.is_name(lv.name)
              and naming.parse(lv.name).is_layer]
    for layer in sorted(layers, key=lambda lv: naming.parse(lv.name).sort_key()):
        base = bases.get(str(naming.parse(layer.name).base_name))
        if base:
            base.layers.append(layer)
    known = set(bases) | {lv.name for lv in layers}
    init = next((lv for lv in mine if lv.has(lvm.TAG_INIT)), None)
    volumes = [lv for lv in mine if lv.name not in known and lv is not pool and lv is not init
               and not lv.name.startswith("[") and lv.is_thin]
    ordered = sorted(bases.values(), key=lambda b: naming.parse(b.name).sort_key())
    mounted = mounted_devices()
    mounts = {lv.name: mounted[lv.dev] for lv in mine if lv.dev in mounted}
    current = running_layer_from_cmdline(cmdline)
    if current is None:
        root = root_dev()
        current = next((lv.name for lv in mine if lv.dev == root), None)
    return Layout(vg, pool, ordered, volumes, init, current, mounts, [lv.name for lv in mine])


def load(runner: Runner, vg: str | None = None, cmdline: Path | None = None) -> Layout:
    """Read the layout with a single lvs call."""
    lvs = lvm.list_lvs(runner)
    return build(find_vg(lvs, runner, vg), lvs, cmdline)
