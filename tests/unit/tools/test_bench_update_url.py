# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark 5's host-testable parts: the strace and loop-counter parsers, the channel, the report."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from org_ovirt_imgbased.host import channel, signature
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.bench import bench_update_url as bench
from tests.bench import payload, readcount, run_all
from tests.bench.machine import BenchError
from tests.bench.report import MIB
from tests.channel_server import ChannelServer

publisher = gpgkeys.publisher

STAGED = "/s/images/imgbench-v2.squashfs"
ROOTFS = "/run/imgbased/mnt-x/LiveOS/rootfs.img"
LOG = f"""\
100 execve("/venv/bin/python", [...], 0x7ffd /* 30 vars */) = 0
100 read(3</venv/lib/python3.11/os.py>, ""..., 4096) = 4096
100 clone3({{flags=CLONE_VM|CLONE_THREAD, child_tid=0x1}} => {{parent_tid=[101]}}, 88) = 101
100 recvfrom(5<TCP:[127.0.0.1:40000->127.0.0.1:8080]>, ""..., 8192, 0, NULL, NULL) = 300
100 recvfrom(5<TCP:[127.0.0.1:40000->127.0.0.1:8080]>,  <unfinished ...>
101 read(7<{STAGED}>, ""..., 8192) = 4096
100 <... recvfrom resumed>""..., 1048576, 0, NULL, NULL) = 65536
100 recvfrom(6<TCP:[127.0.0.1:40002->127.0.0.1:9999]>, ""..., 8192, 0, NULL, NULL) = 999
100 recvfrom(5<TCP:[127.0.0.1:40000->127.0.0.1:8080]>, ""..., 8192, 0, NULL, NULL) = -1 EAGAIN (Resource unavailable)
100 vfork( <unfinished ...>
102 execve("/usr/local/bin/gpgv", [...], 0x1 /* 3 vars */) = -1 ENOENT (No such file or directory)
102 execve("/usr/bin/gpgv", [...], 0x1 /* 3 vars */ <unfinished ...>
100 <... vfork resumed>)              = 102
102 <... execve resumed>)             = 0
102 read(0<pipe:[555]>, ""..., 32768) = 32768
102 read(0<pipe:[555]>, "", 32768) = 0
100 read(8<pipe:[556]>, ""..., 50000) = 120
103 execve("/usr/sbin/e2image", [...], 0x1 /* 3 vars */) = 0
103 pread64(3<{ROOTFS}>, ""..., 4096, 1024) = 4096
103 pread64(3<{ROOTFS}>, ""..., 4096, 8192) = 4096
103 pread64(4</dev/dm-3<block 253:3>>, ""..., 4096, 0) = 4096
104 execve("/usr/bin/cat", [...], 0x1 /* 3 vars */) = 0
104 sendfile(1</dev/null>, 3<{STAGED}>, NULL, 1000) = 1000
104 +++ exited with 0 +++
100 --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=104}} ---
"""


def test_unfinished_and_resumed_halves_are_joined():
    """A call split by another process's line is one call, with the result of its second half."""
    calls = list(readcount.strace_calls(LOG))
    vfork = next(c for c in calls if c.name == "vfork")
    assert (vfork.pid, vfork.result) == (100, 102)
    resumed = [c for c in calls if c.name == "recvfrom" and c.result == 65536]
    assert len(resumed) == 1 and resumed[0].args.startswith("5<TCP:[127.0.0.1:40000->127.0.0.1:8080]>,")
    assert [c.result for c in calls if c.name == "execve" and c.pid == 102] == [-1, 0]
    assert not any(c.name.startswith("+") or "SIGCHLD" in c.args for c in calls)


def test_fd_targets_handle_sockets_devices_and_several_fds():
    """-yy targets may hold '->' and nested <...>; sendfile names two fds."""
    assert readcount.fd_targets("5<TCP:[127.0.0.1:1->127.0.0.1:2]>, \"\"..., 8192) = 3") == \
        ["TCP:[127.0.0.1:1->127.0.0.1:2]"]
    assert readcount.fd_targets("4</dev/dm-3<block 253:3>>, \"\"..., 4096, 0) = 4096") == ["/dev/dm-3<block 253:3>"]
    assert readcount.fd_targets(f"1</dev/null>, 3<{STAGED}>, NULL, 1000) = 1000") == ["/dev/null", STAGED]


def test_parse_strace_sums_reads_per_process_and_knows_programs():
    """Bytes per (pid, target); threads and children inherit the program until their own execve."""
    reads = bench.parse_strace(LOG)
    assert reads.by_pid[(100, "TCP:[127.0.0.1:40000->127.0.0.1:8080]")] == 300 + 65536
    assert reads.by_pid[(101, STAGED)] == 4096
    assert reads.by_pid[(104, STAGED)] == 1000  # sendfile reads its second fd
    assert (104, "/dev/null") not in reads.by_pid
    assert [reads.program(p) for p in (100, 101, 102, 103, 104, 999)] == \
        ["python", "python", "gpgv", "e2image", "cat", "?"]


def test_classify_keeps_the_image_kinds_only():
    """The server's socket, the staged file, the rootfs in the mount and gpgv's pipe; nothing else."""
    found = bench.classify(bench.parse_strace(LOG), STAGED, 8080)
    assert found == {(bench.NETWORK, "python"): 300 + 65536, (bench.STAGED, "python"): 4096,
                     (bench.STAGED, "cat"): 1000, (bench.GPGV_PIPE, "gpgv"): 32768,
                     (bench.ROOTFS, "e2image"): 8192}
    assert bench.by_kind(found, bench.STAGED) == 5096
    assert bench.by_kind(found, bench.NETWORK) == 65836


def test_loop_reads_from_samples():
    """Baseline from the first sample, new devices count from 0, resets, reads of a device unbound meanwhile."""
    live = "/m/LiveOS/rootfs.img"
    samples = [{"loop0": (None, 1000), "loop1": ("/old", 500)},
               {"loop0": (STAGED, 1000 + 4096), "loop1": ("/old", 500), "loop2": (live, 2048)},
               {"loop0": (STAGED, 1000 + 4096 + 8192), "loop2": (None, 4096)},
               {"loop0": ("/other", 100)}]
    assert bench.loop_reads(samples) == {STAGED: 12288, live: 4096, "/other": 100}
    assert bench.classify_loops(bench.loop_reads(samples), STAGED) == {bench.LOOP_STAGED: 12288,
                                                                       bench.LOOP_ROOTFS: 4096}
    assert bench.loop_reads([]) == {}


def test_sample_loops_reads_stat_and_backing_file(tmp_path):
    """Sectors read x 512, the backing file without ' (deleted)', None when unbound; other disks ignored."""
    for name, sectors in (("loop0", 24), ("loop1", 0), ("vda", 99)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "stat").write_text(f"      10        0 {sectors:8d}        5    0 0 0 0 0 5 5\n")
    (tmp_path / "loop0" / "loop").mkdir()
    (tmp_path / "loop0" / "loop" / "backing_file").write_text(f"{STAGED} (deleted)\n")
    assert bench.sample_loops(tmp_path) == {"loop0": (STAGED, 24 * 512), "loop1": (None, 0)}
    with pytest.raises(BenchError):
        readcount.loop_stat_bytes("garbage")


def test_proxies_are_dropped_and_strace_logs_reads_with_paths():
    """The channel is local: no proxy variable survives; strace follows children and prints fd targets."""
    env = {"PATH": "/bin", "http_proxy": "x", "HTTPS_PROXY": "x", "No_Proxy": "x", "ALL_PROXY": "x"}
    assert bench.without_proxies(env) == {"PATH": "/bin"}
    argv = bench.strace_argv(Path("/l"), ["imgbase", "update"])
    assert argv[:4] == ["strace", "-f", "--seccomp-bpf", "-yy"] and argv[-2:] == ["imgbase", "update"]
    trace = argv[argv.index("-e") + 1]
    assert trace.startswith("trace=execve,") and "recvfrom" in trace and "pread64" in trace


def test_new_base_refuses_an_update_that_did_nothing_and_undo_empties_staging(tmp_path):
    """An 'up to date' answer is an error; undo removes the base and every staged file."""
    calls = []
    staging = tmp_path / "images"
    staging.mkdir()
    (staging / "imgbench-v2.squashfs").write_bytes(b"x")
    host = bench.Host(lambda *args: calls.append(args), tmp_path / "c", staging, None)
    assert host.new_base('{"new_base": "Base-1", "new_layer": "Base-1.1"}') == "Base-1"
    with pytest.raises(BenchError, match="made no new base"):
        host.new_base('{"up_to_date": true, "note": "up to date"}')
    host.undo("Base-1")
    assert calls == [("base", "--remove", "Base-1", "--force")] and list(staging.iterdir()) == []


def test_payload_is_halved_under_tcg_or_when_unknown():
    """KVM or bare metal get benchmark 2's payload; qemu (TCG) or no answer half of it."""
    assert payload.payload_for("kvm") == payload.payload_for("none") == payload.FULL
    assert payload.payload_for("qemu") == payload.payload_for(None) == payload.HALF
    assert payload.FULL.describe() == "2G ext4 of 192 MiB random + 192 MiB text files and 2000 small ones"


def test_run_all_lists_the_benchmark():
    """run_all --only accepts update-url."""
    assert run_all.BENCHES["update-url"] is bench.run_bench
    assert run_all.parse_args(["--only", "update-url"]).only == ["update-url"]


def _get(url: str) -> bytes:
    """The body of an http GET."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=30) as response:
        return response.read()


def test_published_channel_is_served_and_verifies(tmp_path, publisher):
    """image-tools/publish + ChannelServer: the index lists the image as version 2; bytes and signature match."""
    directory = tmp_path / "channel"
    directory.mkdir()
    image = directory / bench.LIVEIMG
    image.write_bytes(os.urandom(300_000))
    bench.publish_channel(directory, image, publisher.fingerprint, publisher.home, bench.VERSION)
    with ChannelServer(directory) as server:
        index = channel.parse_index(_get(f"{server.url}/index.json").decode(), f"{server.url}/index.json")
        data = _get(f"{server.url}/{bench.LIVEIMG}")
        server.wait_for_requests(2)
        gets = bench.image_gets(server, bench.LIVEIMG)
    entry = channel.newest(index)
    assert (entry.name, entry.version, entry.size) == (bench.LIVEIMG, "2", image.stat().st_size)
    assert data == image.read_bytes() and entry.sha256 == hashlib.sha256(data).hexdigest()
    assert [(g["status"], g["sent"]) for g in gets] == [(200, len(data))]
    trust = signature.load_trust(directory=gpgkeys.install(tmp_path / "trusted.d", publisher))
    assert signature.verify_file(Runner(), trust, image, Path(f"{image}.sig"), image.name) == publisher.fingerprint


CLIENT = """\
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1], timeout=30) as r:
    while r.read(1 << 20):
        pass
with open(sys.argv[2], "rb") as f:
    while f.read(65536):
        pass
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_real_strace_log_maps_the_socket_and_the_file(tmp_path):
    """This machine's strace prints what the parser expects: a download and a file read, counted once each."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "blob").write_bytes(os.urandom(700_000))
    local = tmp_path / "local.img"
    local.write_bytes(os.urandom(300_000))
    log = tmp_path / "strace.log"
    with ChannelServer(served) as server:
        argv = bench.strace_argv(log, [sys.executable, "-c", CLIENT, f"{server.url}/blob", str(local)])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and ("ptrace" in proc.stderr or "Operation not permitted" in proc.stderr):
            pytest.skip(f"strace cannot trace here: {proc.stderr.strip()[:200]}")
        assert proc.returncode == 0, proc.stderr
        port = server.http.port
    found = bench.classify(bench.parse_strace(log.read_text()), os.path.realpath(local), port)
    program = os.path.basename(sys.executable)
    assert 700_000 < found[(bench.NETWORK, program)] < 700_000 + 4096  # the body and the response headers
    assert found[(bench.STAGED, program)] == 300_000


def _report_inputs(with_e2image: bool = True) -> tuple[dict, dict]:
    """Figures of a plausible run, for the report."""
    reads = {(bench.NETWORK, "python3"): 250 * MIB + 3000, (bench.STAGED, "python3"): 8192,
             (bench.GPGV_PIPE, "gpgv"): 250 * MIB, (bench.ROOTFS, "debugfs"): 64 * 1024}
    if with_e2image:
        reads[(bench.ROOTFS, "e2image")] = 390 * MIB
    raw = {"curl": 3.0, "mount": 0.2, "lvcreate": 0.5, "dd": 9.0, "umount": 0.1, "total": 12.8, "pool": 390 * MIB}
    traced = {"seconds": 70.0, "base": "Base-2", "reads": reads, "samples": 900,
              "loops": {bench.LOOP_STAGED: 240 * MIB, bench.LOOP_ROOTFS: 2 * MIB}}
    found = {"imgbase": 25.6, "imgbase_pool": 392 * MIB, "raw": raw, "traced": traced}
    info = {"size": 250 * MIB, "fs_size": 2048 * MIB, "fs_used": 400 * MIB, "build": 50.0, "publish": 6.0,
            "setup": 9.0, "payload": payload.FULL.describe(), "virt": "kvm"}
    return found, info


def test_report_shows_times_ratios_and_reads():
    """The section carries A, B's parts, A/B, the read rows and totals, and two informational goals."""
    section = bench._section(*_report_inputs())
    text = section.render()
    assert "A / B total" in text and "2.00x" in text  # 25.6 / 12.8
    for label in (bench.NETWORK, bench.STAGED, bench.GPGV_PIPE, bench.ROOTFS, bench.LOOP_STAGED,
                  "image bytes read in all (network + staged file)", "not timed"):
        assert label in text
    assert "could not be mapped" not in text
    assert [g.verdict() for g in section.goals] == ["info", "info"]
    assert section.goals[0].value == pytest.approx(2.0)
    assert section.goals[1].value == pytest.approx((250 * MIB + 3000 + 8192 + 240 * MIB) / (250 * MIB))


def test_report_says_when_e2image_reads_were_not_mapped():
    """Without an e2image row the note says its copy could not be mapped."""
    assert "could not be mapped" in bench._section(*_report_inputs(with_e2image=False)).render()
