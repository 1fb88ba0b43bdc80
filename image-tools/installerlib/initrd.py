# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's initramfs: busybox, the network and root-mount modules, and the recipe's init."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from imagelib.common import ImgbaseError
from vmlab.initramfs import _cpio, module_load_order
from vmlab.kernel import Kernel

from . import recipe

BUSYBOX = Path("/bin/busybox")
DIRS = ["bin", "dev", "etc", "proc", "sys", "modules", "run", "tmp"]


def busybox() -> Path:
    """The static busybox the initramfs is made of (package busybox-static)."""
    if not BUSYBOX.exists():
        raise ImgbaseError(f"{BUSYBOX} is missing; run `make setup` (package busybox-static)")
    return BUSYBOX


def fill_tree(tree: Path, kernel: Kernel) -> list[str]:
    """Lay out the initramfs in tree; return the module file names in load order."""
    for d in DIRS:
        (tree / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox(), tree / "bin/busybox")
    shutil.copy2(recipe.RECIPE_DIR / "init", tree / "init")
    shutil.copy2(recipe.RECIPE_DIR / "udhcpc.script", tree / "etc/udhcpc.script")
    for path in (tree / "init", tree / "etc/udhcpc.script"):
        path.chmod(0o755)
    names = []
    for rel in module_load_order(kernel, recipe.initramfs_modules()):
        name = Path(rel).name
        shutil.copy2(kernel.modules / rel, tree / "modules" / name)
        names.append(name)
    (tree / "modules.order").write_text("".join(n + "\n" for n in names))
    return names


def build_initrd(kernel: Kernel, out: Path) -> list[str]:
    """Write the gzip-compressed cpio initramfs to out; return the modules it loads."""
    with tempfile.TemporaryDirectory(prefix="installer-initrd-") as tmp:
        names = fill_tree(Path(tmp), kernel)
        _cpio(Path(tmp), out)
    return names
