# SPDX-License-Identifier: GPL-2.0-or-later
"""End to end: install v1 from standalone-auto.ks, boot, update to v2, boot, once, rollback, gc, power cut.

Every boot is a real BIOS + GRUB boot of the installed disk under qemu; the
serial console's IMGBASED_BOOTED line says which layer came up.  The scenario
lives in image-tools/vmlab/lifecycle.py so `make demo` shows the same run.
"""

from __future__ import annotations

import os
import re

import pytest
from vmlab import lifecycle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Run the whole lifecycle once for the module."""
    if os.geteuid() != 0:
        pytest.skip("the end-to-end test builds images and disks: run it as root")
    return lifecycle.run(tmp_path_factory.mktemp("lifecycle"), say=print)


def test_every_boot_came_up_in_the_expected_layer(outcome):
    """Each step booted the layer it should have, and its checks inside the guest passed."""
    for step in outcome.steps:
        assert step.ok, f"{step.name}: booted {step.layer}, expected {step.expect}\n{step.detail}"
    assert [s.expect for s in outcome.steps] == ["Base-0.1", "Base-1.1", "Base-0.1", "Base-1.1", "Base-0.1",
                                                 "Base-0.1", "Base-0.1"]
    print("phase timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in outcome.phases.items()))


def test_the_first_update_came_from_the_signed_channel(outcome):
    """`imgbase update --check && imgbase update` over HTTP: a newer image was announced and applied."""
    step = outcome.steps[0]
    assert step.ok and "update available:" in step.detail, step.detail
    assert "signature" in step.detail and "Base-1.1" in step.detail, step.detail


def test_gc_and_check_report_ok(outcome):
    """After the rollback, `imgbase gc` and `imgbase check` ran cleanly in the booted host."""
    step = outcome.steps[4]
    assert step.ok and "Status: OK" in step.detail, step.detail


def test_recover_then_update_after_power_cut(outcome):
    """The interrupted update is found and undone, and the retried update succeeds."""
    step = outcome.steps[6]
    assert step.ok, step.detail
    # The cut came after the journal recorded copy-image, so recover must see that step or a later one.
    stopped = re.search(r"stopped at step ([a-z-]+)", step.detail)
    assert stopped and stopped.group(1) not in ("add-base", "create-base"), step.detail
    assert "did remove what it created (Base-2)" in step.detail and "Base-2.1" in step.detail, step.detail
