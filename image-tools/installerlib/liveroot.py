# SPDX-License-Identifier: GPL-2.0-or-later
"""Stage 2: finish a copy of the base tree as the live installer root and pack it as a squashfs."""

from __future__ import annotations

import shutil
from pathlib import Path

from imagelib.base import trim
from imagelib.chroot import chroot_mounts, in_chroot
from imagelib.common import ImgbaseError, run
from imagelib.final import FINAL_TRIM, copy_tree
from vmlab.initramfs import module_load_order
from vmlab.kernel import Kernel

from . import anaconda, recipe

# Kernel files depmod and modprobe read besides the modules themselves.
MODULE_INDEX_FILES = ["modules.builtin", "modules.builtin.modinfo", "modules.order"]
# zstd decompresses fast under TCG whatever the level; a high level only makes the file smaller.
SQUASHFS_ARGS = ["-noappend", "-no-progress", "-quiet", "-no-xattrs", "-comp", "zstd", "-Xcompression-level", "15"]


def add_modules(root: Path, kernel: Kernel, names: list[str]) -> list[str]:
    """Copy names and their dependencies from kernel into root's module tree and run depmod there."""
    order = module_load_order(kernel, names)
    dest = root / "usr/lib/modules" / kernel.version
    for rel in order:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kernel.modules / rel, target)
    for name in MODULE_INDEX_FILES:
        if (kernel.modules / name).exists():
            shutil.copy2(kernel.modules / name, dest / name)
    run(["depmod", "-b", root, kernel.version])
    return order


def add_installer(root: Path) -> None:
    """Add anaconda (source, fixed paths, shims) and the recipe overlay (stage2, anaconda-run, drop-in)."""
    anaconda.add_anaconda(root)
    copy_tree(recipe.RECIPE_DIR / "overlay", root)
    if not (root / recipe.STAGE2).is_file():
        raise ImgbaseError(f"the installer recipe has no overlay/{recipe.STAGE2}")


def compile_python(root: Path) -> None:
    """Byte-compile the pip-installed packages and python-meh, so nothing compiles under TCG at boot."""
    site = Path("/") / recipe.SITE_PACKAGES
    dirs = [site / p.name for p in sorted((root / recipe.SITE_PACKAGES).iterdir())
            if p.is_dir() and (p / "__init__.py").exists() and not (p / "__pycache__").exists()]
    with chroot_mounts(root):
        in_chroot(root, ["python3", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                         *map(str, dirs)])


def check_imports(root: Path) -> None:
    """Import what anaconda and its modules need with the live root's own Python, failing early if one is missing."""
    with chroot_mounts(root):
        res = in_chroot(root, anaconda.import_check_argv(), check=False)
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "CRITICAL" not in ln]
        raise ImgbaseError(f"the installer root cannot import what anaconda needs: "
                           f"{lines[-1] if lines else 'exit ' + str(res.returncode)} "
                           "(add the missing package to image-tools/installer-recipe/packages.txt)")


def finish_root(root: Path, kernel: Kernel) -> list[str]:
    """Turn a copy of the base tree into the live installer root; return the modules added."""
    order = add_modules(root, kernel, recipe.root_modules())
    add_installer(root)
    compile_python(root)
    check_imports(root)
    trim(root, [p for p in FINAL_TRIM if "__pycache__" not in p])
    return order


def make_squashfs(root: Path, out: Path) -> None:
    """Pack root into the squashfs out (written beside it first, then renamed)."""
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    run(["mksquashfs", root, tmp, *SQUASHFS_ARGS])
    tmp.rename(out)
