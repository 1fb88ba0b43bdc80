# SPDX-License-Identifier: GPL-2.0-or-later
"""Crashes in sequence: killed at any journaled step, another operation, then recover.

For every journaled step of ``base --add``, ``layer --add``, ``update``, ``layer --remove`` and
``layout --init --from``, the operation is SIGKILLed there (the journal's fault injection), then
a *different* mutating operation is tried (a pending journal must block it, or recover must run
first, visibly), then ``imgbase recover`` runs.  After each sequence: the LVs imgbased did not
create are there with their content, the running and default layers exist, every boot entry
points at an existing LV, nothing is left to recover and ``imgbase check`` reports OK.  The
steps of each operation are read from its own --debug log, so a new step is covered without
editing this file.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.bootfix import booted_tool, grubenv, make_boot, unmount_boot
from tests.vm.payloads import Imgbase, shared_payloads

STEP_LINE = re.compile(r"txn \S+: step (\S+)")
# The operations tried while a journal is pending (none of them may go ahead silently).
OTHERS = [["layer", "--add"], ["base", "--add", "{v2}"], ["update", "{v2}"], ["gc"]]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """v1 and v2 payloads, built once."""
    return shared_payloads(tmp_path_factory, "1"), shared_payloads(tmp_path_factory, "2")


def digest(vg: str, lv: str) -> str:
    """The sha256 of an LV's first MiB (activating it if needed)."""
    sh("lvchange", "-ay", "-K", f"{vg}/{lv}")
    with open(f"/dev/{vg}/{lv}", "rb") as f:
        return hashlib.sha256(f.read(1 << 20)).hexdigest()


def add_foreign(vg: str) -> dict[str, str]:
    """Untagged thin LVs imgbased did not make, filled with data (name collisions: test_ownership)."""
    made = {}
    for name in ("foreign", "scratch"):
        sh("lvcreate", "-q", "--thin", "-V", "8M", "-n", name, f"{vg}/pool00")
        with open(f"/dev/{vg}/{name}", "wb") as f:
            f.write(hashlib.sha256(name.encode()).digest() * 32768)
        made[name] = digest(vg, name)
    return made


def steps_of(proc) -> list[str]:
    """The journal steps a --debug run went through, in order, once each."""
    seen: list[str] = []
    for step in STEP_LINE.findall(proc.stderr):
        if step not in seen:
            seen.append(step)
    return seen


def crash(tool: Imgbase, args: list[str], step: str) -> None:
    """Run imgbase args in its own process and let the journal SIGKILL it at step."""
    tool.env["IMGBASED_FAULT_STEP"] = step
    try:
        proc = tool(*args, check=False, process=True)
    finally:
        del tool.env["IMGBASED_FAULT_STEP"]
    assert proc.returncode == -9, (args, step, proc.returncode, proc.stderr)


def try_another(tool: Imgbase, args: list[str]) -> None:
    """Another operation after the crash: an interrupted journal blocks it (the message says to run
    recover) and nothing changes; a journal past its point of no return does not block."""
    interrupted = "stopped at step" in tool("recover", "--list").stdout
    before = set(lvs(tool.vg))
    proc = tool(*args, check=False)
    said = proc.stdout + proc.stderr
    assert "Traceback" not in said and proc.returncode in (0, 1), (args, proc.returncode, said)
    if interrupted:
        assert proc.returncode == 1 and "imgbase recover" in said, (args, said)
        assert set(lvs(tool.vg)) == before, (args, said)


def assert_sound(tool: Imgbase, foreign: dict[str, str]) -> None:
    """Nothing foreign lost, running and default exist, entries point at LVs, check is OK."""
    present = lvs(tool.vg)
    for name, want in foreign.items():
        assert name in present and digest(tool.vg, name) == want, name
    running = tool.cmdline.read_text().split("img.bootid=")[1].split()[0]
    default = grubenv(tool.boot_dir)["saved_entry"].removeprefix("imgbased-")
    assert running in present and default in present, (running, default, sorted(present))
    for row in json.loads(tool("boot", "--list", "--json").stdout):
        assert row["layer"] in present, row
    assert "nothing to recover" in tool("recover", "--list").stdout
    report = tool("check", check=False).stdout
    assert report.splitlines()[-1] == "Status: OK", report


def reset(tool: Imgbase, default: str, keep: set[str]) -> None:
    """Go back to the starting point: the old default, and none of the LVs a finished run made."""
    tool("boot", "--set-default", default)
    extra = [n for n, row in lvs(tool.vg).items() if n not in keep and "imgbased:" in row["lv_tags"]]
    for name in sorted((n for n in extra if "." in n), reverse=True):
        tool("layer", "--remove", name)
    for name in sorted(n for n in extra if "." not in n):
        tool("base", "--remove", name, "--force")


def run_sequences(tool: Imgbase, foreign: dict[str, str], op: list[str], steps: list[str], others: list[list[str]],
                  default: str, keep: set[str], before=None) -> int:
    """Every step of op: crash there, try another operation, recover, check; returns the count."""
    for i, step in enumerate(steps):
        if before:
            before()
        crash(tool, op, step)
        try_another(tool, others[i % len(others)])
        tool("recover")
        assert_sound(tool, foreign)
        reset(tool, default, keep)
    return len(steps)


def test_every_step_of_every_operation_survives_a_crash_then_another_operation(loop_disk, vg_name, tmp_path,
                                                                               images):
    """The sequences on one host: Base-0 with two layers, a foreign LV named like a base."""
    v1, v2 = (str(i.ext4) for i in images)
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    discovered = {"base --add": steps_of(tool("--debug", "base", "--add", v1))}
    discovered["layer --add"] = steps_of(tool("--debug", "layer", "--add"))
    tool("layer", "--add")
    tool.boot_into("Base-0.2")
    foreign = add_foreign(vg_name)
    keep = set(lvs(vg_name))
    others = [[a.format(v2=v2) for a in args] for args in OTHERS]

    def spare_layer() -> None:
        tool("layer", "--add")
        tool("boot", "--set-default", "Base-0.2")
        keep.add("Base-0.3")

    probe = tool("--debug", "update", v2)
    discovered["update"] = steps_of(probe)
    reset(tool, "Base-0.2", keep)
    spare_layer()
    discovered["layer --remove"] = steps_of(tool("--debug", "layer", "--remove", "Base-0.3"))
    keep.discard("Base-0.3")
    assert discovered["base --add"] and discovered["layer --add"] and len(discovered["update"]) >= 8, discovered

    count = run_sequences(tool, foreign, ["base", "--add", v2], discovered["base --add"], others, "Base-0.2", keep)
    count += run_sequences(tool, foreign, ["layer", "--add"], discovered["layer --add"], others[1:], "Base-0.2", keep)
    count += run_sequences(tool, foreign, ["update", v2], discovered["update"], others, "Base-0.2", keep)

    def fresh_spare() -> None:
        if "Base-0.3" not in lvs(vg_name):
            spare_layer()

    count += run_sequences(tool, foreign, ["layer", "--remove", "Base-0.3"], discovered["layer --remove"], others,
                           "Base-0.2", keep | {"Base-0.3"}, before=fresh_spare)
    unmount_boot(tool.boot_dir)
    print(f"\ncrash sequences survived on one host: {count} ({json.dumps(discovered)})")
    assert count >= 15


def installed_root(loop_disk, vg: str, image) -> None:
    """A VG as another installer leaves it: a thin pool and a thin root LV with the image, no tags."""
    pv = loop_disk("4G")
    sh("vgcreate", "-q", vg, pv)
    sh("lvcreate", "-q", "--type", "thin-pool", "-L", "3G", "-n", "pool00", vg)
    sh("lvcreate", "-q", "--thin", "-V", "2G", "-n", "root", f"{vg}/pool00")
    sh("e2image", "-ra", str(image.ext4), f"/dev/{vg}/root")


def test_every_step_of_init_from_survives_a_crash_then_another_operation(loop_disk, vg_name, tmp_path, images):
    """layout --init --from VG/root killed at each step, then another operation, then recover."""
    v2 = str(images[1].ext4)
    boot = make_boot(loop_disk, tmp_path)
    tool = Imgbase(tmp_path, vg_name, boot_dir=boot, bootloader=True)
    installed_root(loop_disk, vg_name, images[0])
    foreign = add_foreign(vg_name)
    root = digest(vg_name, "root")
    probe_vg = f"{vg_name}p"
    (tmp_path / "probe").mkdir()
    probe = Imgbase(tmp_path / "probe", probe_vg, boot_dir=make_boot(loop_disk, tmp_path / "probe"), bootloader=True)
    installed_root(loop_disk, probe_vg, images[0])
    steps = steps_of(probe("--debug", "layout", "--init", "--from", f"{probe_vg}/root", vg=False))
    unmount_boot(probe.boot_dir)
    assert len(steps) >= 3, steps
    for i, step in enumerate(steps):
        crash(tool, ["layout", "--init", "--from", f"{vg_name}/root"], step)
        other = [["layer", "--add"], ["base", "--add", v2]][i % 2]
        proc = tool(*other, check=False)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
        tool("recover", vg=False)
        present = lvs(vg_name)
        for name, want in foreign.items():
            assert name in present and digest(vg_name, name) == want, (step, name)
        assert "root" in present and digest(vg_name, "root") == root, step
        assert "nothing to recover" in tool("recover", "--list", vg=False).stdout, step
        assert not [n for n, row in present.items() if "imgbased:" in row["lv_tags"]], (step, present)
    tool("layout", "--init", "--from", f"{vg_name}/root")
    tool.boot_into("Base-0.1")
    assert_sound(tool, foreign)
    unmount_boot(boot)
    print(f"\ninit --from crash sequences survived: {len(steps)} (steps {steps})")
