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
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.channel_setup import build_liveimg, image_gets, publish_channel, without_proxies
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
from tests.bench.payload import (
    PayloadSize,
    ext4_used,
    make_ext4,
    payload_for,
    payload_why,
    realistic_tree,
    small_tree,
)
from tests.bench.readcount import (
    GPGV_PIPE,
    LIVE_ROOTFS,
    LOOP_ROOTFS,
    LOOP_STAGED,
    NETWORK,
    PROCESS_CALLS,
    READ_CALLS,
    ROOTFS,
    STAGED,
    by_kind,
    classify,
    classify_loops,
    loop_reads,
    parse_strace,
    sample_loops,
)
from tests.bench.report import Goal, Section, fmt_mib, fmt_ratio, fmt_seconds, ratio
from tests.channel_server import ChannelServer

VG = "imgbench5"
POOL_SIZE = "8G"
LIVEIMG = "imgbench-v2.squashfs"
VERSION = "2"
DD_BS = "1M"
LOOP_POLL = 0.05  # seconds between two samples of the loop devices' counters
TOOLS = ("strace", "curl", "mksquashfs", "unsquashfs", "gpg", "gpgv", "mount", "umount", "e2image", "debugfs")


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
        f"({info['payload']}: {payload_why(info['virt'])}); built in {fmt_seconds(info['build'])}, "
        f"published as version {VERSION} (image-tools/publish, an ed25519 test key) in "
        f"{fmt_seconds(info['publish'])}, served over http by tests/channel_server.py on 127.0.0.1 inside "
        f"the VM. The host ({fmt_seconds(info['setup'])} to set up): {VG} with a {POOL_SIZE} pool, a v1 "
        "base from a small tree and its layer; signature policy required (the key in IMGBASED_TRUSTED_DIR), "
        "staging on the scratch disk, --no-bootloader. One run of each, each after a dropped page cache.")
    _time_table(section, found)
    _read_table(section, found["traced"], info)
    return section


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
