# SPDX-License-Identifier: GPL-2.0-or-later
"""The platform's GRUB configuration: does its grub read BLS entries itself (blscfg)?

Fedora/RHEL grub (rhboot's patches) has the ``blscfg`` command: grub.cfg calls it at boot
and it reads /boot/loader/entries directly, so changing entries needs no regeneration.
Debian's grub has no blscfg: grub.cfg must be regenerated with ``grub-mkconfig``, which
runs the installed ``/etc/grub.d/42_imgbased`` to turn our entries into menuentry blocks.
That script also needs ``GRUB_DEFAULT=saved`` (data/etc/default/grub.d/imgbased.cfg).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.boot.grubenv import grub_dir
from org_ovirt_imgbased.runner import Runner

GRUB_D_SCRIPT = "42_imgbased"
_BLSCFG_LINE = re.compile(r"^\s*(blscfg|bls_import)\b", re.MULTILINE)
_ENABLE_BLSCFG = re.compile(r"^\s*GRUB_ENABLE_BLSCFG=[\"']?true[\"']?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Platform:
    """What the GRUB set-up of a /boot tree looks like."""

    grub_dir: Path
    grub_cfg: Path | None
    cfg_has_blscfg: bool
    enable_blscfg: bool

    @property
    def blscfg(self) -> bool:
        """True when grub reads the BLS entries itself (now, or after the next mkconfig)."""
        return self.cfg_has_blscfg or self.enable_blscfg

    @property
    def needs_regeneration(self) -> bool:
        """True when grub.cfg exists and does not call blscfg, so it lists entries itself."""
        return self.grub_cfg is not None and not self.cfg_has_blscfg


def _read(path: Path) -> str:
    """A text file's content, or '' when it cannot be read."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def detect_platform(boot_dir: Path = Path("/boot"),
                    default_grub: Path = Path("/etc/default/grub")) -> Platform:
    """Inspect <boot>/grub2 or <boot>/grub and /etc/default/grub."""
    gdir = grub_dir(boot_dir)
    cfg = gdir / "grub.cfg"
    cfg_text = _read(cfg) if cfg.is_file() else ""
    return Platform(grub_dir=gdir, grub_cfg=cfg if cfg.is_file() else None,
                    cfg_has_blscfg=bool(_BLSCFG_LINE.search(cfg_text)),
                    enable_blscfg=bool(_ENABLE_BLSCFG.search(_read(default_grub))))


def mkconfig_command(platform: Platform) -> str:
    """grub2-mkconfig for a grub2/ tree when installed, else grub-mkconfig (or the other one)."""
    names = ["grub-mkconfig", "grub2-mkconfig"]
    if platform.grub_dir.name == "grub2":
        names.reverse()
    for name in names:
        if shutil.which(name):
            return name
    raise ImgbaseError("neither grub-mkconfig nor grub2-mkconfig is installed; install grub2-common "
                       "(Debian) or grub2-tools (Fedora)")


def regenerate_config(runner: Runner, boot_dir: Path = Path("/boot"), *, skip: bool = False,
                      grub_d: Path = Path("/etc/grub.d"),
                      default_grub: Path = Path("/etc/default/grub")) -> bool:
    """Rewrite grub.cfg where the platform needs it; returns True if mkconfig ran.

    Does nothing when skip is set, when boot_dir has no grub.cfg (a scratch tree), or when
    grub.cfg calls blscfg.  Otherwise runs ``grub-mkconfig -o <grub.cfg>`` with
    IMGBASED_BOOT_DIR=<boot_dir>, which our 42_imgbased script reads.
    """
    if skip:
        return False
    platform = detect_platform(boot_dir, default_grub)
    if not platform.needs_regeneration:
        return False
    if not platform.enable_blscfg and not (Path(grub_d) / GRUB_D_SCRIPT).is_file():
        raise ImgbaseError(f"{Path(grub_d) / GRUB_D_SCRIPT} is missing, so a new grub.cfg would list "
                           "no layers; install data/grub.d/42_imgbased there (mode 0755)")
    runner.run([mkconfig_command(platform), "-o", str(platform.grub_cfg)],
               env={"IMGBASED_BOOT_DIR": str(Path(boot_dir))})
    return True
