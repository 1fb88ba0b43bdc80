# SPDX-License-Identifier: GPL-2.0-or-later
"""Counting the reads of an image's bytes: strace -f -yy logs and the loop devices' counters (pure parsers)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.machine import BenchError

SECTOR = 512
PROCESS_CALLS = ("execve", "clone", "clone3", "fork", "vfork")
READ_CALLS = ("read", "pread64", "readv", "preadv", "preadv2", "recvfrom", "recvmsg", "splice", "sendfile",
              "copy_file_range")
#: Which file-descriptor argument a read call reads from (sendfile(out, in, ...) reads its second).
READ_FD_ARG = {"sendfile": 1}
NETWORK = "network socket to the channel server"
STAGED = "staged squashfs, read calls"
ROOTFS = "LiveOS/rootfs.img in the mounted squashfs"
GPGV_PIPE = "gpgv's stdin pipe"
LOOP_STAGED = "staged squashfs, by the kernel's loop device"
LOOP_ROOTFS = "LiveOS/rootfs.img, by a loop device (nested)"
LIVE_ROOTFS = "/LiveOS/rootfs.img"
#: The variables that send urllib's and curl's requests through a proxy (vm-run passes the host's on).

_PREFIX = re.compile(r"(\d+)\s+(.*)")
_CALL = re.compile(r"(\w+)\((.*)")
_RESUMED = re.compile(r"<\.\.\. (\w+) resumed>(.*)")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)")
_FD = re.compile(r"(?<![\w<])\d+<(.*?)>(?=,|\))")
_UNFINISHED = "<unfinished ...>"


@dataclass(frozen=True)
class Call:
    """One finished system call of an strace -f log: who made it, its arguments and its result."""

    pid: int
    name: str
    args: str
    result: int | None  # None: no number (the process died in the call, or '= ?')


def strace_calls(text: str) -> Iterator[Call]:
    """The finished calls of an `strace -f` log, with <unfinished ...> and <... resumed> halves joined."""
    pending: dict[int, tuple[str, str]] = {}
    for line in text.splitlines():
        m = _PREFIX.fullmatch(line.strip())
        if not m:
            continue
        pid, body = int(m.group(1)), m.group(2)
        resumed = _RESUMED.fullmatch(body)
        if resumed:
            name, start = pending.pop(pid, (resumed.group(1), ""))
            body_name, args = name, start + resumed.group(2)
        else:
            call = _CALL.fullmatch(body)
            if not call:  # +++ exited +++, --- signals ---, strace's own notes
                continue
            body_name, args = call.group(1), call.group(2)
        if args.endswith(_UNFINISHED):
            pending[pid] = (body_name, args[: -len(_UNFINISHED)])
            continue
        results = _RESULT.findall(args)
        yield Call(pid, body_name, args, int(results[-1]) if results else None)


def fd_targets(args: str) -> list[str]:
    """What each file descriptor in a call's arguments refers to, as strace -yy prints it (<path>)."""
    return _FD.findall(args)


@dataclass
class Reads:
    """Bytes read per (process, file descriptor target), and the program each process runs."""

    by_pid: dict[tuple[int, str], int] = field(default_factory=dict)
    execs: dict[int, str] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)

    def program(self, pid: int) -> str:
        """The program a process (or thread) runs: its own execve, else its parent's program."""
        seen = set()
        while pid not in self.execs and pid in self.parents and pid not in seen:
            seen.add(pid)
            pid = self.parents[pid]
        return self.execs.get(pid, "?")


def parse_strace(text: str) -> Reads:
    """Sum the bytes returned by the read calls of an `strace -f -yy` log, per process and target."""
    reads = Reads()
    for call in strace_calls(text):
        if call.result is None or call.result < 0:
            continue
        if call.name == "execve" and call.result == 0:
            path = call.args.split('"', 2)[1] if call.args.startswith('"') else "?"
            reads.execs[call.pid] = os.path.basename(path)
        elif call.name in PROCESS_CALLS and call.result > 0:
            reads.parents[call.result] = call.pid
        elif call.name in READ_CALLS and call.result > 0:
            targets = fd_targets(call.args)
            index = READ_FD_ARG.get(call.name, 0)
            target = targets[index] if len(targets) > index else "?"
            key = (call.pid, target)
            reads.by_pid[key] = reads.by_pid.get(key, 0) + call.result
    return reads


def classify(reads: Reads, staged: str, port: int) -> dict[tuple[str, str], int]:
    """Bytes of the image's kinds (NETWORK, STAGED, ROOTFS, GPGV_PIPE) per program that read them."""
    found: dict[tuple[str, str], int] = {}
    for (pid, target), count in reads.by_pid.items():
        program = reads.program(pid)
        if target.startswith("TCP") and target.endswith(f":{port}]"):
            kind = NETWORK
        elif target in (staged, staged + ".part"):
            kind = STAGED
        elif target.endswith(LIVE_ROOTFS):
            kind = ROOTFS
        elif target.startswith("pipe:") and program == "gpgv":
            kind = GPGV_PIPE
        else:
            continue
        found[(kind, program)] = found.get((kind, program), 0) + count
    return found


def by_kind(found: dict[tuple[str, str], int], kind: str) -> int:
    """The bytes of one kind, whichever program read them."""
    return sum(count for (k, _program), count in found.items() if k == kind)


def loop_stat_bytes(text: str) -> int:
    """Bytes read by a block device, from its /sys/block/DEV/stat line (the third field: sectors read)."""
    fields = text.split()
    if len(fields) < 3 or not fields[2].isdigit():
        raise BenchError(f"a block device stat line without a sectors-read field: {text.strip()!r}")
    return int(fields[2]) * SECTOR


def loop_reads(samples: list[dict[str, tuple[str | None, int]]]) -> dict[str, int]:
    """Bytes the loop devices read from each backing file, from successive samples of their counters.

    A sample maps a device to (its backing file or None when unbound, bytes read so far).  The first
    sample is the baseline; a device first seen later is new (it counted from 0); a counter that went
    down was reset.  Bytes read between two samples go to the file bound at the later one (or, when it
    was unbound meanwhile, the earlier one).
    """
    totals: dict[str, int] = {}
    last: dict[str, tuple[str | None, int]] = {}
    for number, sample in enumerate(samples):
        for device, (backing, value) in sample.items():
            if device not in last:
                last[device] = (backing, value if number == 0 else 0)
            before_file, before = last[device]
            grown = value if value < before else value - before
            owner = backing or before_file
            if grown and owner:
                totals[owner] = totals.get(owner, 0) + grown
            last[device] = (owner, value)
    return totals


def sample_loops(sys_block: Path = Path("/sys/block")) -> dict[str, tuple[str | None, int]]:
    """Each loop device's backing file (None when unbound) and the bytes it has read."""
    found: dict[str, tuple[str | None, int]] = {}
    for dev in sorted(sys_block.glob("loop*")):
        try:
            value = loop_stat_bytes((dev / "stat").read_text())
        except OSError:  # the device went away between the listing and the read
            continue
        try:
            backing: str | None = (dev / "loop" / "backing_file").read_text().strip()
        except OSError:
            backing = None
        found[dev.name] = (backing.removesuffix(" (deleted)") if backing else None, value)
    return found


def classify_loops(totals: dict[str, int], staged: str) -> dict[str, int]:
    """The loop devices' reads of the staged squashfs (LOOP_STAGED) and of a rootfs.img (LOOP_ROOTFS)."""
    return {LOOP_STAGED: sum(n for path, n in totals.items() if path == staged),
            LOOP_ROOTFS: sum(n for path, n in totals.items() if path.endswith(LIVE_ROOTFS))}
