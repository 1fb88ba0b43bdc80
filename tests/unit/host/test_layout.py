# SPDX-License-Identifier: GPL-2.0-or-later
"""The layout model from an lvs listing: JSON form, tree text, current/newest marks (no LVM needed)."""

from __future__ import annotations

import json

from org_ovirt_imgbased.host import layout
from org_ovirt_imgbased.host.storage import lvm


def lv(name: str, tags: list[str], attr: str = "Vwi-a-tz--", origin: str = "", size: int = 1 << 30,
       pct: float = 10.0) -> lvm.LV:
    """A fake LV row in VG HostVG."""
    return lvm.LV(name=name, vg="HostVG", attr=attr, size=size, pool="pool00", origin=origin, tags=tags,
                  vg_tags=["imgbased:vg"], data_percent=pct)


def listing() -> list[lvm.LV]:
    """A pool, two bases (one past 9), layers, a data volume and an unrelated VG's LV."""
    pool = lvm.LV("pool00", "HostVG", "twi-aotz--", 40 << 30, tags=["imgbased:pool"], vg_tags=["imgbased:vg"],
                  data_percent=12.5, metadata_percent=1.5, metadata_size=1 << 30)
    other = lvm.LV("root", "OtherVG", "-wi-ao----", 1 << 30)
    return [pool, other,
            lv("Base-10", ["imgbased:base", "imgbased:image=img-10"], "Vri---tz-k"),
            lv("Base-9", ["imgbased:base", "imgbased:image=img-9", "imgbased:pinned"], "Vri---tz-k"),
            lv("Base-10.1", ["imgbased:layer"], origin="Base-10"),
            lv("Base-9.2", ["imgbased:layer"], origin="Base-9"),
            lv("Base-9.10", ["imgbased:layer"], origin="Base-9"),
            lv("var", ["imgbased:volume"])]


def test_build_orders_and_classifies(tmp_path):
    """Bases and layers are ordered naturally; other LVs in the VG are volumes; other VGs are ignored."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("ro img.bootid=Base-9.10 quiet\n")
    lay = layout.build("HostVG", listing(), cmdline)
    assert [b.name for b in lay.bases] == ["Base-9", "Base-10"]
    assert [x.name for x in lay.layers()] == ["Base-9.2", "Base-9.10", "Base-10.1"]
    assert [v.name for v in lay.volumes] == ["var"]
    assert lay.current == "Base-9.10" and lay.latest_layer().name == "Base-10.1"
    assert lay.base_of("Base-9.10").name == "Base-9"


def test_json_and_tree(tmp_path):
    """The JSON form marks current/newest/pinned; the tree shows the same in text."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("img.bootid=Base-9.2\n")
    lay = layout.build("HostVG", listing(), cmdline)
    data = json.loads(json.dumps(lay.to_dict()))
    base9 = data["bases"][0]
    assert base9["name"] == "Base-9" and base9["pinned"] and base9["readonly"] and base9["image"] == "img-9"
    flags = {x["name"]: (x["current"], x["newest"]) for b in data["bases"] for x in b["layers"]}
    assert flags == {"Base-9.2": (True, False), "Base-9.10": (False, False), "Base-10.1": (False, True)}
    assert data["pool"]["data_percent"] == 12.5 and data["volumes"][0]["name"] == "var"
    tree = layout.render_tree(lay)
    assert tree.splitlines()[0].startswith("HostVG/pool00: data 12.5% of 40.0 GiB")
    assert "├── Base-9" in tree and "└── Base-10" in tree and "│   ├── Base-9.2" in tree
    assert "Base-9.2  1.0 GiB, 10.0% used, current" in tree and "newest" in tree
    assert "volume var" in tree


def test_running_layer_from_cmdline(tmp_path):
    """img.bootid= names the running layer; anything else gives None."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("BOOT_IMAGE=/Base-1.1/vmlinuz root=/dev/HostVG/Base-1.1 img.bootid=Base-1.1 quiet\n")
    assert layout.running_layer_from_cmdline(cmdline) == "Base-1.1"
    cmdline.write_text("root=/dev/sda1 ro\n")
    assert layout.running_layer_from_cmdline(cmdline) is None
    cmdline.write_text("img.bootid=../../etc\n")
    assert layout.running_layer_from_cmdline(cmdline) is None
    assert layout.running_layer_from_cmdline(tmp_path / "missing") is None
