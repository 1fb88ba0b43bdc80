# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer: lay out a blank disk and deploy a liveimg as Base-0 with the layer Base-0.1.

The same functions serve `imgbase-install` and the anaconda addon's task:

1. fetch the payload and verify it before the disk is touched: its checksum and OpenPGP signature in
   the one read that downloads it (host.download, as ``imgbase update``; installer/liveimg.py says
   which signature and keys), then its liveimg layout;
2. plan the disk with blivet (``plan``) and commit it (``commit``);
3. deploy (``deploy``): fill a thin root LV from the image, then ``adopt_root``, the step the
   anaconda addon ends with too: the root becomes Base-0.1 and a frozen snapshot of it Base-0
   (host/adopt.py), with the layer's kernel and boot entry as the default, fstab, imgbased.conf
   and GRUB installed with the image's own tools; the data volumes are seeded from the image.

If a step after the commit fails, everything is undone: no half-made VG is left on the disk.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import adopt, download, image, layers
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.progress import Progress as TransferProgress
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import mounted
from org_ovirt_imgbased.installer import chroot, liveimg
from org_ovirt_imgbased.installer.adoption import adopt_root
from org_ovirt_imgbased.installer.disk.commit import commit as commit_layout
from org_ovirt_imgbased.installer.disk.commit import undo as undo_layout
from org_ovirt_imgbased.installer.disk.model import CommittedLayout, LayoutRequest, fstab_lines
from org_ovirt_imgbased.installer.disk.plan import Plan, plan_layout
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.installer.kickstart import values as kv
from org_ovirt_imgbased.installer.kickstart.payload import integrity_problem
from org_ovirt_imgbased.redact import redact
from org_ovirt_imgbased.runner import Runner

Progress = Callable[[str], None]


@dataclass
class InstallPlan:
    """A reviewed plan: the config and the blivet plan (None with --no-layout)."""

    config: AddonConfig
    layout: Plan | None


def disk_path(name: str | None) -> str:
    """/dev/NAME for a bare disk name; paths are kept."""
    if not name:
        raise ImgbaseError("no target disk: give --disk=NAME in the %addon section or --disk DEV")
    return kv.disk_path(name)


def to_request(config: AddonConfig, wipe: bool = False) -> LayoutRequest:
    """Translate the kickstart section into a disk layout request."""
    req = LayoutRequest(disk=disk_path(config.disk), vg=config.vg, pool=config.pool,
                        boot_size=config.boot_size, pool_size=config.pool_size, grow=config.grow,
                        volumes=list(config.volumes), wipe=wipe)
    if config.base_size:
        req.base_size = config.base_size
    return req


def plan(config: AddonConfig, runner: Runner | None = None, wipe: bool = False) -> InstallPlan:
    """Plan the disk layout (nothing is written)."""
    if config.no_layout:
        return InstallPlan(config, None)
    return InstallPlan(config, plan_layout(to_request(config, wipe), runner=runner))


def commit(install_plan: InstallPlan, runner: Runner | None = None,
           progress: Progress | None = None) -> CommittedLayout | None:
    """Write the planned layout to the disk; returns the devices made."""
    if install_plan.layout is None:
        return None
    return commit_layout(install_plan.layout, runner, progress)


@contextlib.contextmanager
def _payload(config: AddonConfig, runner: Runner, workdir: Path, progress: Progress) -> Iterator[image.Payload]:
    """Fetch the liveimg, checking its sha256 and signature in that one read; it stays open (mounted)."""
    if not config.liveimg_url:
        raise ImgbaseError("no payload: give liveimg --url=... or --liveimg= in the kickstart")
    got = fetch_liveimg(config, config.liveimg_url, runner, workdir, progress)
    progress("checking that the payload is a liveimg")
    with open(got.path, "rb") as f:
        if f.read(4) != image.SQUASHFS_MAGIC:
            raise ImgbaseError(f"{config.liveimg_url} is not a liveimg (a squashfs with {image.LIVE_ROOTFS})")
    with image.open_image(runner, got.path, config.checksum, verified=got.sha256) as payload:
        yield payload


def fetch_liveimg(config: AddonConfig, url: str, runner: Runner, workdir: Path,
                  progress: Progress) -> download.Downloaded:
    """Download url into workdir (a local file is read in place) through its checksum and signature check."""
    with liveimg.verifier(runner, config, url) as verifier:
        problem = integrity_problem(url, config.checksum, verifier is not None)
        if problem:
            raise ImgbaseError(problem)
        progress(f"fetching {redact(url)}" + (" and checking its signature" if verifier else ""))
        name = Path(urllib.parse.urlsplit(url).path).name or "liveimg"
        got = download.download(url, workdir / name, verifier=verifier, progress=TransferProgress(name),
                                expected_sha256=image.parse_checksum(config.checksum) if config.checksum else None)
    if got.signer:
        progress(f"the payload's signature by {got.signer} is good")
    return got


def _existing_layout(config: AddonConfig, runner: Runner) -> CommittedLayout:
    """With --no-layout: find the VG, pool and /boot already on the disk."""
    disk = disk_path(config.disk)
    vgs = {g.name for g in lvm.list_vgs(runner)}
    if config.vg not in vgs:
        raise ImgbaseError(f"--no-layout needs an existing VG {config.vg}; it was not found")
    boot, uuid = _boot_partition(disk, runner)
    return CommittedLayout(disk=disk, boot=boot, boot_uuid=uuid, pv="", vg=config.vg,
                           pool=f"{config.vg}/{config.pool}", volumes={})


def _boot_partition(disk: str, runner: Runner) -> tuple[str, str]:
    """The one partition of disk with a filesystem that is not swap or LVM (/boot), and its UUID."""
    data = runner.query_json(["lsblk", "--json", "-o", "PATH,TYPE,FSTYPE,UUID", disk])
    parts = [d for top in data.get("blockdevices", []) for d in top.get("children", []) or []
             if d.get("type") == "part" and d.get("fstype") not in (None, "", "swap", "LVM2_member")]
    if len(parts) != 1:
        found = ", ".join(f"{p['path']} ({p['fstype']})" for p in parts) or "none"
        raise ImgbaseError(f"--no-layout: cannot tell which partition of {disk} is /boot (filesystems "
                           f"found: {found}); the disk needs exactly one, the /boot partition")
    return parts[0]["path"], parts[0].get("uuid") or ""


def deploy(config: AddonConfig, committed: CommittedLayout, payload: image.Payload, runner: Runner,
           kernel_args: list[str], progress: Progress) -> str:
    """Fill the installed root from the payload, then adopt it as Base-0 + Base-0.1 (adopt_root)."""
    vg, pool = committed.vg, committed.pool.split("/", 1)[1]
    pool_lv = next((lv for lv in lvm.list_lvs(runner, vg) if lv.name == pool), None)
    want = layers.check_base_size(payload, config.base_size, pool_lv)
    device = f"/dev/{vg}/{adopt.LAYER}"
    progress(f"copying the image into {vg}/{adopt.LAYER}")
    lvm.create_thin(runner, vg, pool, adopt.LAYER, want, [])
    image.fill(runner, payload, device, want)
    with mounted(runner, device, "rw") as root, chroot.prepared(runner, root, committed.boot):
        installed = adopt.Installed(vg, adopt.LAYER, root, payload.identity, payload.sha256)
        layer = adopt_root(runner, installed, root / "boot", config, kernel_args, progress,
                           grub_disk=committed.disk, fstab_extra=fstab_lines(committed))
        progress("seeding the data volumes from the image")
        _seed_volumes(runner, root, committed)
    return layer


def _seed_volumes(runner: Runner, root: Path, committed: CommittedLayout) -> None:
    """Copy what the image has under each data volume's mount point into the volume."""
    for mountpoint in sorted(committed.volumes, key=lambda mp: (mp.count("/"), mp)):
        source = root / mountpoint.lstrip("/")
        if not source.is_dir() or not any(source.iterdir()):
            continue
        with mounted(runner, committed.volumes[mountpoint]) as volume:
            runner.run(["cp", "-a", "--sparse=always", f"{source}/.", str(volume)])


def install(config: AddonConfig, runner: Runner, kernel_args: list[str], progress: Progress,
            wipe: bool = False) -> str:
    """The whole installation; on failure after the disk was written, the disk is wiped again."""
    with tempfile.TemporaryDirectory(prefix="imgbased-install-") as tmp, \
            _payload(config, runner, Path(tmp), progress) as payload:
        progress(f"planning the layout on {disk_path(config.disk)}")
        the_plan = plan(config, runner, wipe)
        for line in the_plan.layout.actions() if the_plan.layout else []:
            progress(f"  {line}")
        if runner.dry:
            return "Base-0.1"
        with locked():  # no imgbase (recover, gc...) may run against the mounts and LVs made here
            committed = commit(the_plan, runner, lambda line: progress(f"  done: {line}"))
            try:
                committed = committed or _existing_layout(config, runner)
                layer = deploy(config, committed, payload, runner, kernel_args, progress)
            except BaseException:
                if the_plan.layout is not None:
                    progress("the installation failed: removing the new layout from the disk")
                    undo_layout(the_plan.layout, runner)
                raise
            finally:
                if the_plan.layout is not None:
                    the_plan.layout.close()
        runner.run(["vgchange", "-q", "-an", committed.vg], check=False)
        return layer
