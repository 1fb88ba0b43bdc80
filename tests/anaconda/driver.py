# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest-side driver: run one kickstart installation with the real anaconda 38 in the VM lab.

Run as root inside ``image-tools/vm-run --udev --mem 3072``::

    python tests/anaconda/driver.py --ks FILE --disk vdb --result DIR/result.json --anaconda DIR

The outer process stages what anaconda expects at fixed paths (the addon from ``make install
DESTDIR=``, anaconda's D-Bus files, start-module, anaconda.conf and the conf.d drop-ins, the
shims) on a guest tmpfs, fingerprints the disk, then runs the inner process in a private mount
namespace (``unshare -m``).  The inner process bind-mounts the staged tree into place, puts /tmp
on a tmpfs and drives anaconda in the order ``anaconda --cmdline`` and its text spokes use.
Afterwards the outer process inspects the disk (partitions, LVM, the layer's fstab and boot
files) and writes one JSON result.  Exit code: 0 the installation finished, 1 a phase failed
(the result names it, with anaconda's own message), 2 the driver itself could not run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script in the guest: the disk helpers are a sibling module

from tests.anaconda.guest_disk import (  # noqa: E402
    disk_fingerprint,
    end_namespace,
    inspect_disk,
    release_disk,
)
from tests.anaconda.guest_stage import (  # noqa: E402
    inner_env,
    place_paths,
    stage_blockdev_conf,
    stage_shims,
    stage_tree,
)


def _load_launcher() -> Any:
    """The installer's own anaconda-run (an overlay file of the installer recipe, no .py suffix)."""
    path = REPO / "image-tools/installer-recipe/overlay/usr/libexec/imgbased-installer/anaconda-run"
    loader = importlib.machinery.SourceFileLoader("anaconda_run", str(path))
    spec = importlib.util.spec_from_loader("anaconda_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


anaconda_run = _load_launcher()

STAGE_ROOT = Path("/run/imgbased-anaconda")
EXIT_OK, EXIT_PHASE_FAILED, EXIT_DRIVER = 0, 1, 2


# ---------------------------------------------------------------- outer: main

def run_outer(args: argparse.Namespace) -> int:
    """Stage, run anaconda in a private mount namespace, inspect the disk, write the result."""
    result_path = Path(args.result)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    dev = f"/dev/{args.disk}"
    stage = STAGE_ROOT / result_path.stem
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    result: dict[str, Any] = {"kickstart": args.ks, "disk": args.disk, "ok": False, "phase": "stage",
                              "error": None}
    t0 = time.monotonic()
    try:
        shutil.copy2(args.ks, stage / "ks.cfg")
        result["staged"] = stage_tree(stage, Path(args.anaconda) / "src")
        stage_shims(stage)
        stage_blockdev_conf(stage)
        result["disk_before"] = disk_fingerprint(dev)
    except Exception as exc:  # noqa: BLE001 - the driver reports every failure in its result
        result["error"] = f"staging failed: {exc}"
        write_result(result_path, result)
        return EXIT_DRIVER
    cmd = ["unshare", "-m", "--propagation", "private", "--", sys.executable, str(Path(__file__).resolve()),
           "--inner", "--stage", str(stage), "--anaconda", args.anaconda, "--mode", args.mode]
    env = inner_env(stage, Path(args.anaconda))
    if args.dialog:
        result["inner_rc"], result["dialog"], error = run_dialog(cmd, env, json.loads(Path(args.dialog).read_text()),
                                                                 result_path.with_suffix(".tui.log"),
                                                                 args.timeout, dev)
        result["error"] = error
    else:
        try:
            proc = subprocess.run(cmd, env=env, timeout=args.timeout, stdout=sys.stdout, stderr=subprocess.STDOUT)
            result["inner_rc"] = proc.returncode
        except subprocess.TimeoutExpired:
            result["inner_rc"] = None
            result["error"] = f"anaconda did not finish within {args.timeout:.0f}s"
    inner = stage / "inner.json"
    if inner.exists():
        dialog_error = result["error"]
        result.update(json.loads(inner.read_text()))
        if dialog_error:
            result["ok"], result["error"] = False, dialog_error
    elif not result["error"]:
        result["error"] = f"the inner driver stopped without a result (exit {result['inner_rc']})"
    result["seconds"] = round(time.monotonic() - t0, 1)
    for name in anaconda_run.ANACONDA_LOGS:  # when anaconda ended before anaconda-run could copy them
        if (stage / "tmp" / name).exists() and not (stage / "logs" / name).exists():
            (stage / "logs").mkdir(exist_ok=True)
            shutil.copy2(stage / "tmp" / name, stage / "logs" / name)
    logs = result_path.parent / f"{result_path.stem}-logs"
    shutil.rmtree(logs, ignore_errors=True)
    if (stage / "logs").is_dir():
        shutil.copytree(stage / "logs", logs)
    result["leftover_processes"] = end_namespace(result.get("namespace"))
    try:
        release_disk(dev, wipe=False)
        result["disk_after"] = disk_fingerprint(dev)
        result["inspect"] = inspect_disk(dev, stage)
        result["release"] = release_disk(dev, wipe=args.wipe_after)
    except Exception as exc:  # noqa: BLE001
        result["inspect_error"] = f"{type(exc).__name__}: {exc}"
    write_result(result_path, result)
    print(f"driver: {Path(args.ks).name}: {'installed' if result['ok'] else 'FAILED in ' + result['phase']}"
          f" after {result['seconds']}s" + ("" if result["ok"] else f": {result['error']}"), flush=True)
    return EXIT_OK if result["ok"] else EXIT_PHASE_FAILED


write_result = anaconda_run.write_result

# The text UI redraws with these; the screens kept in the result are plain text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def run_dialog(cmd: list[str], env: dict[str, str], steps: list[dict[str, Any]], transcript_path: Path,
               timeout: float, disk: str) -> tuple[int | None, list[dict[str, Any]], str | None]:
    """Run the inner process on a pty and answer anaconda's text UI step by step.

    Each step waits for its ``expect`` regex (within ``timeout`` seconds), keeps the screen
    text that led to it, then types ``send`` (a line; none for a final wait).  Returns the exit
    code, the steps seen, and the first step that was not met.  ``send_group`` types a group of
    the match instead (a number anaconda chose); ``fingerprint`` records the disk's fingerprint
    when the step is met (to prove nothing was written before the installation began).
    """
    with open(transcript_path, "w") as transcript:
        return _answer(cmd, env, steps, timeout, transcript, disk)


def _answer(cmd: list[str], env: dict[str, str], steps: list[dict[str, Any]], timeout: float,
            transcript, disk: str) -> tuple[int | None, list[dict[str, Any]], str | None]:
    """run_dialog's body, with the transcript open."""
    import pexpect
    child = pexpect.spawn(cmd[0], cmd[1:], env=env, encoding="utf-8", codec_errors="replace",
                          dimensions=(60, 120), timeout=timeout)
    child.logfile_read = Tee2(sys.stdout, transcript)
    seen: list[dict[str, Any]] = []
    error = None
    deadline = time.monotonic() + timeout
    try:
        for step in steps:
            t0 = time.monotonic()
            wait = min(float(step.get("timeout", 300)), max(1.0, deadline - t0))
            try:
                child.expect(step["expect"], timeout=wait)
            except (pexpect.TIMEOUT, pexpect.EOF) as exc:
                error = (f"the text UI never showed {step['expect']!r} ({step.get('why', '')}): "
                         f"{type(exc).__name__} after {time.monotonic() - t0:.0f}s")
                seen.append({"expect": step["expect"], "met": False,
                             "screen": _ANSI.sub("", child.before or "")[-3000:]})
                return None, seen, error  # the UI waits for an answer that will never come: stop it
            record = {"expect": step["expect"], "met": True, "seconds": round(time.monotonic() - t0, 1),
                      "screen": _ANSI.sub("", (child.before or "") + (child.after or ""))[-3000:]}
            if step.get("fingerprint"):
                record["disk"] = disk_fingerprint(disk)
            seen.append(record)
            if "send_group" in step:
                record["send"] = child.match.group(step["send_group"])
            elif "send" in step:
                time.sleep(float(step.get("pause", 0.5)))
                record["send"] = step["send"]
            if "send" in record:
                child.sendline(record["send"])
        child.expect(pexpect.EOF, timeout=max(1.0, deadline - time.monotonic()))
    except pexpect.TIMEOUT:
        error = error or f"anaconda did not finish within {timeout:.0f}s"
    except pexpect.EOF:
        pass
    finally:
        child.close(force=True)
    return child.exitstatus, seen, error


class Tee2:
    """A pexpect log file writing to two streams."""

    def __init__(self, *streams) -> None:
        """Write to these streams."""
        self.streams = streams

    def write(self, text: str) -> None:
        """Write to every stream."""
        for s in self.streams:
            s.write(text)

    def flush(self) -> None:
        """Flush every stream."""
        for s in self.streams:
            s.flush()


# ---------------------------------------------------------------- inner: in the namespace

def run_inner(args: argparse.Namespace) -> int:
    """In the private namespace: place the paths, then anaconda-run (it always stops anaconda)."""
    stage = Path(args.stage)
    try:
        place_paths(stage)
    except Exception as exc:  # noqa: BLE001 - reported in the result like anaconda's own failures
        anaconda_run.write_result(stage / "inner.json", {"ok": False, "phase": "stage", "error": str(exc)})
        return EXIT_PHASE_FAILED
    namespace = os.readlink("/proc/self/ns/mnt")
    # anaconda collects the addon's spokes only when the package imports from where it found them
    # (the installed copy), not from this checkout that the driver's own imports put first; the
    # import system cached that directory before it was bound into place.
    sys.path.insert(0, "/usr/share/anaconda/addons")
    importlib.invalidate_caches()
    rc = anaconda_run.run(args.mode, stage / "ks.cfg", stage / "inner.json", stage / "logs", monitor=True)
    data = json.loads((stage / "inner.json").read_text())
    data["namespace"] = namespace
    anaconda_run.write_result(stage / "inner.json", data)
    return rc


def parser() -> argparse.ArgumentParser:
    """The driver's command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", help="the kickstart file")
    p.add_argument("--disk", default="vdb", help="the target disk's kernel name (default vdb)")
    p.add_argument("--result", help="where to write the JSON result (logs go beside it)")
    p.add_argument("--anaconda", required=True, help="the anaconda directory of image-tools/anaconda-env --print")
    p.add_argument("--timeout", type=float, default=1200, help="stop anaconda after this many seconds")
    p.add_argument("--wipe-after", action="store_true", help="erase the disk's VGs after inspecting them")
    p.add_argument("--mode", choices=("cmdline", "text"), default="cmdline", help="anaconda-run's mode")
    p.add_argument("--dialog", help="text mode: a JSON list of {expect, send} steps answering the text UI")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stage", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the outer or the inner half."""
    args = parser().parse_args(argv)
    if args.inner:
        return run_inner(args)
    if not (args.ks and args.result):
        parser().error("--ks and --result are required")
    if os.geteuid() != 0:
        print("driver: error: run as root inside the VM lab (image-tools/vm-run --udev)", file=sys.stderr)
        return EXIT_DRIVER
    return run_outer(args)


if __name__ == "__main__":
    sys.exit(main())
