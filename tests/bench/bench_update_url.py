# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark 5: `imgbase update` from a signed channel against curl + dd, and how often the image is read.

The payload of benchmark 2 (a 2 GiB ext4 image, about 400 MiB used; half of it
under TCG emulation, where the full one would take this benchmark past five
minutes, mostly in mksquashfs and under strace) is packed as a liveimg
squashfs with image-tools/make-liveimg, published as version 2 of a channel
with image-tools/publish and a test key, and served over http by
tests/channel_server.py on 127.0.0.1, in the benchmark's own process.  A host
with a v1 base and its layer trusts the key and follows the channel.  Then:

A. `imgbase --config C update` as its own process: index and signatures, the
   download into staging (sha256 and gpgv fed the same chunks), the new base
   (e2image of LiveOS/rootfs.img from the mounted squashfs), its layer, /etc
   carried over, gc.
B. the raw transfer of the same bytes: `curl -s -f -o FILE URL`, mount the
   squashfs (loop, ro), lvcreate a thin LV of the rootfs's size and
   `dd conv=sparse` LiveOS/rootfs.img into it.  The rootfs, not the squashfs:
   a base must hold the ext4 filesystem, and imgbased writes exactly that file
   (e2image -ra of LiveOS/rootfs.img); a dd of the squashfs itself would copy
   the compressed container, skip the decompression and leave an LV that is no
   root filesystem.
C. A again (its base removed first) under `strace -f -yy`, not timed: the bytes
   each process reads from the network socket, the staged file, the rootfs in
   the mounted squashfs and gpgv's pipe; and, sampled from /sys/block/loop*,
   what the kernel's loop devices read from their backing files (the squashfs
   mount reads the staged file there, where strace cannot see it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.machine import (
    ROOT,
    BenchEnv,
    BenchError,
    Cli,
    detect_virt,
    drop_caches,
    pool_used,
    progress,
    remove_vg,
    run,
    timed,
)
from tests.bench.payload import ext4_used, make_ext4, realistic_tree, small_tree
from tests.bench.report import Goal, Section, fmt_mib, fmt_ratio, fmt_seconds, ratio
from tests.channel_server import ChannelServer

VG = "imgbench5"
POOL_SIZE = "8G"
LIVEIMG = "imgbench-v2.squashfs"
VERSION = "2"
DD_BS = "1M"
LOOP_POLL = 0.05  # seconds between two samples of the loop devices' counters
SECTOR = 512
PUBLISH = ROOT / "image-tools" / "publish"
MAKE_LIVEIMG = ROOT / "image-tools" / "make-liveimg"
TOOLS = ("strace", "curl", "mksquashfs", "unsquashfs", "gpg", "gpgv", "mount", "umount", "e2image", "debugfs")
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
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

_PREFIX = re.compile(r"(\d+)\s+(.*)")
_CALL = re.compile(r"(\w+)\((.*)")
_RESUMED = re.compile(r"<\.\.\. (\w+) resumed>(.*)")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)")
_FD = re.compile(r"(?<![\w<])\d+<(.*?)>(?=,|\))")
_UNFINISHED = "<unfinished ...>"


@dataclass(frozen=True)
class PayloadSize:
    """The rootfs inside the squashfs: its filesystem size and what realistic_tree puts in it."""

    fs_size: str
    random_mib: int
    text_mib: int
    small_files: int

    def describe(self) -> str:
        """One line for the report."""
        return (f"{self.fs_size} ext4 of {self.random_mib} MiB random + {self.text_mib} MiB text files and "
                f"{self.small_files} small ones")


FULL = PayloadSize("2G", 192, 192, 2000)  # benchmark 2's payload
HALF = PayloadSize("1G", 96, 96, 1000)


def payload_for(virt: str | None) -> PayloadSize:
    """Benchmark 2's payload, or half of it under TCG (systemd-detect-virt says qemu) or when unknown."""
    return HALF if virt in (None, "", "qemu") else FULL


# --- pure parsers: strace -f -yy logs and loop device counters ----------------------------------

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


# --- the channel --------------------------------------------------------------------------------

def tool_env() -> dict[str, str]:
    """The environment for the repository's image-tools: the package importable from the checkout."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def without_proxies(env: dict[str, str]) -> dict[str, str]:
    """env without the proxy variables (either case): the channel is on 127.0.0.1, never behind a proxy."""
    return {k: v for k, v in env.items() if k.lower() not in PROXY_VARS}


def build_liveimg(rootfs: Path, out: Path) -> Path:
    """Pack rootfs as LiveOS/rootfs.img in the squashfs out with image-tools/make-liveimg (zstd)."""
    run([sys.executable, str(MAKE_LIVEIMG), str(rootfs), str(out)], env=tool_env(), cwd=ROOT)
    return out


def publish_channel(directory: Path, image: Path, fingerprint: str, gnupg_home: Path, version: str) -> None:
    """Turn directory (holding image) into a signed channel with image-tools/publish."""
    run([sys.executable, str(PUBLISH), str(directory), "--key", fingerprint, "--gnupg-home", str(gnupg_home),
         "--version", f"{image.name}={version}"], env=tool_env(), cwd=ROOT)


def image_gets(server: ChannelServer, name: str, since: int = 0) -> list[dict]:
    """The GETs of the file name that the server logged after its first since requests."""
    return [r for r in server.requests[since:] if r["method"] == "GET" and r["path"].endswith("/" + name)]


# --- the runs -----------------------------------------------------------------------------------

@dataclass
class Host:
    """The benchmark host: its CLI, configuration file, staging directory and the channel's server."""

    cli: Cli
    config: Path
    staging: Path
    server: ChannelServer

    def update_argv(self) -> list[str]:
        """The command line of `imgbase --config C update --json` (no IMAGE: the channel's newest)."""
        return self.cli.argv("--config", str(self.config), "update", "--json")

    def new_base(self, stdout: str) -> str:
        """The base an update made, from its --json output; an update that did nothing is an error."""
        out = json.loads(stdout)
        if not out.get("new_base"):
            raise BenchError(f"imgbase update made no new base: {out}")
        return out["new_base"]

    def undo(self, base: str) -> None:
        """Remove the update's base and layer and any staged download, so the next update downloads again."""
        self.cli("base", "--remove", base, "--force")
        if self.staging.is_dir():
            for path in self.staging.iterdir():
                path.unlink()


def check_downloaded(host: Host, since: int, size: int) -> None:
    """The server must have sent the whole image once since request number since."""
    deadline = time.monotonic() + 10  # the server logs a request after its last byte: wait a moment
    while not (gets := image_gets(host.server, LIVEIMG, since)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if [(g["status"], g["sent"]) for g in gets] != [(200, size)]:
        raise BenchError(f"expected one full GET of {LIVEIMG} ({size} bytes), the server logged {gets}")


def imgbase_round(host: Host, size: int) -> tuple[float, int, str]:
    """A: one cold `imgbase --config C update`; (wall seconds, pool growth, the new base)."""
    drop_caches()
    before, since = pool_used(VG), len(host.server.requests)
    seconds, proc = timed(host.update_argv(), env=host.cli.env, cwd=ROOT)
    grown = pool_used(VG) - before
    check_downloaded(host, since, size)
    progress(f"imgbase update from the channel: {fmt_seconds(seconds)}, pool +{fmt_mib(grown)}")
    return seconds, grown, host.new_base(proc.stdout)


def raw_round(url: str, work: Path, fs_size: int) -> dict[str, float]:
    """B: one cold curl of the squashfs, loop mount, lvcreate and dd conv=sparse of its rootfs.img."""
    drop_caches()
    work.mkdir(parents=True, exist_ok=True)
    file, mnt = work / LIVEIMG, work / "mnt"
    mnt.mkdir(exist_ok=True)
    before = pool_used(VG)
    found: dict[str, float] = {}
    start = time.perf_counter()
    found["curl"], _ = timed(["curl", "-s", "-f", "-o", str(file), url], env=without_proxies(dict(os.environ)))
    found["mount"], _ = timed(["mount", "-t", "squashfs", "-o", "loop,ro", str(file), str(mnt)])
    try:
        found["lvcreate"], _ = timed(["lvcreate", "-q", "--thin", "-V", f"{fs_size}b", "-n", "rawcopy",
                                      f"{VG}/pool00"])
        found["dd"], _ = timed(["dd", f"if={mnt}{LIVE_ROOTFS}", f"of=/dev/{VG}/rawcopy", f"bs={DD_BS}",
                                "conv=sparse,fsync", "status=none"])
    finally:
        found["umount"], _ = timed(["umount", str(mnt)])
    found["total"] = time.perf_counter() - start
    found["pool"] = pool_used(VG) - before
    run(["lvremove", "-q", "-f", f"{VG}/rawcopy"])
    shutil.rmtree(work)
    progress(f"curl + mount + lvcreate + dd conv=sparse + umount: {fmt_seconds(found['total'])}, "
             f"pool +{fmt_mib(found['pool'])}")
    return found


def _poll_loops(samples: list[dict[str, tuple[str | None, int]]], stop: threading.Event) -> None:
    """Sample the loop devices every LOOP_POLL seconds until stop is set."""
    while not stop.wait(LOOP_POLL):
        samples.append(sample_loops())


def strace_argv(log: Path, argv: list[str]) -> list[str]:
    """argv under strace -f -yy, logging every read call with its fd's target (and process births).

    --seccomp-bpf stops the tracee only at the traced calls (not at e2image's writes): a third less
    time under strace; a kernel without it makes strace warn and trace every call.
    """
    trace = "trace=" + ",".join(PROCESS_CALLS + READ_CALLS)
    return ["strace", "-f", "--seccomp-bpf", "-yy", "-s", "0", "-e", trace, "-e", "signal=none", "-o", str(log),
            *argv]


def traced_round(host: Host, log: Path, staged: str, size: int) -> dict:
    """C: `imgbase update` under strace with the loop devices sampled; bytes read by kind, and its time."""
    drop_caches()
    since = len(host.server.requests)
    samples = [sample_loops()]
    stop = threading.Event()
    poller = threading.Thread(target=_poll_loops, args=(samples, stop), daemon=True)
    poller.start()
    try:
        seconds, proc = timed(strace_argv(log, host.update_argv()), env=host.cli.env, cwd=ROOT)
    finally:
        stop.set()
        poller.join()
    samples.append(sample_loops())
    check_downloaded(host, since, size)
    base = host.new_base(proc.stdout)
    progress(f"imgbase update under strace (not timed): {fmt_seconds(seconds)}, log {fmt_mib(log.stat().st_size)}")
    found = classify(parse_strace(log.read_text(errors="replace")), staged, host.server.http.port)
    log.unlink()
    return {"seconds": seconds, "base": base, "reads": found, "loops": classify_loops(loop_reads(samples), staged),
            "samples": len(samples)}


def make_host(env: BenchEnv, top: Path, server: ChannelServer, trusted: Path) -> Host:
    """A host on VG that trusts the channel's key and follows it, its staging directory on the scratch disk."""
    work = env.work / "update-url"
    cli = Cli(work, VG, env.pycache)
    (work / "hooks").mkdir()
    cli.env = without_proxies(cli.env)
    cli.env.update({"IMGBASED_STATE_DIR": str(top / "state"), "IMGBASED_TRUSTED_DIR": str(trusted),
                    "IMGBASED_HOOKS_DIRS": str(work / "hooks")})
    config = work / "imgbased.conf"
    config.write_text(f"[update]\nchannel = {server.url}/\n")
    return Host(cli, config, Path(os.path.realpath(top / "state" / "images")), server)


def setup_v1(host: Host, top: Path, pv: str) -> float:
    """The VG and pool, a v1 base from a small tree and its layer; return the time it took."""
    start = time.perf_counter()
    host.cli.init(pv, POOL_SIZE)
    _, out = host.cli.json("base", "--add", str(small_tree(top)))
    host.cli("layer", "--add", "--base", out["base"])
    return time.perf_counter() - start


def build_channel(top: Path, fingerprint: str, gnupg_home: Path, payload: PayloadSize) -> dict:
    """The rootfs, its liveimg in top/channel, published; the sizes and build times."""
    start = time.perf_counter()
    tree = realistic_tree(top, payload.random_mib, payload.text_mib, payload.small_files)
    rootfs = make_ext4(tree, top / "rootfs.img", payload.fs_size)
    fs_size, fs_used = ext4_used(rootfs)
    channel = top / "channel"
    channel.mkdir()
    liveimg = build_liveimg(rootfs, channel / LIVEIMG)
    built = time.perf_counter() - start
    start = time.perf_counter()
    publish_channel(channel, liveimg, fingerprint, gnupg_home, VERSION)
    return {"fs_size": fs_size, "fs_used": fs_used, "size": liveimg.stat().st_size, "build": built,
            "publish": time.perf_counter() - start, "payload": payload.describe()}


def run_bench(env: BenchEnv) -> Section:
    """Run benchmark 5 and return its printed section."""
    if str(ROOT / "image-tools") not in sys.path:  # as tests/conftest.py: gpgkeys may use the lab's helpers
        sys.path.insert(0, str(ROOT / "image-tools"))
    from tests import gpgkeys  # here, not at import: it imports pytest, which run_all needs nowhere else

    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise BenchError(f"benchmark 5 needs {', '.join(missing)}: install strace, curl, squashfs-tools and gnupg")
    top = env.disk.scratch / "update-url"
    top.mkdir()
    virt = detect_virt()
    payload = payload_for(virt)
    key = gpgkeys.make_key(env.work / "update-url-gnupg")
    try:
        progress(f"building a realistic tree, a {payload.fs_size} ext4 image, its liveimg squashfs; publishing it")
        info = build_channel(top, key.fingerprint, key.home, payload)
        info["virt"] = virt
        trusted = gpgkeys.install(top / "trusted.d", key)
        with ChannelServer(top / "channel") as server:
            host = make_host(env, top, server, trusted)
            try:
                info["setup"] = setup_v1(host, top, env.disk.pv)
                found = _measure(host, top, info)
            finally:
                remove_vg(VG, env.disk.pv)
    finally:
        key.stop()
    return _section(found, info)


def _measure(host: Host, top: Path, info: dict) -> dict:
    """A, then B, then (A's base removed) the traced run C."""
    seconds, grown, base = imgbase_round(host, info["size"])
    raw = raw_round(f"{host.server.url}/{LIVEIMG}", top / "raw", info["fs_size"])
    host.undo(base)
    progress("imgbase update again under strace -f, for the read counts")
    traced = traced_round(host, top / "strace.log", str(host.staging / LIVEIMG), info["size"])
    return {"imgbase": seconds, "imgbase_pool": grown, "raw": raw, "traced": traced}


# --- the report ---------------------------------------------------------------------------------

def _section(found: dict, info: dict) -> Section:
    """Benchmark 5's section: the two timed runs and their ratio, then the read counts."""
    section = Section("5. imgbase update from a signed channel against curl + dd conv=sparse")
    section.note(
        f"Image: {LIVEIMG}, a {fmt_mib(info['size'])} liveimg squashfs (zstd) holding LiveOS/rootfs.img, "
        f"a {fmt_mib(info['fs_size'])} ext4 filesystem with {fmt_mib(info['fs_used'])} used "
        f"({info['payload']}: {_payload_why(info['virt'])}); built in {fmt_seconds(info['build'])}, "
        f"published as version {VERSION} (image-tools/publish, an ed25519 test key) in "
        f"{fmt_seconds(info['publish'])}, served over http by tests/channel_server.py on 127.0.0.1 inside "
        f"the VM. The host ({fmt_seconds(info['setup'])} to set up): {VG} with a {POOL_SIZE} pool, a v1 "
        "base from a small tree and its layer; signature policy required (the key in IMGBASED_TRUSTED_DIR), "
        "staging on the scratch disk, --no-bootloader. One run of each, each after a dropped page cache.")
    _time_table(section, found)
    _read_table(section, found["traced"], info)
    return section


def _payload_why(virt: str | None) -> str:
    """Why the payload has its size."""
    if payload_for(virt) == FULL:
        return f"benchmark 2's payload; systemd-detect-virt: {virt}"
    return f"half of benchmark 2's, as systemd-detect-virt says {virt or 'nothing'} (TCG is slow)"


def _time_table(section: Section, found: dict) -> None:
    """The timed runs A and B, their parts, the pool growth and the ratios."""
    raw, a = found["raw"], found["imgbase"]
    rows = [["A  imgbase --config C update", fmt_seconds(a), fmt_mib(found["imgbase_pool"])],
            ["B  curl -s -f -o FILE URL", fmt_seconds(raw["curl"]), ""],
            ["B  mount -t squashfs -o loop,ro FILE", fmt_seconds(raw["mount"]), ""],
            ["B  lvcreate --thin -V <rootfs size>", fmt_seconds(raw["lvcreate"]), ""],
            [f"B  dd bs={DD_BS} conv=sparse,fsync of LiveOS/rootfs.img", fmt_seconds(raw["dd"]), ""],
            ["B  umount", fmt_seconds(raw["umount"]), ""],
            ["B  total, wall time from curl to umount", fmt_seconds(raw["total"]), fmt_mib(raw["pool"])]]
    core = raw["curl"] + raw["lvcreate"] + raw["dd"]
    vs_total, vs_core = ratio(a, raw["total"]), ratio(a, core)
    rows += [["A / B total", fmt_ratio(vs_total), ""], ["A / (curl + lvcreate + dd)", fmt_ratio(vs_core), ""]]
    section.table(["run (timed, one each)", "time", "pool growth"], rows)
    section.note(
        "A: the whole update as an operator runs it: channel index.json + .sig (gpgv), the image's .sig, the "
        "download into the staging directory with sha256 and gpgv fed the same chunks (then fsync), the "
        "squashfs mounted, debugfs for the identity, a read-only look at /etc of both sides, lvcreate + "
        "e2image -ra of LiveOS/rootfs.img, sealing, the layer (snapshot, e2fsck, new UUID), /etc carried "
        "over, gc. B: the same bytes over the same http server with no verification: curl writes the "
        "file (no fsync), dd conv=sparse skips the rootfs's zero blocks as e2image skips its free ones, "
        "fsync at the end. The pool column is the pool's used bytes after minus before (lvs data_percent).")
    section.goals.append(Goal("update from a channel / (curl + mount + lvcreate + dd + umount)", vs_total, None))


def _read_table(section: Section, traced: dict, info: dict) -> None:
    """The bytes read during the traced run, per kind and program, against the image or the rootfs."""
    reads, loops, size, used = traced["reads"], traced["loops"], info["size"], info["fs_used"]
    rows = []
    for kind in (NETWORK, STAGED, GPGV_PIPE, ROOTFS):
        programs = sorted((p, n) for (k, p), n in reads.items() if k == kind) or [("-", 0)]
        rows += [_read_row(kind, p, n, size, used if kind == ROOTFS else None) for p, n in programs]
    rows += [_read_row(LOOP_STAGED, "kernel", loops[LOOP_STAGED], size),
             _read_row(LOOP_ROOTFS, "kernel", loops[LOOP_ROOTFS], size, used)]
    net, staged = by_kind(reads, NETWORK), by_kind(reads, STAGED) + loops[LOOP_STAGED]
    total = net + staged
    rows += [_read_row("image bytes read from the network", "", net, size),
             _read_row("image bytes read from the staged file (calls + loop)", "", staged, size),
             _read_row("image bytes read in all (network + staged file)", "", total, size)]
    section.table(["bytes read during an update", "by", "bytes", "x image", "x rootfs used"], rows,
                  f"run C, a third run, not timed: imgbase update again (A's base and layer removed, staging "
                  f"emptied) under strace -f -yy, which slows every call: it took "
                  f"{fmt_seconds(traced['seconds'])}; loop devices sampled {traced['samples']} times")
    section.goals.append(Goal("reads of the image's bytes during an update (x image size)", ratio(total, size), None))
    section.note(_read_notes(reads, size))


def _read_row(what: str, by: str, count: int, size: int, used: int | None = None) -> list[str]:
    """One row of the read table: bytes against the squashfs, or (rootfs reads) against the rootfs's used bytes."""
    if used is not None:
        return [what, by, fmt_mib(count), "", fmt_ratio(ratio(count, used))]
    return [what, by, fmt_mib(count), fmt_ratio(ratio(count, size)), ""]


def _read_notes(reads: dict[tuple[str, str], int], size: int) -> str:
    """What each read figure is, and what strace could not map."""
    notes = [
        f"x image: bytes / the squashfs's {fmt_mib(size)}; x rootfs used: bytes / the rootfs's used bytes. "
        "Network: bytes returned by recvfrom/read on TCP sockets to the server's port (index, signatures "
        "and HTTP headers included: a few KiB). Staged squashfs, read calls: read/pread64 by any process on "
        "the staged file (such as the header checks). gpgv's stdin: the download's chunks passed to gpgv through a "
        "pipe (a copy in memory, not a read of storage; not in the totals). LiveOS/rootfs.img: the "
        "decompressed filesystem read through the squashfs mount by each program (e2image copies the "
        "used blocks; debugfs reads os-release); it is the image's bytes decompressed, so it is not in "
        "the totals either.",
        "The kernel reads the staged file too: the squashfs is mounted over a loop device, whose reads "
        "strace cannot see; they are /sys/block/loopN/stat sectors read, attributed by "
        f"loop/backing_file and sampled every {LOOP_POLL:.2f} s (a device rebound between two samples would "
        "be misattributed). A loop device on LiveOS/rootfs.img (the ext4 mount for the /etc preview) reads "
        "through the squashfs, so its bytes are also in the squashfs's loop figure; it is shown apart."]
    if not any(kind == ROOTFS and program == "e2image" for kind, program in reads):
        notes.append("strace showed no read of LiveOS/rootfs.img by e2image: its copy could not be mapped to a "
                     "file descriptor, so the rootfs rows lack it; the loop figure still counts its reads.")
    return "\n".join(notes)
