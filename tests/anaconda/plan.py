# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of the anaconda tier: the variants, their kickstarts, the one VM run, the results.

All variants run in ONE VM boot (``image-tools/vm-run --udev --mem 3072``), each on its own
blank disk and in its own driver run (a fresh anaconda launcher), one after the other.  The
disk of variant (f), the text install, is a file in the work directory, kept for tests/e2e/test_anaconda_boot.py.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KICKSTARTS = Path(__file__).resolve().parent / "kickstarts"
DRIVER = Path(__file__).resolve().parent / "driver.py"
KEPT = TUI_KEPT = "f-tui-install"  # the disk tests/e2e/test_anaconda_boot.py boots
INTERACTIVE = REPO / "kickstarts/interactive.ks"
# The text UI's prompts (simpleline and anaconda 38): a step is met only once its screen is drawn.
PROMPT = r"Please make a selection from the above"
ASKED = r"\(empty:\s+keep\s+as\s+is\)"  # a question's prompt; simpleline may wrap it
MISSING = "file:///missing.img"  # the image the admin mistypes in the incomplete run (short: no wrap)
# autopart with the product drop-in (90-imgbased.conf) asks for about 20 GiB of LVs: sparse 32 GiB disks.
DISK_SIZE = 32 << 30


@dataclass(frozen=True)
class Variant:
    """One kickstart, the disk it installs to and whether that disk is kept."""

    name: str
    disk: str
    keep: bool = False
    expect_ok: bool = True
    dialog: str | None = None  # text mode: the name of the admin's answers (see dialog())


# Order matters: the failing variants go first (short runs), the kept disk last, so no VG
# name made by an earlier variant is still visible when a later one scans.
VARIANTS = [
    Variant("e-bad-addon-option", "vdb", expect_ok=False),
    Variant("d-not-thin", "vdc", expect_ok=False),
    Variant("c-addon-only", "vdd", expect_ok=False),
    Variant("g-tui-incomplete", "vde", expect_ok=False, dialog="incomplete"),
    Variant(TUI_KEPT, "vdf", keep=True, dialog="install"),
]


def cache_dir() -> Path:
    """The project's cache directory (IMGBASED_CACHE, default ~/.cache/imgbased)."""
    return Path(os.environ.get("IMGBASED_CACHE") or Path.home() / ".cache/imgbased")


def work_dir() -> Path:
    """Where the tier keeps kickstarts, results, logs and the kept disk (outside the repo)."""
    return Path(os.environ.get("IMGBASED_ANACONDA_WORK") or cache_dir() / "anaconda-test")


def render_kickstart(template: str, disk: str, liveimg: Path) -> str:
    """Fill a kickstart template's @DISK@ and @LIVEIMG@ placeholders."""
    if not liveimg.is_absolute():
        raise ValueError(f"the liveimg path must be absolute: {liveimg}")
    if "@DISK@" not in template or "@LIVEIMG@" not in template:
        raise ValueError("a test kickstart names @DISK@ and @LIVEIMG@")
    return template.replace("@DISK@", disk).replace("@LIVEIMG@", str(liveimg))


def render_interactive(template: str, liveimg: Path) -> str:
    """kickstarts/interactive.ks as the text-UI variants use it: its liveimg is a served image, the boot
    entry also logs to ttyS0.

    anaconda sets its payload up when it starts, and an image it cannot read is fatal there, so
    the example's documentation address must become a real image (the test uses the v2 liveimg;
    in the install variant the admin then chooses v1 in our spoke).
    """
    boot, live = "bootloader --location=none\n", "liveimg --url=https://192.0.2.1/imgbased/rootfs.squashfs\n"
    for line in (boot, live):
        if line not in template:
            raise ValueError(f"{INTERACTIVE.name} has no `{line.strip()}` line")
    text = template.replace(boot, 'bootloader --location=none --append="console=tty0 console=ttyS0,115200n8 '
                                  'panic=5"\n')
    return text.replace(live, f"liveimg --url=file://{liveimg}\n")


def sha256(path: Path) -> str:
    """The sha256 of a file (64 hex digits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pick(label: str, why: str, **more: Any) -> dict[str, Any]:
    """Choose the numbered item whose title matches label, once the screen is drawn."""
    return {"expect": rf"(\d+)\) \[.\] {label}[\s\S]*?{PROMPT}", "send_group": 1, "why": why, **more}


def _destination(disk: str) -> list[dict[str, Any]]:
    """Installation Destination: the disk, Use All Space, then the scheme the drop-in preselects (thin LVM)."""
    return [
        _pick("Installation Destination", "the hub lists anaconda's storage spoke", timeout=900),
        {"expect": rf"(\d+)\) \[ \] [^\n]*\({disk}\)[\s\S]*?{PROMPT}", "send_group": 1,
         "why": "the storage spoke lists the disk"},
        {"expect": rf"\[x\] [^\n]*\({disk}\)[\s\S]*?{PROMPT}", "send": "c", "why": "the disk is selected"},
        _pick("Use All Space", "the partitioning options"),
        {"expect": rf"\[x\] Use All Space[\s\S]*?{PROMPT}", "send": "c", "why": "Use All Space is chosen"},
        {"expect": rf"Partition Scheme Options[\s\S]*?\[x\] LVM Thin Provisioning[\s\S]*?{PROMPT}", "send": "c",
         "why": "the drop-in makes thin LVM the preselected scheme"},
    ]


def dialog(kind: str, disk: str, liveimg: Path, checksum: str) -> list[dict[str, Any]]:
    """The admin's answers to anaconda's text UI.

    'install': thin LVM on the disk, then in our spoke the image liveimg with its checksum, then
    begin and wait for the end.  'incomplete': the same disk choice, then an image that does not
    exist typed into our spoke, so it is not ready; 'b' must be refused, then the admin quits.
    """
    if kind == "incomplete":
        return _destination(disk) + [
            _pick("Image-based host", "the hub lists our spoke"),
            _pick("Image", "our spoke's image item"),
            {"expect": rf"(\d+)\) Image: [\s\S]*?{PROMPT}", "send_group": 1, "why": "the image screen"},
            {"expect": rf"Image URL[\s\S]*?{ASKED}", "send": MISSING, "why": "the spoke asks for the URL"},
            {"expect": rf"Image: {MISSING}[\s\S]*?{PROMPT}", "send": "c", "why": "the mistyped image is shown"},
            {"expect": rf"Not\s+ready:[\s\S]*?{PROMPT}", "send": "c", "why": "our spoke says it is not ready"},
            {"expect": rf"\[!\] Image-based host[\s\S]*?Not\s+ready:[\s\S]*?{PROMPT}", "send": "b",
             "why": "the hub says what our spoke misses", "fingerprint": True},
            {"expect": rf"Please complete all spokes before continuing[\s\S]*?{PROMPT}", "send": "q",
             "why": "the hub refuses to begin", "fingerprint": True},
            {"expect": r"Please respond 'yes' or 'no'", "send": "yes", "why": "anaconda asks before quitting"},
        ]
    return _destination(disk) + [
        _pick("Image-based host", "the hub lists our spoke"),
        _pick("Image", "our spoke's image item"),
        {"expect": rf"(\d+)\) Image: [\s\S]*?{PROMPT}", "send_group": 1, "why": "the image screen"},
        {"expect": rf"Image URL[\s\S]*?{ASKED}", "send": f"file://{liveimg}", "why": "the spoke asks for the URL"},
        {"expect": rf"(\d+)\) Checksum: none[\s\S]*?{PROMPT}", "send_group": 1, "why": "the new image, no checksum"},
        {"expect": rf"sha256 of the image[\s\S]*?{ASKED}", "send": checksum, "why": "the spoke asks for the checksum"},
        {"expect": rf"Checksum:\s+sha256:[0-9a-f]{{64}}[\s\S]*?{PROMPT}", "send": "c",
         "why": "the checksum is shown"},
        # simpleline wraps long lines, even inside a path: match words, not the whole path.
        {"expect": rf"Base-0\s+from\s+file://[\s\S]*?v1[\s\S]*?\(sha256\s+checked\)[\s\S]*?{PROMPT}", "send": "c",
         "why": "our spoke is ready with the chosen image"},
        {"expect": rf"\[x\] Image-based host[\s\S]*?{PROMPT}", "send": "b", "fingerprint": True,
         "why": "the hub shows every spoke complete"},
        {"expect": r"Installation complete\. Press ENTER to quit", "send": "", "timeout": 1200,
         "why": "the installation runs to its end"},
    ]


def addon_line(ks_text: str) -> int:
    """The 1-based line number of the kickstart's %addon header."""
    for number, line in enumerate(ks_text.splitlines(), start=1):
        if line.startswith("%addon"):
            return number
    raise ValueError("no %addon line")


def disk_path(work: Path, variant: Variant) -> Path:
    """The disk image file of a variant."""
    return work / f"{variant.name}.disk.img"


def prepare(work: Path, liveimg: Path, variants: list[Variant], other: Path | None = None) -> None:
    """Write each variant's kickstart (and answers) and a fresh blank sparse disk; drop old results.

    other is the image the interactive kickstart names before the admin chooses liveimg.
    """
    work.mkdir(parents=True, exist_ok=True)
    if any(v.dialog for v in variants) and other is None:
        raise ValueError("the text-UI variants need the other image their kickstart names")
    for v in variants:
        if v.dialog:
            (work / f"{v.name}.ks").write_text(render_interactive(INTERACTIVE.read_text(), other))
            steps = dialog(v.dialog, v.disk, liveimg, sha256(liveimg))
            (work / f"{v.name}.dialog.json").write_text(json.dumps(steps, indent=1))
        else:
            text = (KICKSTARTS / f"{v.name}.ks").read_text()
            (work / f"{v.name}.ks").write_text(render_kickstart(text, v.disk, liveimg))
        (work / f"{v.name}.json").unlink(missing_ok=True)
        disk = disk_path(work, v)
        disk.unlink(missing_ok=True)
        with open(disk, "wb") as f:
            f.truncate(DISK_SIZE)


def guest_script(work: Path, variants: list[Variant], anaconda_dir: Path, timeout: float) -> str:
    """The bash run in the VM: one driver run per variant, in order; always exits 0."""
    lines = ["set -u"]
    for v in variants:
        cmd = [sys.executable, str(DRIVER), "--ks", str(work / f"{v.name}.ks"), "--disk", v.disk,
               "--result", str(work / f"{v.name}.json"), "--anaconda", str(anaconda_dir),
               "--timeout", str(int(timeout))]
        if v.dialog:
            cmd += ["--mode", "text", "--dialog", str(work / f"{v.name}.dialog.json")]
        if not v.keep:
            cmd.append("--wipe-after")
        lines.append(shlex.join(cmd) + f" || echo 'driver: {v.name} exit '$?")
    return "\n".join(lines) + "\n"


def vm_command(work: Path, variants: list[Variant], script: Path, timeout: float) -> list[str]:
    """The one vm-run command line for all variants."""
    cmd = [str(REPO / "image-tools/vm-run"), "--udev", "--mem", "3072", "--timeout", str(int(timeout)),
           "--share", str(work)]
    for v in variants:
        cmd += ["--attach", str(disk_path(work, v))]
    return cmd + ["--", "bash", str(script)]


def check_disk_order(variants: list[Variant]) -> None:
    """The attached disks appear as vdb, vdc, ... in order: the variants must name them so."""
    expected = [f"vd{chr(ord('b') + i)}" for i in range(len(variants))]
    if [v.disk for v in variants] != expected:
        raise ValueError(f"variant disks {[v.disk for v in variants]} must be {expected}")


@dataclass
class Run:
    """What the one VM run produced."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    vm_rc: int | None = None
    seconds: float = 0.0
    log: str = ""


def anaconda_dir() -> Path:
    """Set up (if needed) and locate anaconda's source tree and locale."""
    proc = subprocess.run([str(REPO / "image-tools/anaconda-env"), "--print"], capture_output=True, text=True,
                          cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or "image-tools/anaconda-env failed")
    return Path(proc.stdout.strip().splitlines()[-1])


def build_liveimg(version: int = 1) -> Path:
    """The test image's liveimg (built or reused from the cache)."""
    proc = subprocess.run([str(REPO / "image-tools/build-image"), "--version", str(version), "--liveimg"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"build-image --version {version} --liveimg failed:\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def load_result(path: Path) -> dict[str, Any]:
    """Read one driver result; a missing or broken file becomes a failed result saying so."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"ok": False, "phase": "missing", "error": f"no result file {path.name}: the driver never finished"}
    except ValueError as exc:
        return {"ok": False, "phase": "missing", "error": f"unreadable result {path.name}: {exc}"}
    if not isinstance(data, dict) or "ok" not in data or "phase" not in data:
        return {"ok": False, "phase": "missing", "error": f"result {path.name} lacks ok/phase"}
    return data


@contextmanager
def work_lock(work: Path):
    """Hold the work directory: a second run would rewrite the kickstarts and disks of the first."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another anaconda tier run is using {work}: wait for it, or give this one its "
                               "own IMGBASED_ANACONDA_WORK") from None
        yield


def run_all(work: Path, liveimg: Path, variants: list[Variant] = VARIANTS, timeout: float = 2400) -> Run:
    """Run every variant in one VM boot and load their results (the work directory held throughout)."""
    with work_lock(work):
        return _run_all(work, liveimg, variants, timeout)


def _run_all(work: Path, liveimg: Path, variants: list[Variant], timeout: float) -> Run:
    """run_all's body."""
    check_disk_order(variants)
    prepare(work, liveimg, variants, build_liveimg(2) if any(v.dialog for v in variants) else None)
    per_variant = max(600.0, timeout / len(variants) * 2)
    script = work / "guest.sh"
    script.write_text(guest_script(work, variants, anaconda_dir(), per_variant))
    start = time.monotonic()
    proc = subprocess.run(vm_command(work, variants, script, timeout), cwd=REPO, capture_output=True, text=True)
    run = Run(vm_rc=proc.returncode, seconds=time.monotonic() - start, log=proc.stdout + proc.stderr)
    (work / "vm-run.log").write_text(run.log)
    for v in variants:
        run.results[v.name] = load_result(work / f"{v.name}.json")
    (work / "summary.json").write_text(json.dumps({"liveimg": str(liveimg), "vm_seconds": round(run.seconds, 1),
                                                   "vm_rc": run.vm_rc,
                                                   "variants": {k: {"ok": r.get("ok"), "phase": r.get("phase"),
                                                                    "seconds": r.get("seconds"),
                                                                    "timings": r.get("timings")}
                                                                for k, r in run.results.items()}},
                                                  indent=2))
    return run


def kept_result(work: Path, liveimg: Path, name: str = KEPT) -> dict[str, Any] | None:
    """A kept variant's result when it was installed from this very liveimg (ok or not), else None."""
    ks, result = work / f"{name}.ks", work / f"{name}.json"
    used = work / f"{name}.dialog.json" if name == TUI_KEPT else ks
    if not (ks.exists() and result.exists() and used.exists() and f"file://{liveimg}" in used.read_text()):
        return None
    return load_result(result)


def load_run(work: Path, liveimg: Path | None, variants: list[Variant] = VARIANTS) -> Run | None:
    """The results of an earlier run_all (for this liveimg unless None), or None."""
    try:
        summary = json.loads((work / "summary.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    if liveimg is not None and summary.get("liveimg") != str(liveimg):
        return None
    run = Run(vm_rc=summary.get("vm_rc"), seconds=summary.get("vm_seconds") or 0.0)
    for v in variants:
        run.results[v.name] = load_result(work / f"{v.name}.json")
    return run
