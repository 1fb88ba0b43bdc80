# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda tier: one VM boot runs every kickstart variant with the real anaconda 38.

`make check-anaconda` (part of `make check`) runs this directory on the host.  The VM-backed
tests share one session fixture, ``anaconda_run``, which starts a single ``image-tools/vm-run``
with the guest-side driver for all variants; the plain unit tests here need no VM.
"""

from __future__ import annotations

import os

import pytest

from tests.anaconda import plan


@pytest.fixture(scope="session")
def anaconda_run() -> plan.Run:
    """Build the v1 liveimg, then install every variant in one VM boot.

    IMGBASED_ANACONDA_REUSE=1 re-reads the last run's results instead (for work on the asserts).
    """
    if os.geteuid() != 0:
        pytest.skip("the anaconda tier builds images and runs the VM lab: run it as root")
    run = plan.load_run(plan.work_dir(), None) if os.environ.get("IMGBASED_ANACONDA_REUSE") == "1" else None
    if run is None:
        run = plan.run_all(plan.work_dir(), plan.build_liveimg(1))
    print(f"\nanaconda tier: one VM run of {len(run.results)} variants took {run.seconds:.0f}s (vm-run exit "
          f"{run.vm_rc}); work directory {plan.work_dir()}")
    for name, r in run.results.items():
        timings = ", ".join(f"{k} {v}s" for k, v in (r.get("timings") or {}).items())
        verdict = "installed" if r.get("ok") else f"failed in {r.get('phase')}: {r.get('error')}"
        print(f"  {name}: {verdict}; {r.get('seconds')}s ({timings})")
    return run


@pytest.fixture
def result(anaconda_run, request) -> dict:
    """The driver result of the variant named by the test's parameter."""
    return anaconda_run.results[request.param]
