# SPDX-License-Identifier: GPL-2.0-or-later
"""tar payloads: device nodes and stray setuid/setgid files are refused; a failing tar says why in one line."""

from __future__ import annotations

import io
import tarfile

import pytest

from org_ovirt_imgbased.errors import CommandError, ImgbaseError
from org_ovirt_imgbased.host import image
from org_ovirt_imgbased.runner import Result
from tests.fakes import FakeRunner

OS_RELEASE = b"ID=debian\nVERSION_ID=12\n"


def tarball(path, *extra: tarfile.TarInfo):
    """A small OS tree tarball (os-release, a setuid /usr/bin/su, a setgid directory) plus extra members."""
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./usr/lib/os-release")
        info.size = len(OS_RELEASE)
        tar.addfile(info, io.BytesIO(OS_RELEASE))
        su = tarfile.TarInfo("./usr/bin/su")
        su.mode = 0o4755
        tar.addfile(su, io.BytesIO(b""))
        journal = tarfile.TarInfo("./var/log/journal")
        journal.type, journal.mode = tarfile.DIRTYPE, 0o2755
        tar.addfile(journal)
        for member in extra:
            tar.addfile(member, io.BytesIO(b"") if member.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    """A tar member of the given type and mode."""
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 8, 0
    return info


def opened(path):
    """Enter open_image and return the payload."""
    with image.open_image(FakeRunner(), path) as payload:
        return payload


def test_an_ordinary_os_tree_is_accepted(tmp_path):
    """setuid programs under /usr/bin and setgid directories are what OS images hold: accepted."""
    payload = opened(tarball(tmp_path / "ok.tar"))
    assert payload.kind == "tar" and payload.identity == "debian-12"


@pytest.mark.parametrize("extra,words", [
    (member("./dev/sda", tarfile.BLKTYPE), "a block device node (8:0)"),
    (member("./etc/evil", tarfile.CHRTYPE), "a character device node (8:0)"),
    (member("./srv/rootshell", mode=0o4755), "a setuid file outside the usual places"),
    (member("./home/u/tool", mode=0o2755), "a setgid file outside the usual places"),
    (member("./usr/binx/tool", mode=0o4755), "a setuid file outside the usual places"),  # not /usr/bin
])
def test_device_nodes_and_stray_setid_files_are_refused(tmp_path, extra, words):
    """One line naming the member and why, before anything is created."""
    with pytest.raises(ImgbaseError) as err:
        opened(tarball(tmp_path / "bad.tar", extra))
    msg = str(err.value)
    assert f"holds {extra.name!r}, {words}" in msg and "\n" not in msg


class TarFails(FakeRunner):
    """A fake whose tar exits 2 with the given stderr."""

    def __init__(self, stderr: str) -> None:
        """Remember the stderr tar prints."""
        super().__init__()
        self.stderr = stderr

    def run(self, argv, **kwargs) -> Result:
        """Fail tar; record and answer everything else."""
        if str(argv[0]) == "tar":
            raise CommandError([str(a) for a in argv], 2, self.stderr)
        return super().run(argv, **kwargs)


@pytest.mark.parametrize("stderr,reason", [
    ("tar: Removing leading `/' from member names\ntar: ./usr/bin/blob: Cannot write: No space left on device\n"
     "tar: Exiting with failure status due to previous errors\n", "tar: ./usr/bin/blob: Cannot write: No space left"),
    ("tar: Ignoring unknown extended header keyword 'LIBARCHIVE.xattr.security.selinux'\n"
     "tar: Unexpected EOF in archive\ntar: Error is not recoverable: exiting now\n", "tar: Unexpected EOF in archive"),
    ("", "tar printed no reason"),
])
def test_failing_tar_gives_its_first_meaningful_line(tmp_path, monkeypatch, stderr, reason):
    """The reason is tar's own first real error, in one line naming the payload."""
    monkeypatch.setenv("IMGBASED_RUN_DIR", str(tmp_path / "run"))
    payload = image.Payload(tmp_path / "p.tar", "tar", 1 << 30, 1 << 20, None, None)
    with pytest.raises(ImgbaseError) as err:
        image.fill(TarFails(stderr), payload, "/dev/HostVG/Base-1", 1 << 30)
    msg = str(err.value)
    assert msg.startswith(f"cannot unpack {tmp_path / 'p.tar'} into /dev/HostVG/Base-1 (tar exit 2): {reason}")
    assert "\n" not in msg

