# SPDX-License-Identifier: GPL-2.0-or-later
"""The merge report is written inside the new layer even when the new image makes /etc/imgbased a symlink."""

from __future__ import annotations

import io

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist.merge import migrate_config
from org_ovirt_imgbased.runner import Runner
from tests.unit.host.persist.etctrees import make_layers


@pytest.mark.parametrize("relative", [False, True])
def test_report_never_follows_a_symlink_out_of_the_layer(tmp_path, relative):
    """new/etc/imgbased points outside the layer: nothing is written there; one-line refusal."""
    old, new = make_layers(tmp_path)
    outside = tmp_path / "host-dir"
    outside.mkdir()
    (new / "etc/imgbased").symlink_to("../../host-dir" if relative else outside)
    with pytest.raises(ImgbaseError) as err:
        migrate_config(old, new, Runner(out=io.StringIO()), old_layer="Base-0.1", new_layer="Base-1.1")
    assert list(outside.iterdir()) == []
    assert "/etc/imgbased" in str(err.value) and "\n" not in str(err.value)
