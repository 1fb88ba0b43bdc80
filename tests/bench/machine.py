# SPDX-License-Identifier: GPL-2.0-or-later
"""What the benchmarks need from the machine: timed commands, lvm reports, the scratch disk, imgbase.

Everything here runs real commands as root inside the VM lab (device-mapper
and lvm2 are needed).  The pure parsers (lvs JSON, dumpe2fs, accel hints,
partition names) are separate functions so unit tests can check them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30


class BenchError(RuntimeError):
    """A step of a benchmark broke (not a slow figure: those are only printed)."""


def progress(text: str) -> None:
    """One progress line on the console, flushed at once (vm-run streams it)."""
    print(f"  .. {text}", flush=True)


def run(argv: list[str], *, check: bool = True, input: str | None = None,
        env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command (argument list), capturing its output; fail with its stderr tail."""
    proc = subprocess.run(argv, input=input, env=env, cwd=cwd, text=True, capture_output=True, check=False)
    if check and proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise BenchError(f"{' '.join(argv[:4])}... exited {proc.returncode}: {tail}")
    return proc


def timed(argv: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command and return its wall time in seconds with the completed process."""
    start = time.perf_counter()
    proc = run(argv, **kwargs)
    return time.perf_counter() - start, proc


def drop_caches() -> None:
    """Flush dirty pages and drop the page cache, so each round starts cold."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


# --- pure parsers -------------------------------------------------------------------------------

def pool_used_from_report(report: dict) -> int:
    """Bytes of pool data in use, from an lvs JSON report of one pool (size and data_percent)."""
    rows = [row for rep in report.get("report", []) for row in rep.get("lv", [])]
    if len(rows) != 1:
        raise BenchError(f"expected one pool row in the lvs report, got {len(rows)}")
    size = int(float(rows[0]["lv_size"] or 0))
    percent = float(rows[0]["data_percent"] or 0)
    return int(size * percent / 100)


def lv_names_from_report(report: dict) -> list[str]:
    """LV names from an lvs JSON report."""
    return [row["lv_name"] for rep in report.get("report", []) for row in rep.get("lv", [])]


def ext4_used_from_dumpe2fs(text: str) -> tuple[int, int]:
    """(filesystem size, used bytes) from `dumpe2fs -h` output: (blocks - free blocks) x block size."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        blocks, free = int(fields["Block count"]), int(fields["Free blocks"])
        block_size = int(fields["Block size"])
    except (KeyError, ValueError):
        raise BenchError("dumpe2fs -h printed no Block count / Free blocks / Block size") from None
    return blocks * block_size, (blocks - free) * block_size


def partition_path(disk: str, number: int) -> str:
    """The device node of partition number on disk (/dev/vdb -> /dev/vdb1, /dev/loop0 -> /dev/loop0p1)."""
    return f"{disk}p{number}" if disk[-1:].isdigit() else f"{disk}{number}"


def accel_lines(env: dict[str, str], detect_virt: str | None) -> list[str]:
    """What the report says about CPU emulation: the caveat, the lab's hint and systemd's guess."""
    lines = ["accel: TCG emulation unless KVM; under TCG every figure is several times slower "
             "than on real hardware, so read the ratios more than the absolute times"]
    accel = env.get("IMGBASED_VM_ACCEL")
    lines.append(f"IMGBASED_VM_ACCEL={accel}" if accel else "IMGBASED_VM_ACCEL is not set")
    if detect_virt:
        lines.append(f"systemd-detect-virt: {detect_virt} (qemu = TCG emulation, kvm = hardware virtualisation)")
    return lines


# --- lvm ----------------------------------------------------------------------------------------

def lvs_json(*args: str) -> dict:
    """Run lvs with a JSON report in bytes and return the parsed report."""
    out = run(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", *args]).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise BenchError(f"lvs printed output that is not JSON: {exc}") from None


def pool_used(vg: str, pool: str = "pool00") -> int:
    """Bytes in use in vg/pool's data space (data_percent x size)."""
    return pool_used_from_report(lvs_json("-o", "lv_size,data_percent", f"{vg}/{pool}"))


def lv_names(vg: str) -> list[str]:
    """Names of the LVs in vg."""
    return lv_names_from_report(lvs_json("-o", "lv_name", vg))


def remove_vg(vg: str, pv: str) -> None:
    """Remove a benchmark VG and wipe its PV so the next benchmark starts clean."""
    run(["vgremove", "-ff", "-y", vg], check=False)
    run(["pvremove", "-ff", "-y", pv], check=False)
    run(["wipefs", "-a", "-q", pv], check=False)


def tool_versions() -> list[str]:
    """Kernel, lvm2 and e2fsprogs versions for the report header."""
    kernel = os.uname().release
    lvm = run(["lvm", "version"], check=False).stdout.splitlines()
    e2 = run(["mke2fs", "-V"], check=False).stderr.splitlines()
    return [f"kernel {kernel}", (lvm[0].strip() if lvm else "lvm2 ?"), (e2[0].strip() if e2 else "e2fsprogs ?")]


def detect_virt() -> str | None:
    """systemd-detect-virt's answer, if the tool exists."""
    try:
        return run(["systemd-detect-virt", "--vm"], check=False).stdout.strip() or None
    except OSError:
        return None


# --- the scratch disk ---------------------------------------------------------------------------

@dataclass
class Disk:
    """The prepared scratch disk: an ext4 scratch filesystem and a partition for benchmark PVs."""

    disk: str
    scratch: Path
    pv: str


def prepare_disk(disk: str, scratch_gib: int = 12) -> Disk:
    """Partition disk: part 1 an ext4 scratch fs (mounted), part 2 the PV for the benchmark VGs."""
    run(["wipefs", "-a", "-q", disk])
    run(["sfdisk", "-q", disk], input=f"label: gpt\nsize={scratch_gib}GiB\nsize=+\n")
    part1, part2 = partition_path(disk, 1), partition_path(disk, 2)
    for _ in range(50):  # without udev the nodes appear from devtmpfs a moment after the re-read
        if Path(part1).exists() and Path(part2).exists():
            break
        time.sleep(0.1)
    else:
        raise BenchError(f"partitions {part1} and {part2} did not appear after sfdisk")
    run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", part1])
    mnt = Path("/run/imgbased-bench")
    mnt.mkdir(parents=True, exist_ok=True)
    run(["mount", part1, str(mnt)])
    return Disk(disk, mnt, part2)


def release_disk(disk: Disk) -> None:
    """Unmount the scratch filesystem (the VM's disk is thrown away afterwards)."""
    run(["umount", str(disk.scratch)], check=False)


# --- imgbase ------------------------------------------------------------------------------------

def bytecode_env(pycache: Path | None) -> dict[str, str]:
    """The environment for Python children: bytecode cached under pycache, or never cached (None)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def warm_bytecode(pycache: Path) -> float:
    """Compile the package (and, by one CLI start, the stdlib modules it imports) into pycache."""
    env = {**bytecode_env(pycache), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    run([sys.executable, "-S", "-m", "compileall", "-q", str(ROOT / "org_ovirt_imgbased")], env=env)
    run([sys.executable, "-S", "-m", "org_ovirt_imgbased", "--help"], env=env, cwd=ROOT)
    return time.perf_counter() - start


class Cli:
    """Run the real imgbase CLI (`python -S -m org_ovirt_imgbased`) with benchmark-local state.

    With a pycache directory the package's bytecode is cached there, as on an installed host
    (packages ship .pyc files); with None every start compiles the package from source.
    """

    def __init__(self, work: Path, vg: str, pycache: Path | None) -> None:
        """Keep lock, journal and run directories under work; operate on VG vg."""
        self.vg = vg
        work.mkdir(parents=True, exist_ok=True)
        (work / "cmdline").write_text("console=ttyS0\n")
        self.env = {**bytecode_env(pycache), "IMGBASED_LOCK": str(work / "imgbased.lock"),
                    "IMGBASED_STATE_DIR": str(work / "state"), "IMGBASED_RUN_DIR": str(work / "run"),
                    "IMGBASED_LOCK_WAIT": "1", "IMGBASED_CMDLINE": str(work / "cmdline"),
                    "PYTHONPATH": str(ROOT)}
        self.boot_dir = work / "boot"
        self.boot_dir.mkdir(exist_ok=True)

    def argv(self, *args: str, vg: bool = True) -> list[str]:
        """The full command line for imgbase args."""
        base = [sys.executable, "-S", "-m", "org_ovirt_imgbased", "--no-bootloader",
                "--boot-dir", str(self.boot_dir)]
        return [*base, *([f"--vg={self.vg}"] if vg else []), *args]

    def __call__(self, *args: str, vg: bool = True) -> tuple[float, subprocess.CompletedProcess]:
        """Run imgbase args; return (wall seconds, process); fail on a non-zero exit."""
        return timed(self.argv(*args, vg=vg), env=self.env, cwd=ROOT)

    def json(self, *args: str) -> tuple[float, dict]:
        """Run imgbase args --json and return (wall seconds, parsed output)."""
        seconds, proc = self(*args, "--json")
        return seconds, json.loads(proc.stdout)

    def init(self, pv: str, pool_size: str | None = None) -> float:
        """Create the benchmark VG and thin pool with `imgbase layout --init`; return its time."""
        extra = ["--pool-size", pool_size] if pool_size else []
        seconds, _ = self("layout", "--init", *extra, "--pvs", pv)
        return seconds


@dataclass
class BenchEnv:
    """What every benchmark gets: the prepared disk and a guest-local work directory."""

    disk: Disk
    work: Path
    pycache: Path  # where the CLI's bytecode is cached (see Cli)
