# SPDX-License-Identifier: GPL-2.0-or-later
"""Command mode: boot the distribution kernel on the host's root and run one command."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import VmError, log, parse_size
from .console import ConsoleVM
from .initramfs import ensure_initramfs
from .kernel import ensure_kernel
from .qemu import choose_accel, disk_args, machine_args, share_args, sparse_disk, vm_lock

STAGE2 = Path(__file__).with_name("stage2.sh")
BEGIN, END, FAIL = "@@VMRUN:BEGIN@@", "@@VMRUN:END@@", "@@VMRUN:FAIL@@"
EXIT_TIMEOUT, EXIT_VM_FAILED = 124, 125
# Variables that describe the host session rather than the job.
SKIP_ENV = {"_", "SHLVL", "PWD", "OLDPWD", "TMUX", "TMUX_PANE", "SSH_AUTH_SOCK", "SSH_CLIENT",
            "SSH_CONNECTION", "SSH_TTY", "DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"}


@dataclass
class RunSpec:
    """What to run in the VM and with which resources."""

    command: list[str]
    disks: list[tuple[str, str]] = field(default_factory=list)  # ("size", "8G") | ("file", path)
    mem_mb: int = 2048
    timeout: float = 3600.0
    shares: list[str] = field(default_factory=list)
    udev: bool = False
    verbose: bool = False
    keep: bool = False
    reach_host: bool = False  # a NIC on qemu's user network, unrestricted: the host is 10.0.2.2


class StreamFilter:
    """Echo only the job's output: drop boot noise unless verbose, strip markers."""

    def __init__(self, verbose: bool) -> None:
        """Start in the boot phase."""
        self.verbose = verbose
        self.phase = "boot"
        self.buf = ""

    def feed(self, chunk: str) -> None:
        """Take a console chunk and print what belongs to the job."""
        self.buf += chunk
        lines = self.buf.split("\n")
        self.buf = lines.pop()
        for line in lines:
            self._line(line + "\n")
        if self.phase == "job" and self.buf and not "@@VMRUN:".startswith(self.buf[:8]):
            sys.stdout.write(self.buf)
            self.buf = ""
        sys.stdout.flush()

    def _line(self, line: str) -> None:
        """Handle one complete console line."""
        if BEGIN in line:
            self.phase = "job"
        elif END in line:
            self.phase = "done"
        elif FAIL in line or self.phase == "job" or self.verbose:
            sys.stdout.write(line)


def _write_job(job: Path, command: list[str], cwd: str) -> None:
    """Write env.sh and cmd.sh into the shared job directory."""
    env = {k: v for k, v in os.environ.items()
           if k not in SKIP_ENV and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)}
    env.update({"IMGBASED_IN_VM": "1", "LVM_SUPPRESS_FD_WARNINGS": "1", "DM_DISABLE_UDEV": "1"})
    (job / "env.sh").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    (job / "cmd.sh").write_text(f"cd {shlex.quote(cwd)} || exit 125\nexec {shlex.join(command)}\n")


def _shares(extra: list[str], cwd: str) -> list[str]:
    """Directories shared read-write: /tmp, the working directory and any extras."""
    paths = ["/tmp"]
    for p in [cwd, *extra]:
        real = os.path.realpath(p)
        if real != "/" and not any(real == q or real.startswith(q + "/") for q in paths):
            paths.append(real)
    for p in paths:
        if "," in p or " " in p or "=" in p:
            raise VmError(f"cannot share {p!r}: commas, spaces and '=' are not supported")
    return paths


def _disks(job: Path, spec: RunSpec) -> list[str]:
    """Build disk arguments: a small reserved vda, then the requested disks."""
    args = disk_args(0, sparse_disk(job / "reserved.img", 1 << 20))
    for i, (kind, value) in enumerate(spec.disks, start=1):
        if kind == "size":
            path = sparse_disk(job / f"disk{i}.img", parse_size(value))
        else:
            path = Path(value).resolve()
            if not path.is_file():
                raise VmError(f"--attach {value}: no such disk image file")
        args += disk_args(i, path)
    return args


def build_command(spec: RunSpec, job: Path, accel: str, kernel, initrd: Path) -> list[str]:
    """Assemble the full qemu command line for a command-mode run."""
    cwd = os.getcwd()
    shares = _shares(spec.shares, cwd)
    cmd = machine_args(accel, spec.mem_mb) + ["-no-reboot"]
    cmd += share_args("hostroot", "/", readonly=True)
    for i, path in enumerate(shares):
        cmd += share_args(f"share{i}", path, readonly=False)
    cmd += _disks(job, spec)
    append = ["console=ttyS0", "quiet", "panic=-1", f"vmrun.stage2={STAGE2.resolve()}",
              f"vmrun.job={job}", f"vmrun.kroot={kernel.root}",
              "vmrun.shares=" + ",".join(f"share{i}={p}" for i, p in enumerate(shares))]
    if spec.udev:
        append.append("vmrun.udev=1")
    if spec.reach_host:
        cmd += ["-nic", "user,model=virtio-net-pci,restrict=off"]
        append.append("vmrun.net=1")
    return cmd + ["-kernel", str(kernel.vmlinux), "-initrd", str(initrd), "-append", " ".join(append)]


def run_command(spec: RunSpec) -> int:
    """Run spec.command in a fresh VM and return its exit code."""
    kernel = ensure_kernel()
    initrd = ensure_initramfs(kernel)
    job = Path(tempfile.mkdtemp(prefix="vmrun.", dir="/tmp"))
    job.chmod(0o755)
    try:
        _write_job(job, spec.command, os.getcwd())
        with vm_lock():
            accel = choose_accel(kernel.vmlinux, initrd)
            cmd = build_command(spec, job, accel, kernel, initrd)
            flt = StreamFilter(spec.verbose)
            start = time.monotonic()
            vm = ConsoleVM(cmd, log_path=job / "console.log", echo=flt.feed).start()
            try:
                vm.wait(spec.timeout)
            except VmError:
                vm.kill()
                log(f"timeout: the VM was stopped after {spec.timeout:.0f}s")
                return EXIT_TIMEOUT
            log(f"VM ran {time.monotonic() - start:.1f}s ({accel})")
        rc_file = job / "rc"
        if not rc_file.exists():
            tail = "\n".join(vm.text.strip().splitlines()[-25:])
            log(f"the VM stopped without finishing the command; console tail:\n{tail}\n"
                f"{vm.stderr.strip()}")
            return EXIT_VM_FAILED
        return int(rc_file.read_text().strip() or EXIT_VM_FAILED)
    finally:
        if spec.keep:
            log(f"kept job directory {job}")
        else:
            shutil.rmtree(job, ignore_errors=True)
