# SPDX-License-Identifier: GPL-2.0-or-later
"""The space rules: no thin volume larger than the whole pool; an inactive pool is never "0% full"."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import layers
from org_ovirt_imgbased.host.check.report import FAILED
from org_ovirt_imgbased.host.check.storage import check_thin
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.storage import lvm, space
from org_ovirt_imgbased.units import GiB
from tests.fakes import fake_context


def pool(attr: str = "twi-aotz--", data: float = 10.0) -> lvm.LV:
    """A 10 GiB thin pool in HostVG (active by default)."""
    return lvm.LV(name="pool00", vg="HostVG", attr=attr, size=10 * GiB, tags=[lvm.TAG_POOL],
                  data_percent=data, metadata_percent=1.0)


def test_volume_larger_than_the_pool_is_refused_with_numbers_and_fix():
    """--size above the pool's data size: one line with both sizes, the limit and lvextend."""
    with pytest.raises(ImgbaseError) as err:
        space.check_volume_size(pool(), 100 * GiB)
    msg = str(err.value)
    assert "--size 100.0 GiB is larger than the whole thin pool HostVG/pool00 (10.0 GiB)" in msg
    assert "use --size 10.0 GiB or less" in msg and "lvextend -L +92160m HostVG/pool00" in msg
    assert "\n" not in msg
    space.check_volume_size(pool(), 10 * GiB)  # as big as the pool: allowed (thin provisioning)


def test_base_add_with_a_huge_size_creates_nothing(tmp_path, monkeypatch):
    """base --add --size far above the pool is refused before the image is opened or a journal written."""
    monkeypatch.setenv("IMGBASED_LOCK", str(tmp_path / "lock"))
    ctx = fake_context(Layout("HostVG", pool(), [], []))
    ctx.journal_dir = tmp_path / "journal"
    with pytest.raises(ImgbaseError, match="larger than the whole thin pool"):
        layers.add_base(ctx, tmp_path / "missing.img", size=1 << 50)
    assert ctx.runner.commands() == []
    assert not ctx.journal_dir.exists()


def test_inactive_pool_with_empty_data_percent_is_not_empty():
    """lvs reports no data% for an inactive pool: the guard says so and how to activate it."""
    row = {"lv_name": "pool00", "vg_name": "HostVG", "lv_attr": "twi---tz--", "lv_size": str(10 * GiB),
           "lv_tags": lvm.TAG_POOL, "data_percent": "", "metadata_percent": ""}
    inactive = lvm._lv_from_row(row)
    with pytest.raises(ImgbaseError) as err:
        space.check_pool(inactive, GiB)
    assert "HostVG/pool00 is inactive" in str(err.value) and "lvchange -ay HostVG/pool00" in str(err.value)
    space.check_pool(pool(data=0.0), GiB)  # an active, really empty pool is fine


def test_check_reports_an_inactive_pool_instead_of_zero_percent():
    """imgbase check's thin group fails on an inactive pool rather than printing 0.0% used."""
    findings = check_thin(pool(attr="twi---tz--", data=0.0), 90, None)
    assert [f.status for f in findings] == [FAILED]
    assert "inactive" in findings[0].reason and "lvchange -ay" in findings[0].reason
