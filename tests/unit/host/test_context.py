# SPDX-License-Identifier: GPL-2.0-or-later
"""The Context every operation takes: its fill limit comes from the config file unless set."""

from __future__ import annotations

from org_ovirt_imgbased.host.context import Context


def test_fill_limit_comes_from_the_config_file(tmp_path):
    """[pool] max-fill-percent is the limit of every verb; a missing file means the default 90."""
    conf = tmp_path / "imgbased.conf"
    conf.write_text("[pool]\nmax-fill-percent = 60\n")
    assert Context(config_path=conf).max_fill == 60
    assert Context(config_path=tmp_path / "missing.conf").max_fill == 90
    ctx = Context(config_path=conf)
    ctx.max_fill = 75
    assert ctx.max_fill == 75
