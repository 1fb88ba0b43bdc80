# SPDX-License-Identifier: GPL-2.0-or-later
"""The text spoke, imported from the real anaconda 38.23.4 UI classes: it runs in the installer only."""

from __future__ import annotations

from pyanaconda.core.constants import FIRSTBOOT_ENVIRON

from org_ovirt_imgbased.tui.spokes import imgbased as spoke


def test_the_spoke_never_runs_at_firstboot(monkeypatch):
    monkeypatch.setattr(spoke, "is_module_available", lambda service: True)
    assert not spoke.OvirtImgbasedSpoke.should_run(FIRSTBOOT_ENVIRON, None)
    assert spoke.OvirtImgbasedSpoke.should_run(spoke.ANACONDA_ENVIRON, None)


def test_the_spoke_needs_the_addons_module(monkeypatch):
    monkeypatch.setattr(spoke, "is_module_available", lambda service: False)
    assert not spoke.OvirtImgbasedSpoke.should_run(spoke.ANACONDA_ENVIRON, None)


def test_disks_are_listed_after_the_storage_scan(monkeypatch):
    waited = []
    monkeypatch.setattr(spoke.threadMgr, "wait", lambda name: waited.append(name))

    class Proxy:
        def GetUsableDisks(self):  # noqa: N802 - anaconda's D-Bus method name
            assert waited == [spoke.THREAD_STORAGE], "disks listed before the storage thread finished"
            return []

    monkeypatch.setattr(spoke.STORAGE, "get_proxy", lambda *args: Proxy())
    assert spoke.usable_disks() == [] and waited == [spoke.THREAD_STORAGE]
