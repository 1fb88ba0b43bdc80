# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the VM lab's tiny initramfs: busybox, a few modules and init.sh.

The archive is cached, keyed by a hash of everything that goes into it, so it
is rebuilt only when the kernel, the module list, busybox or init.sh change.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import VmError, cache_dir
from .kernel import Kernel

BUSYBOX = Path("/bin/busybox")
INIT = Path(__file__).with_name("init.sh")
# What the initramfs needs before the host root is mounted, plus the
# device-mapper targets the tests rely on.  Others load on demand later.
MODULES = ["virtio_pci", "virtio_blk", "9p", "9pnet_virtio", "overlay", "ext4",
           "dm_mod", "dm_thin_pool", "dm_snapshot", "loop"]


def _module_deps(kernel: Kernel) -> dict[str, list[str]]:
    """Read modules.dep into {relative path: [dependency paths]}."""
    deps = {}
    for line in (kernel.modules / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    return deps


def module_load_order(kernel: Kernel, names: list[str]) -> list[str]:
    """Return module paths for names, with every dependency before its user."""
    deps = _module_deps(kernel)
    by_name = {Path(p).name.split(".ko")[0].replace("-", "_"): p for p in deps}
    builtin = (kernel.modules / "modules.builtin").read_text()
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in reversed(deps.get(path, [])):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in names:
        key = name.replace("-", "_")
        if key in by_name:
            visit(by_name[key])
        elif f"/{name}.ko" not in builtin and f"/{key}.ko" not in builtin:
            raise VmError(f"module {name} is neither built in nor in {kernel.modules}")
    return order


def _recipe_hash(kernel: Kernel, order: list[str]) -> str:
    """Hash every input of the initramfs."""
    h = hashlib.sha256()
    h.update(kernel.version.encode())
    h.update("\n".join(order).encode())
    h.update(INIT.read_bytes())
    h.update(BUSYBOX.read_bytes())
    return h.hexdigest()[:16]


def _cpio(tree: Path, out: Path) -> None:
    """Pack tree as a gzip-compressed newc cpio archive."""
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    raw = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=tree,
                         input="\n".join(files).encode(), capture_output=True, check=True).stdout
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(raw, compresslevel=1))
    tmp.rename(out)


def ensure_initramfs(kernel: Kernel) -> Path:
    """Return the cached initramfs for kernel, building it when needed."""
    if not BUSYBOX.exists():
        raise VmError(f"{BUSYBOX} is missing; run `make setup` (package busybox-static)")
    order = module_load_order(kernel, MODULES)
    out = cache_dir() / f"initramfs-{_recipe_hash(kernel, order)}.cpio.gz"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        for d in ("bin", "dev", "proc", "sys", "modules"):
            (tree / d).mkdir()
        shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
        shutil.copy2(INIT, tree / "init")
        (tree / "init").chmod(0o755)
        names = []
        for rel in order:
            name = Path(rel).name
            shutil.copy2(kernel.modules / rel, tree / "modules" / name)
            names.append(name)
        (tree / "modules.order").write_text("\n".join(names) + "\n")
        _cpio(tree, out)
    return out
