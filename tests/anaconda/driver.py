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
import io
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
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

STAGE_ROOT = Path("/run/imgbased-anaconda")
ADDON_BUS_NAME = "org.fedoraproject.Anaconda.Addons.OvirtImgbased"
PHASES = ["launcher", "kickstart", "storage-scan", "payload-setup", "partitioning", "install", "stop"]
ANACONDA_LOGS = ["anaconda.log", "storage.log", "program.log", "packaging.log", "dbus.log", "ifcfg.log"]
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
           "--inner", "--stage", str(stage), "--anaconda", args.anaconda]
    try:
        proc = subprocess.run(cmd, env=inner_env(stage, Path(args.anaconda)), timeout=args.timeout,
                              stdout=sys.stdout, stderr=subprocess.STDOUT)
        result["inner_rc"] = proc.returncode
    except subprocess.TimeoutExpired:
        result["inner_rc"] = None
        result["error"] = f"anaconda did not finish within {args.timeout:.0f}s"
    inner = stage / "inner.json"
    if inner.exists():
        result.update(json.loads(inner.read_text()))
    elif not result["error"]:
        result["error"] = f"the inner driver stopped without a result (exit {result['inner_rc']})"
    result["seconds"] = round(time.monotonic() - t0, 1)
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


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result JSON atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    tmp.rename(path)


# ---------------------------------------------------------------- inner: in the namespace

class Recorder:
    """Phase timings and the first failure of the inner run."""

    def __init__(self) -> None:
        """Start with no phase."""
        self.data: dict[str, Any] = {"ok": False, "phase": None, "error": None, "error_type": None,
                                     "timings": {}, "phase_start": {}}

    def phase(self, name: str) -> None:
        """Enter a phase."""
        self.data["phase"] = name
        self.data["phase_start"][name] = time.time()
        self._t = time.monotonic()
        print(f"driver: phase {name}", flush=True)

    def done(self) -> None:
        """Close the current phase's timing."""
        self.data["timings"][self.data["phase"]] = round(time.monotonic() - self._t, 1)

    def fail(self, exc: BaseException) -> None:
        """Record anaconda's error for the current phase."""
        self.done()
        self.data["error"] = error_text(exc)
        self.data["error_type"] = type(exc).__name__
        self.data["traceback"] = traceback.format_exc()[-4000:]


def error_text(exc: BaseException) -> str:
    """The message anaconda would show for exc (D-Bus errors carry the remote message)."""
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())


def start_launcher(launcher, rec: Recorder, stage: Path):
    """AnacondaDBusLauncher.start(), step by step, with a bus monitor before the Boss starts."""
    launcher._write_temporary_config()
    launcher._start_dbus_session()
    launcher._set_environment()
    launcher._write_bus_address()
    monitor = None
    try:
        with open(stage / "logs" / "dbus-monitor.log", "w") as out:
            monitor = subprocess.Popen(["dbus-monitor", "--address", launcher._bus_address, "--monitor"],
                                       stdout=out, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    except OSError:
        monitor = None
    launcher._start_boss()
    launcher._start_modules()
    return monitor


def drive(stage: Path, rec: Recorder) -> None:
    """Drive anaconda through its phases; raises at the first failure."""
    rec.phase("launcher")
    from pyanaconda import anaconda_logging
    from pyanaconda.core.configuration.anaconda import conf
    conf.set_from_files()
    anaconda_logging.init(write_to_journal=False)
    from pyanaconda.flags import flags
    flags.automatedInstall = True
    from pyanaconda.core.startup.dbus_launcher import AnacondaDBusLauncher
    launcher = AnacondaDBusLauncher()
    rec.launcher = launcher
    rec.monitor = start_launcher(launcher, rec, stage)
    from pyanaconda.modules.common.constants.services import BOSS
    rec.data["modules"] = list(BOSS.get_proxy().GetModules())
    rec.data["conf_sources"] = list(conf.get_sources())
    rec.done()

    rec.phase("kickstart")
    from pyanaconda import startup_utils
    with Tee() as printed:
        try:
            ksdata = startup_utils.parse_kickstart(str(stage / "ks.cfg"))
        except SystemExit as exc:
            # anaconda prints a kickstart error, sleeps 10 s and exits: report what it printed.
            raise KickstartFailed(kickstart_message(printed.getvalue()) or f"exit {exc.code}") from exc
    rec.done()

    rec.phase("storage-scan")
    from pyanaconda.payload.live import LiveImagePayload
    from pyanaconda.ui.lib.storage import ignore_nvdimm_blockdevs, ignore_oemdrv_disks, reset_storage
    payload = LiveImagePayload()
    ignore_oemdrv_disks()
    ignore_nvdimm_blockdevs()
    reset_storage(retry=False)
    rec.done()

    rec.phase("payload-setup")
    payload.setup()
    rec.done()

    rec.phase("partitioning")
    from pyanaconda.modules.common.constants.objects import DEVICE_TREE, DISK_SELECTION
    from pyanaconda.modules.common.constants.services import STORAGE
    from pyanaconda.ui.lib.storage import apply_partitioning, find_partitioning, select_default_disks
    storage = STORAGE.get_proxy()
    rec.data["partitioning_in_kickstart"] = bool(storage.CreatedPartitioning)
    rec.data["selected_disks"] = list(select_default_disks())
    partitioning = find_partitioning()
    rec.data["partitioning_method"] = str(partitioning.PartitioningMethod)
    report = apply_partitioning(partitioning, show_message_cb=lambda m: print(f"anaconda: {m}", flush=True),
                                reset_storage_cb=lambda: reset_storage(scan_all=True, retry=False))
    rec.data["storage_warnings"] = list(report.warning_messages)
    if not report.is_valid():
        raise StorageInvalid("; ".join(report.error_messages))
    rec.data["root_device"] = str(STORAGE.get_proxy(DEVICE_TREE).GetRootDevice())
    rec.data["selected_disks"] = list(STORAGE.get_proxy(DISK_SELECTION).SelectedDisks)
    rec.done()

    rec.phase("install")
    from pyanaconda.installation import RunInstallationTask
    task = RunInstallationTask(payload=payload, ksdata=ksdata)
    steps: list[str] = []
    task.progress_changed_signal.connect(lambda step, msg: steps.append(f"{step} {msg}") if msg else None)
    task.run()
    rec.data["install_progress"] = steps
    rec.done()


class StorageInvalid(Exception):
    """anaconda's storage validation refused the partitioning."""


class KickstartFailed(Exception):
    """anaconda refused the kickstart (it printed the error and exited)."""


class Tee(io.StringIO):
    """Copy everything printed to sys.stdout into this buffer while it is active."""

    def __enter__(self) -> Tee:
        """Start copying."""
        self._stdout = sys.stdout
        sys.stdout = self
        return self

    def __exit__(self, *exc_info) -> None:
        """Stop copying."""
        sys.stdout = self._stdout

    def write(self, text: str) -> int:
        """Write to the real stdout and keep a copy."""
        self._stdout.write(text)
        return super().write(text)


def kickstart_message(printed: str) -> str:
    """The error anaconda printed between its kickstart-error banner and 'will now terminate'."""
    start = printed.rfind("An error occurred during reading the kickstart file:")
    if start < 0:
        return ""
    body = printed[start:].split("\n", 1)[1] if "\n" in printed[start:] else ""
    body = body.split("The installer will now terminate.")[0]
    return " ".join(body.split())


def copy_logs(stage: Path) -> None:
    """Copy anaconda's logs out of the namespace's /tmp."""
    for name in ANACONDA_LOGS:
        src = Path("/tmp") / name
        if src.exists():
            shutil.copy2(src, stage / "logs" / name)


def addon_calls(stage: Path, phase_start: dict[str, float]) -> list[str]:
    """The method calls on the addon's bus name seen by dbus-monitor, each with its phase."""
    log = stage / "logs" / "dbus-monitor.log"
    if not log.exists():
        return []
    calls: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("method call ") or f"destination={ADDON_BUS_NAME}" not in line:
            continue
        fields = dict(f.split("=", 1) for f in line.replace(";", "").split() if "=" in f)
        when = float(fields.get("time", 0))
        phase = max((p for p, t in phase_start.items() if t <= when), key=lambda p: phase_start[p], default="?")
        calls.append(f"{phase}: {fields.get('interface', '')}.{fields.get('member', '')} {fields.get('path', '')}")
    return calls


def run_inner(args: argparse.Namespace) -> int:
    """In the private namespace: place the paths, drive anaconda, always stop it, save the result."""
    stage = Path(args.stage)
    (stage / "logs").mkdir(exist_ok=True)
    rec = Recorder()
    rec.launcher = rec.monitor = None
    rec.data["namespace"] = os.readlink("/proc/self/ns/mnt")
    try:
        place_paths(stage)
        drive(stage, rec)
        rec.data["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - SystemExit from anaconda's kickstart parser too
        rec.fail(exc)
        print(f"driver: {rec.data['phase']} failed: {rec.data['error_type']}: {rec.data['error']}", flush=True)
    finally:
        failed_phase = rec.data["phase"]
        rec.phase("stop")
        try:
            if rec.launcher is not None:
                rec.launcher.stop()
        except Exception as exc:  # noqa: BLE001
            rec.data["stop_error"] = error_text(exc)
        if rec.monitor is not None:
            rec.monitor.terminate()
            rec.monitor.wait(10)
        rec.done()
        rec.data["phase"] = "done" if rec.data["ok"] else failed_phase
        copy_logs(stage)
        rec.data["addon_calls"] = addon_calls(stage, rec.data["phase_start"])
        write_result(stage / "inner.json", rec.data)
    return EXIT_OK if rec.data["ok"] else EXIT_PHASE_FAILED


def parser() -> argparse.ArgumentParser:
    """The driver's command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", help="the kickstart file")
    p.add_argument("--disk", default="vdb", help="the target disk's kernel name (default vdb)")
    p.add_argument("--result", help="where to write the JSON result (logs go beside it)")
    p.add_argument("--anaconda", required=True, help="the anaconda directory of image-tools/anaconda-env --print")
    p.add_argument("--timeout", type=float, default=1200, help="stop anaconda after this many seconds")
    p.add_argument("--wipe-after", action="store_true", help="erase the disk's VGs after inspecting them")
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
