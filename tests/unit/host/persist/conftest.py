# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures shared by the /etc merge tests."""

from __future__ import annotations

import pytest

from tests.unit.host.persist.etctrees import make_layers


@pytest.fixture
def layers(tmp_path):
    """An old layer from V1 and a new one from V2."""
    return make_layers(tmp_path)
