# SPDX-License-Identifier: GPL-2.0-or-later
"""Stage 1: the live installer's base tree, debootstrapped and with the pinned Python packages (cached)."""

from __future__ import annotations

import json
import sys
import tarfile
import time
from pathlib import Path

from imagelib import recipe as image_recipe
from imagelib.base import _remove, prune, trim
from imagelib.common import REPO_DIR, ImgbaseError, Timer, image_cache, log, run

from . import recipe

# What pip --target writes besides the packages (scripts, man pages, D-Bus data files).
PIP_EXTRAS = ["bin", "etc", "share", "usr"]


def _debootstrap(root: Path, mirror: str) -> None:
    """Run debootstrap --variant=minbase with the installer's packages into root."""
    debs = image_cache() / "debs"  # shared with build-image; both run under imagelib's build lock
    debs.mkdir(exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}",
            "--include=" + ",".join(recipe.packages()), recipe.SUITE, root, mirror]
    res = run(argv, check=False, env={"DEBIAN_FRONTEND": "noninteractive"})
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
        reason = lines[-1] if lines else "no output"
        raise ImgbaseError(f"debootstrap failed: {reason} (see {root}/debootstrap/debootstrap.log)")


def pip_python() -> str:
    """A Python interpreter on the host that has pip: this one, or the checkout's .venv."""
    for candidate in (sys.executable, str(REPO_DIR / ".venv/bin/python")):
        if Path(candidate).exists() and run([candidate, "-c", "import pip"], check=False).returncode == 0:
            return candidate
    raise ImgbaseError("no Python with pip on this host: run `make setup` (it creates .venv)")


def pip_install(root: Path) -> list[str]:
    """pip install --no-deps --target the pinned pure-Python packages into root; return their names."""
    site = root / recipe.SITE_PACKAGES
    site.mkdir(parents=True, exist_ok=True)
    reqs = recipe.RECIPE_DIR / "python.txt"
    before = set(site.glob("*.dist-info"))
    res = run([pip_python(), "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--no-warn-script-location", "--target", site, "-r", reqs],
              check=False)
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
        raise ImgbaseError(f"pip install -r {reqs.name} failed: {lines[-1] if lines else 'no output'}")
    for extra in PIP_EXTRAS:
        _remove(site / extra)
    return sorted(p.name.split("-")[0] for p in set(site.glob("*.dist-info")) - before)


def install_meh(root: Path) -> list[str]:
    """Unpack python-meh's package (pure Python: meh/ and meh/ui/) from its tarball into root's site."""
    site = root / recipe.SITE_PACKAGES
    names = []
    with tarfile.open(recipe.third_party(recipe.MEH_TARBALL)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 3 or parts[1] != "meh" or not member.isfile() or not member.name.endswith(".py"):
                continue
            target = site.joinpath(*parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            names.append("/".join(parts[1:]))
    if "meh/__init__.py" not in names:
        raise ImgbaseError(f"{recipe.MEH_TARBALL} has no meh/__init__.py: is it python-meh's source tarball?")
    return names


def build_base(dest: Path, timer: Timer) -> Path:
    """Build the base tree into dest (debootstrap, trim, pip)."""
    tmp = dest.with_name(dest.name + ".tmp")
    _remove(tmp)
    tmp.mkdir(parents=True)
    root = tmp / "root"
    mirror = image_recipe.find_mirror()
    with timer.phase(f"debootstrap the installer root ({recipe.SUITE}) from the host's apt mirror"):
        _debootstrap(root, mirror)
    with timer.phase("trim the installer root"):
        removed = trim(root, recipe.read_list("trim.txt"))
        log(f"removed {removed} paths")
    with timer.phase("pip install the pinned Python packages"):
        names = pip_install(root)
        log(f"installed {', '.join(names)}")
    with timer.phase(f"python-meh from {recipe.MEH_TARBALL}"):
        install_meh(root)
    meta = {"packages": recipe.packages(), "python": recipe.read_list("python.txt") + [recipe.MEH_TARBALL],
            "key": dest.name,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(sum(timer.phases.values()), 1)}
    (tmp / "base.json").write_text(json.dumps(meta, indent=2) + "\n")
    _remove(dest)
    tmp.rename(dest)
    return dest


def ensure_base(timer: Timer) -> Path:
    """Return the cached base tree directory (its root/ is the tree), building it when missing."""
    dest = recipe.installer_cache() / f"base-{recipe.base_key()}"
    if (dest / "base.json").exists():
        return dest
    log(f"no cached installer base tree {dest.name}: building it")
    build_base(dest, timer)
    prune(recipe.installer_cache(), "base-*", keep=dest)
    return dest


def copy_base(base: Path, dest: Path) -> None:
    """Copy the base tree's root to dest (reflinks where the file system allows)."""
    _remove(dest)
    run(["cp", "-a", "--reflink=auto", base / "root", dest])

