# SPDX-License-Identifier: GPL-2.0-or-later
"""The text spoke, imported from the real anaconda 38.23.4 UI classes: it runs in the installer only."""

from __future__ import annotations

from pyanaconda.core.constants import FIRSTBOOT_ENVIRON

from org_ovirt_imgbased.installer.target import PlannedLayout
from org_ovirt_imgbased.tui.spokes import imgbased as spoke


def test_the_spoke_never_runs_at_firstboot(monkeypatch):
    monkeypatch.setattr(spoke, "is_module_available", lambda service: True)
    assert not spoke.OvirtImgbasedSpoke.should_run(FIRSTBOOT_ENVIRON, None)
    assert spoke.OvirtImgbasedSpoke.should_run(spoke.ANACONDA_ENVIRON, None)


def test_the_spoke_needs_the_addons_module(monkeypatch):
    monkeypatch.setattr(spoke, "is_module_available", lambda service: False)
    assert not spoke.OvirtImgbasedSpoke.should_run(spoke.ANACONDA_ENVIRON, None)


class FakeService:
    """The addon's D-Bus proxy: only its Configuration property."""

    Configuration = "%addon org_ovirt_imgbased --keep=3\n%end\n"


def make_spoke(monkeypatch, layouts, image):
    """A spoke over fakes of the addon's proxy, anaconda's device tree and its live-image source."""
    monkeypatch.setattr(spoke.OVIRT_IMGBASED, "get_proxy", lambda: FakeService())
    monkeypatch.setattr(spoke.layout_view, "planned", lambda: layouts.pop(0) if len(layouts) > 1 else layouts[0])
    monkeypatch.setattr(spoke.live_image, "current", lambda: image)
    monkeypatch.setattr(spoke.fetch, "reachable_problem", lambda url: None)
    return spoke.OvirtImgbasedSpoke(None, None, None)


def test_the_hub_status_follows_the_layout_anaconda_plans(monkeypatch):
    """Before partitioning: ready (the layout is Installation Destination's); a plain LV root: not ready."""
    image = spoke.live_image.LiveImage("file:///srv/rootfs.squashfs", None)
    layouts = [PlannedLayout(""), PlannedLayout(""), PlannedLayout("lvmlv", "anaconda")]  # one per read
    s = make_spoke(monkeypatch, layouts, image)
    assert s.completed and s.status.startswith("Base-0 from file:///srv/rootfs.squashfs")
    assert not s.completed and "choose LVM Thin Provisioning" in s.status


def test_apply_puts_the_image_in_anacondas_source_and_the_rest_in_the_service(monkeypatch):
    image = spoke.live_image.LiveImage("file:///srv/rootfs.squashfs", None)
    s = make_spoke(monkeypatch, [PlannedLayout("lvmthinlv", "HostVG", "pool00")], image)
    set_calls = []
    monkeypatch.setattr(spoke.live_image, "set_current", lambda url, checksum: set_calls.append((url, checksum)))
    monkeypatch.setattr(spoke.payloadMgr, "start", lambda payload: set_calls.append("payload set up again"))
    s.view().model.set_payload("/srv/new.squashfs")
    s.view().model.set_checksum("A" * 64)
    s.apply()
    assert set_calls == [("file:///srv/new.squashfs", "a" * 64), "payload set up again"]
    text = s._proxy.Configuration
    assert "--keep=3" in text and "liveimg" not in text and "checksum" not in text


def test_an_image_that_cannot_be_read_is_not_handed_to_anaconda(monkeypatch):
    """anaconda's payload set-up would stop the installer: the spoke keeps the choice and stays incomplete."""
    image = spoke.live_image.LiveImage("file:///srv/rootfs.squashfs", None)
    s = make_spoke(monkeypatch, [PlannedLayout("lvmthinlv", "HostVG", "pool00")], image)
    monkeypatch.setattr(spoke.fetch, "reachable_problem", lambda url: "file:///missing.img: no such file")
    calls = []
    monkeypatch.setattr(spoke.live_image, "set_current", lambda url, checksum: calls.append(url))
    monkeypatch.setattr(spoke.payloadMgr, "start", lambda payload: calls.append("payload"))
    s.view().model.set_payload("file:///missing.img")
    s.apply()
    assert calls == [] and not s.completed
    assert "the image cannot be read: file:///missing.img: no such file" in s.status
