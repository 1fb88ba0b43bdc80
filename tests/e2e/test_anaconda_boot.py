# SPDX-License-Identifier: GPL-2.0-or-later
"""End to end after the real anaconda: boot the disk its text UI installed, update it, boot the update.

The disk is variant (f) of the anaconda tier (tests/anaconda): the interactive text install
(Installation Destination's automatic thin layout, the image chosen in our spoke), kept by
`make check-anaconda`; when it is missing or was installed from another image, this test
installs it first (one more VM run).  A copy boots through BIOS + GRUB into Base-0.1 with
`imgbase check` OK, keeps a config file, runs `imgbase update` to the v2 image, and must boot
Base-1.1 with the file kept and the data volumes still mounted.  The unattended kickstart path
(the explicit HostVG layout) is booted by tests/e2e/test_pxe.py, installed by anaconda from the
network.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from imagelib.liveimg import sha256_file
from vmlab import lifecycle
from vmlab.host import TestHost

from tests.anaconda import checks, plan

pytestmark = pytest.mark.e2e

ROOT_IS = 'test "$(lvs --noheadings -o vg_name,lv_name "$(findmnt -no SOURCE /)" | xargs)" = "{vg} {layer}"\n'
DATA_VOLUMES = ('test "$(lvs --noheadings -o lv_name "$(findmnt -no SOURCE /var)" | xargs)" = var\n'
                'test "$(lvs --noheadings -o lv_name "$(findmnt -no SOURCE /var/log)" | xargs)" = var_log\n')


def installed_disk(v1, name: str = plan.TUI_KEPT) -> tuple[dict, object]:
    """A kept variant's result and disk for this v1 image: the anaconda tier's, else installed here."""
    work = plan.work_dir()
    result = plan.kept_result(work, v1, name)
    if result is None:
        work = work / "e2e-install"
        result = plan.kept_result(work, v1, name)
        if result is None:
            dialog = "install" if name == plan.TUI_KEPT else None
            plan.run_all(work, v1, [plan.Variant(name, "vdb", keep=True, dialog=dialog)], timeout=1800)
            result = plan.load_result(work / f"{name}.json")
    return result, plan.disk_path(work, plan.Variant(name, "vdb"))


@pytest.fixture(scope="module")
def boots(tmp_path_factory):
    """Boot the anaconda-installed disk twice: first boot plus update, then the update."""
    if os.geteuid() != 0:
        pytest.skip("the end-to-end test builds images and disks: run it as root")
    v1, v2 = lifecycle.build_liveimg(1), lifecycle.build_liveimg(2)
    result, disk = installed_disk(v1)
    timings = ", ".join(f"{k} {v}s" for k, v in (result.get("timings") or {}).items())
    answers = ", ".join(f"{s['seconds']}s" for s in result.get("dialog") or [] if s.get("met"))
    print(f"\ntext UI install of {v1.name}: {result.get('seconds')}s in the driver ({timings}; waits per "
          f"answered screen: {answers}); imgbase-install: see the lifecycle's 'install' phase")
    if not result.get("ok"):
        pytest.fail(f"anaconda's text UI did not install: phase {result.get('phase')}: {result.get('error')}")
    vg = checks.imgbased_vg(result) or "?"
    work = tmp_path_factory.mktemp("anaconda-boot")
    host = TestHost(work, say=print)
    subprocess.run(["cp", "--sparse=always", str(disk), str(host.disk)], check=True)
    v2_name = host.put(v2)
    first = host.boot("anaconda first boot, check, keep a file, update",
                      ROOT_IS.format(vg=vg, layer="Base-0.1") + DATA_VOLUMES + "imgbase check\n" +
                      "echo kept-by-update > /etc/imgbased-e2e-anaconda.conf\n"
                      f'imgbase update --checksum sha256:{sha256_file(v2)} "$IMGBASED_JOB_SHARE/{v2_name}"\n'
                      "imgbase layout\n")
    second = []
    if first.layer == "Base-0.1" and first.job_rc == 0:
        second.append(host.boot("the update after anaconda",
                                ROOT_IS.format(vg=vg, layer="Base-1.1") + DATA_VOLUMES +
                                "grep -qx kept-by-update /etc/imgbased-e2e-anaconda.conf\n"
                                "grep -qx version=2 /etc/imgbased-test.conf\nimgbase layout\nimgbase check\n"))
    for b in [first, *second]:
        print(f"  boot {b.name!r}: {b.layer} job exit {b.job_rc} in {b.seconds:.0f}s")
    shutil.rmtree(host.share, ignore_errors=True)
    return [first, *second]


def test_anaconda_disk_boots_base_0_1_and_updates(boots):
    """The disk anaconda's text UI installed boots Base-0.1, /var and /var/log from their thin LVs, check OK."""
    first = boots[0]
    assert first.layer == "Base-0.1", first.job_log
    assert first.job_rc == 0 and "Status: OK" in first.job_log, first.job_log


def test_update_boots_base_1_1_with_the_config_kept(boots):
    """After `imgbase update`, Base-1.1 boots with v2's defaults and the operator's file kept."""
    assert len(boots) == 2, "the first boot failed, so the update was never booted"
    second = boots[1]
    assert second.layer == "Base-1.1", second.job_log
    assert second.job_rc == 0 and "Status: OK" in second.job_log, second.job_log

