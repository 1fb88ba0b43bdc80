# SPDX-License-Identifier: GPL-2.0-or-later
"""anaconda-run: start the real anaconda 38 on a Debian installer root, in anaconda's own order.

``anaconda.py`` itself starts every D-Bus module and NetworkManager, X/VNC checks and the
Fedora-only helpers; an imgbased installer runs only Storage, Payloads and the addon (see the
configuration drop-ins).  This launcher makes anaconda's own calls in the order
``anaconda.py`` makes them, for the two modes an imgbased install uses:

* ``--mode cmdline``: an unattended kickstart install (the order of ``anaconda --cmdline``
  and its text spokes): launcher, kickstart, storage scan, payload set-up, partitioning,
  the installation queue.
* ``--mode text``: anaconda's interactive text UI on this terminal: the same start, then
  the ``Anaconda`` object, ``display.setup_display`` with ``--text``, the storage scan and
  payload threads, and ``TextUserInterface`` (the summary hub with every spoke whose module
  runs, the addon's among them) until the admin quits or the installation ends.

It is used by the PXE installer's stage 2 (installed as ``/usr/libexec/imgbased-installer/
anaconda-run``) and by the test tier's guest driver.  It writes one JSON result: ``ok``, the
``phase`` that failed with anaconda's own ``error``, and per-phase ``timings``.  Exit code 0
installed, 1 a phase failed, 2 usage.
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

ADDON_BUS_NAME = "org.fedoraproject.Anaconda.Addons.OvirtImgbased"
ANACONDA_LOGS = ["anaconda.log", "storage.log", "program.log", "packaging.log", "dbus.log", "ifcfg.log"]
EXIT_OK, EXIT_PHASE_FAILED, EXIT_USAGE = 0, 1, 2
PREFIX = "anaconda-run"


class Recorder:
    """Phase timings and the first failure of one run."""

    def __init__(self) -> None:
        """Start with no phase."""
        self.data: dict[str, Any] = {"ok": False, "phase": None, "error": None, "error_type": None,
                                     "timings": {}, "phase_start": {}}
        self.launcher = None
        self.monitor = None
        self._t = time.monotonic()

    def phase(self, name: str) -> None:
        """Enter a phase."""
        self.data["phase"] = name
        self.data["phase_start"][name] = time.time()
        self._t = time.monotonic()
        print(f"{PREFIX}: phase {name}", flush=True)

    def done(self) -> None:
        """Close the current phase's timing."""
        self.data["timings"][self.data["phase"]] = round(time.monotonic() - self._t, 1)

    def fail(self, exc: BaseException) -> None:
        """Record anaconda's error for the current phase."""
        self.done()
        self.data["error"] = error_text(exc)
        self.data["error_type"] = type(exc).__name__
        self.data["traceback"] = traceback.format_exc()[-4000:]


class StorageInvalid(Exception):
    """anaconda's storage validation refused the partitioning."""


class KickstartFailed(Exception):
    """anaconda refused the kickstart (it printed the error and exited)."""


class NotInstalled(Exception):
    """The text UI ended without an installation."""


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


def error_text(exc: BaseException) -> str:
    """The message anaconda would show for exc (D-Bus errors carry the remote message)."""
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())


def kickstart_message(printed: str) -> str:
    """The error anaconda printed between its kickstart-error banner and 'will now terminate'."""
    start = printed.rfind("An error occurred during reading the kickstart file:")
    if start < 0:
        return ""
    body = printed[start:].split("\n", 1)[1] if "\n" in printed[start:] else ""
    body = body.split("The installer will now terminate.")[0]
    return " ".join(body.split())


def start_launcher(rec: Recorder, logs: Path, monitor: bool) -> None:
    """AnacondaDBusLauncher.start(), step by step, with an optional bus monitor before the Boss."""
    from pyanaconda.core.startup.dbus_launcher import AnacondaDBusLauncher
    launcher = rec.launcher = AnacondaDBusLauncher()
    launcher._write_temporary_config()
    launcher._start_dbus_session()
    launcher._set_environment()
    launcher._write_bus_address()
    if monitor:
        try:
            with open(logs / "dbus-monitor.log", "w") as out:
                rec.monitor = subprocess.Popen(["dbus-monitor", "--address", launcher._bus_address, "--monitor"],
                                               stdout=out, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        except OSError:
            rec.monitor = None
    launcher._start_boss()
    launcher._start_modules()


def start(rec: Recorder, ks: Path, logs: Path, monitor: bool, automated: bool):
    """The launcher and the kickstart: what both modes share; returns anaconda's ksdata."""
    rec.phase("launcher")
    from pyanaconda import anaconda_logging
    from pyanaconda.core.configuration.anaconda import conf
    conf.set_from_files()
    anaconda_logging.init(write_to_journal=False)
    from pyanaconda.flags import flags
    flags.automatedInstall = automated
    start_launcher(rec, logs, monitor)
    from pyanaconda.modules.common.constants.services import BOSS
    rec.data["modules"] = list(BOSS.get_proxy().GetModules())
    rec.data["conf_sources"] = list(conf.get_sources())
    rec.done()

    rec.phase("kickstart")
    from pyanaconda import startup_utils
    with Tee() as printed:
        try:
            ksdata = startup_utils.parse_kickstart(str(ks))
        except SystemExit as exc:
            # anaconda prints a kickstart error, sleeps 10 s and exits: report what it printed.
            raise KickstartFailed(kickstart_message(printed.getvalue()) or f"exit {exc.code}") from exc
    rec.done()
    return ksdata


def drive_cmdline(rec: Recorder, ks: Path, logs: Path, monitor: bool) -> None:
    """An unattended kickstart install; raises at the first failure."""
    ksdata = start(rec, ks, logs, monitor, automated=True)

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
    task.progress_changed_signal.connect(lambda step, msg: _progress(steps, step, msg))
    task.run()
    rec.data["install_progress"] = steps
    rec.done()


def _progress(steps: list[str], step: int, message: str) -> None:
    """Keep and print one step of anaconda's installation queue (the console shows it as it happens)."""
    if message:
        steps.append(f"{step} {message}")
        print(f"{PREFIX}: install: {message}", flush=True)


def drive_text(rec: Recorder, ks: Path, logs: Path, monitor: bool) -> None:
    """anaconda's interactive text UI, started as anaconda.py starts it; raises unless it installed."""
    ksdata = start(rec, ks, logs, monitor, automated=False)

    rec.phase("ui-setup")
    from pyanaconda import display
    from pyanaconda.anaconda import Anaconda
    from pyanaconda.argument_parsing import getArgumentParser
    from pyanaconda.core import constants
    from pyanaconda.core.kernel import KernelArguments
    from pyanaconda.payload.manager import payloadMgr
    from pyanaconda.threading import AnacondaThread, threadMgr
    from pyanaconda.ui.context import context
    from pyanaconda.ui.lib.storage import ignore_nvdimm_blockdevs, ignore_oemdrv_disks, reset_storage
    # The options anaconda.py would have with --text and no inst.* boot options.
    boot = KernelArguments.from_string("")
    opts = getArgumentParser("anaconda-run", boot).parse_args(["--text"], boot_cmdline=boot)
    anaconda = Anaconda()
    anaconda.set_from_opts(opts)
    anaconda.ksdata = ksdata
    context.payload_type = anaconda.payload.type
    anaconda.payload.set_from_opts(opts)
    display.setup_display(anaconda, opts)
    ignore_oemdrv_disks()
    ignore_nvdimm_blockdevs()
    threadMgr.add(AnacondaThread(name=constants.THREAD_STORAGE, target=reset_storage))
    payloadMgr.start(anaconda.payload, fallback=False)
    rec.data["display_mode"] = str(anaconda.display_mode)
    rec.done()

    rec.phase("ui")
    anaconda.intf.setup(ksdata)
    # Where the addon was imported from: anaconda shows its spokes only from the installed copy.
    rec.data["addon_package"] = getattr(sys.modules.get("org_ovirt_imgbased"), "__file__", None)
    anaconda.intf.run()
    rec.done()
    from pyanaconda.modules.common.constants.objects import DEVICE_TREE
    from pyanaconda.modules.common.constants.services import STORAGE
    rec.data["root_device"] = str(STORAGE.get_proxy(DEVICE_TREE).GetRootDevice())
    if not installed():
        raise NotInstalled("the text UI ended before the installation finished")


def installed() -> bool:
    """Whether the progress spoke saw the installation queue end (it logs this line then)."""
    log = Path("/tmp/anaconda.log")
    return log.exists() and "The installation has finished." in log.read_text(errors="replace")


def copy_logs(logs: Path) -> None:
    """Copy anaconda's logs out of /tmp."""
    for name in ANACONDA_LOGS:
        src = Path("/tmp") / name
        if src.exists():
            shutil.copy2(src, logs / name)


def addon_calls(logs: Path, phase_start: dict[str, float]) -> list[str]:
    """The method calls on the addon's bus name seen by dbus-monitor, each with its phase."""
    log = logs / "dbus-monitor.log"
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


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result JSON atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    tmp.rename(path)


def run(mode: str, ks: Path, result: Path, logs: Path, monitor: bool = False) -> int:
    """Drive anaconda in mode, always stop it, save logs and the result; the exit code."""
    logs.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    rec.data["mode"] = mode
    try:
        (drive_text if mode == "text" else drive_cmdline)(rec, ks, logs, monitor)
        rec.data["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - SystemExit from anaconda's kickstart parser too
        rec.fail(exc)
        print(f"{PREFIX}: {rec.data['phase']} failed: {rec.data['error_type']}: {rec.data['error']}", flush=True)
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
        copy_logs(logs)
        rec.data["addon_calls"] = addon_calls(logs, rec.data["phase_start"])
        write_result(result, rec.data)
    return EXIT_OK if rec.data["ok"] else EXIT_PHASE_FAILED


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog=PREFIX, description=__doc__.splitlines()[0])
    p.add_argument("--ks", required=True, help="the kickstart file")
    p.add_argument("--mode", choices=("cmdline", "text"), default="cmdline",
                   help="cmdline: unattended kickstart install; text: the interactive text UI")
    p.add_argument("--result", required=True, help="where to write the JSON result")
    p.add_argument("--logs", required=True, help="a directory for anaconda's logs")
    p.add_argument("--bus-monitor", action="store_true", help="record the D-Bus traffic (dbus-monitor.log)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    args = parser().parse_args(argv)
    ks = Path(args.ks)
    if not ks.is_file():
        print(f"{PREFIX}: error: {ks}: no such kickstart file", file=sys.stderr)
        return EXIT_USAGE
    if os.geteuid() != 0:
        print(f"{PREFIX}: error: anaconda installs as root", file=sys.stderr)
        return EXIT_USAGE
    return run(args.mode, ks, Path(args.result), Path(args.logs), args.bus_monitor)


if __name__ == "__main__":
    sys.exit(main())
