# SPDX-License-Identifier: GPL-2.0-or-later
"""Build small test payloads (ext4 image, liveimg, tarball, directory) and run imgbase."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Payloads:
    """Paths of the payload variants built from one tree."""

    tree: Path
    ext4: Path
    liveimg: Path
    tarball: Path
    truncated: Path
    not_liveimg: Path
    ext4_sha256: str


PASSWD_V1 = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP_V1 = "root:x:0:\ndaemon:x:1:\n"


def make_tree(top: Path, version: str = "1") -> Path:
    """A tiny root filesystem with an identity, a fake kernel, accounts and a factory /etc.

    Version 2 differs from 1 in a known way: motd and app.conf have new defaults,
    etc/new-in-v2 is added and a system user newsvc exists.
    """
    tree = top / f"tree-v{version}"
    for d in ("usr/lib", "etc/app.d", "boot", "var/lib"):
        (tree / d).mkdir(parents=True)
    (tree / "usr/lib/os-release").write_text(
        f'ID=debian\nVERSION_ID="12"\nIMAGE_ID=imgtest\nIMAGE_VERSION={version}\n')
    (tree / "boot/vmlinuz-6.1.0-test").write_bytes(b"fake kernel " + version.encode() * 4096)
    (tree / "boot/initrd.img-6.1.0-test").write_bytes(b"fake initrd " + version.encode() * 4096)
    (tree / "etc/hostname").write_text("imgtest\n")
    (tree / "etc/motd").write_text(f"payload version {version}\n")
    (tree / "etc/app.conf").write_text(f"setting={version}\n")
    (tree / "etc/app.d/keep.conf").write_text("keep=yes\n")
    (tree / "etc/deleteme").write_text("delete me locally\n")
    passwd, group = PASSWD_V1, GROUP_V1
    if version != "1":
        (tree / "etc/new-in-v2").write_text("added in v2\n")
        passwd += "newsvc:x:998:998:new service:/nonexistent:/usr/sbin/nologin\n"
        group += "newsvc:x:998:\n"
    (tree / "etc/passwd").write_text(passwd)
    (tree / "etc/group").write_text(group)
    (tree / "etc/shadow").write_text("".join(f"{ln.split(':')[0]}:*:19000:0:99999:7:::\n"
                                             for ln in passwd.splitlines()))
    (tree / "etc/shadow").chmod(0o640)
    (tree / "usr/share/factory").mkdir(parents=True)
    subprocess.run(["cp", "-a", str(tree / "etc"), str(tree / "usr/share/factory/etc")], check=True)
    (tree / "usr/bin").mkdir()
    (tree / "usr/bin/blob").write_bytes(os.urandom(3 << 20))
    return tree


def build_payloads(top: Path, version: str = "1", fs_size: str = "192M") -> Payloads:
    """Build every payload kind from one tree under top."""
    tree = make_tree(top, version)
    ext4 = top / f"rootfs-v{version}.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(tree), str(ext4), fs_size], check=True)
    live = top / f"live-v{version}"
    (live / "LiveOS").mkdir(parents=True)
    subprocess.run(["cp", "--sparse=always", str(ext4), str(live / "LiveOS/rootfs.img")], check=True)
    liveimg = top / f"live-v{version}.squashfs"
    subprocess.run(["mksquashfs", str(live), str(liveimg), "-quiet", "-noappend", "-comp", "gzip"], check=True)
    tarball = top / f"rootfs-v{version}.tar.gz"
    subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "-czf", str(tarball), "."], check=True)
    truncated = top / f"truncated-v{version}.squashfs"
    data = liveimg.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    other = top / "other"
    (other / "stuff").mkdir(parents=True)
    (other / "stuff/file").write_text("not a live image\n")
    not_liveimg = top / f"not-live-v{version}.squashfs"
    subprocess.run(["mksquashfs", str(other), str(not_liveimg), "-quiet", "-noappend"], check=True)
    digest = hashlib.sha256(ext4.read_bytes()).hexdigest()
    return Payloads(tree, ext4, liveimg, tarball, truncated, not_liveimg, digest)


_SHARED: dict[tuple[str, str], Payloads] = {}


def shared_payloads(tmp_path_factory, version: str = "1", fs_size: str = "192M") -> Payloads:
    """The payloads of version, built once per test session (tests read them and never change them)."""
    key = (version, fs_size)
    if key not in _SHARED:
        _SHARED[key] = build_payloads(tmp_path_factory.getbasetemp() / f"payloads-v{version}-{fs_size}", version,
                                      fs_size)
    return _SHARED[key]


class Imgbase:
    """Run the real imgbase CLI with test-local state paths.

    Calls run cli.main() in this process with the environment, stdout and stderr swapped in:
    under TCG a new Python costs 1-2 s per call.  Calls that must be a separate process (the
    crash tests kill it) pass process=True; so does any call while IMGBASED_FAULT_STEP is set.
    """

    def __init__(self, work: Path, vg: str, boot_dir: Path | None = None, bootloader: bool = False) -> None:
        """Keep lock, journal and run directories under work."""
        self.vg = vg
        self.boot_dir = boot_dir or work / "boot"
        self.boot_dir.mkdir(parents=True, exist_ok=True)
        self.bootloader = bootloader
        self.env = {**os.environ, "IMGBASED_LOCK": str(work / "imgbased.lock"),
                    "IMGBASED_STATE_DIR": str(work / "state"), "IMGBASED_RUN_DIR": str(work / "run"),
                    "IMGBASED_LOCK_WAIT": "1", "IMGBASED_CMDLINE": str(work / "cmdline"),
                    "PYTHONPATH": str(ROOT)}
        self.cmdline = work / "cmdline"
        self.cmdline.write_text("console=ttyS0\n")

    def __call__(self, *args: str, check: bool = True, vg: bool = True,
                 process: bool = False) -> subprocess.CompletedProcess:
        """Run imgbase with args; with check, fail the test on a non-zero exit."""
        argv = ["--boot-dir", str(self.boot_dir)]
        if not self.bootloader:
            argv.append("--no-bootloader")
        if vg:
            argv.append(f"--vg={self.vg}")
        argv += args
        if process or "IMGBASED_FAULT_STEP" in self.env:
            # -S: no site-packages; the library needs only the standard library.
            proc = subprocess.run([sys.executable, "-S", "-m", "org_ovirt_imgbased", *argv],
                                  capture_output=True, text=True, env=self.env, cwd=ROOT)
        else:
            proc = self._in_process(argv)
        if check and proc.returncode != 0:
            raise AssertionError(f"imgbase {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def _in_process(self, argv: list[str]) -> subprocess.CompletedProcess:
        """cli.main(argv) here, with this tool's environment and captured output."""
        from org_ovirt_imgbased import cli

        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = cli.main(argv)
                except SystemExit as exc:  # argparse usage errors
                    rc = exc.code if isinstance(exc.code, int) else 2
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return subprocess.CompletedProcess(["imgbase", *argv], rc, out.getvalue(), err.getvalue())

    def boot_into(self, layer: str) -> None:
        """Pretend the running system booted layer (img.bootid on the command line)."""
        self.cmdline.write_text(f"console=ttyS0 img.bootid={layer}\n")


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert proc failed with exactly one `imgbase: error:` line and no traceback; return it."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("imgbase: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]
