"""The boot and mounts groups of `imgbase check` (pure functions plus their two readers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import bls, lvm
from .check_report import FAILED, OK, WARNING, Finding, finding
from .grubenv import NEXT, SAVED, GrubEnv
from .layout import Layout
from .mountinfo import Mount, visible_at
from .runner import Runner

REMOVE_ORPHANS = "`imgbase boot --remove-orphans`"


# --- boot ----------------------------------------------------------------------------------------

def read_boot_state(runner: Runner, boot_dir: Path) -> tuple[list[bls.BlsEntry], dict[str, str] | None, Path]:
    """Every entry in boot_dir, the grubenv variables (None without a grubenv file) and its path."""
    env = GrubEnv.at(runner, boot_dir)
    values = env.read() if env.path.is_file() else None
    return bls.read_entries(boot_dir), values, env.path


def check_boot(layout: Layout, entries: list[bls.BlsEntry], env: dict[str, str] | None, env_path: Path,
               boot_dir: Path) -> list[Finding]:
    """Every layer has a complete entry, the default exists and is a layer, no orphans."""
    by_id = {e.id: e for e in entries}
    out = [_check_entry(layer, by_id.get(bls.entry_id(layer)), layout.vg, boot_dir)
           for layer in [lv.name for lv in layout.layers()]]
    out.append(_check_default(layout, by_id, env, env_path))
    out += _check_next(by_id, env)
    out.append(_check_orphans(layout, entries, boot_dir))
    return out


def _boot_file(boot_dir: Path, rel: str | None) -> str | None:
    """Why a /boot-relative path from an entry is unusable, or None when the file is there."""
    if not rel:
        return "no path"
    if ".." in Path(rel).parts:
        return f"{rel} contains '..'"
    path = Path(boot_dir) / rel.lstrip("/")
    return None if path.is_file() else f"{path} is missing"


def _check_entry(layer: str, entry: bls.BlsEntry | None, vg: str, boot_dir: Path) -> Finding:
    """A layer's entry exists, its kernel and initrd are there, and it boots that layer."""
    name = f"entry {layer}"
    if entry is None:
        return Finding("boot", name, FAILED, f"{layer} has no boot entry ({bls.entry_path(layer, boot_dir)}), "
                       "so it cannot be booted; reinstall its entry or remove the layer")
    problems = []
    kernel = _boot_file(boot_dir, entry.linux)
    if kernel:
        problems.append(f"kernel: {kernel}")
    if not entry.initrds:
        problems.append("the entry has no initrd line")
    problems += [f"initrd: {why}" for why in map(lambda p: _boot_file(boot_dir, p), entry.initrds) if why]
    words = entry.options.split()
    if f"root=/dev/{vg}/{layer}" not in words or f"img.bootid={layer}" not in words:
        problems.append(f"its options do not boot {vg}/{layer} (root=/dev/{vg}/{layer} img.bootid={layer})")
    return finding("boot", name, problems, f"entry, kernel {bls.kernel_version(entry) or entry.linux} and initrd "
                   "present")


def _check_default(layout: Layout, by_id: dict[str, bls.BlsEntry], env: dict[str, str] | None,
                   env_path: Path) -> Finding:
    """grubenv saved_entry names an existing entry of an existing layer."""
    if env is None:
        return Finding("boot", "default", FAILED, f"there is no grubenv at {env_path}; create it with "
                       f"`grub-editenv {env_path} create` and set a default")
    saved = env.get(SAVED)
    if not saved:
        return Finding("boot", "default", FAILED, "no default entry (grubenv saved_entry is unset); set one "
                       "with `imgbase boot --set-default LAYER`")
    layer = bls.layer_of_id(saved)
    known = {lv.name for lv in layout.layers()}
    if layer is None:
        if saved in by_id:
            return Finding("boot", "default", WARNING, f"the default is entry {saved}, not an imgbased layer")
        return Finding("boot", "default", FAILED, f"the default {saved!r} has no entry; set one with "
                       "`imgbase boot --set-default LAYER`")
    problems = []
    if saved not in by_id:
        problems.append(f"the default {layer} has no entry")
    if layer not in known:
        problems.append(f"the default {layer} is not a layer in {layout.vg}")
    if problems:
        problems.append("set another with `imgbase boot --set-default LAYER`")
    return finding("boot", "default", problems, f"the default is {layer}")


def _check_next(by_id: dict[str, bls.BlsEntry], env: dict[str, str] | None) -> list[Finding]:
    """A one-time entry (next_entry), if set, exists."""
    nxt = (env or {}).get(NEXT)
    if not nxt or nxt in by_id:
        return []
    return [Finding("boot", "next", WARNING, f"grubenv next_entry names {nxt!r}, which has no entry; "
                    "the next boot falls back to the default")]


def _check_orphans(layout: Layout, entries: list[bls.BlsEntry], boot_dir: Path) -> Finding:
    """No entry or /boot/<layer>/ directory of a layer that no longer exists."""
    known = {lv.name for lv in layout.layers()}
    stale = sorted(e.layer for e in entries if e.layer and e.layer not in known)
    if stale:
        return Finding("boot", "orphans", FAILED, f"entries of layers that do not exist: {', '.join(stale)}; "
                       f"booting them fails; remove them with {REMOVE_ORPHANS}")
    boot = Path(boot_dir)
    dirs = sorted(d.name for d in boot.iterdir() if d.is_dir() and not d.is_symlink()
                  and bls.layer_of_id(bls.ID_PREFIX + d.name) and d.name not in known) if boot.is_dir() else []
    if dirs:
        return Finding("boot", "orphans", WARNING, f"kernel directories of layers that do not exist: "
                       f"{', '.join(dirs)}; free the space with {REMOVE_ORPHANS}")
    return Finding("boot", "orphans", OK, "no entries or kernels of removed layers")


# --- mounts --------------------------------------------------------------------------------------

def tune2fs_default_options(runner: Runner, dev: str) -> str:
    """The ``Default mount options`` of an ext filesystem ("" when unknown)."""
    out = runner.run(["tune2fs", "-l", dev], check=False, readonly=True).stdout
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Default mount options":
            return value.strip()
    return ""


def check_mounts(layout: Layout, mounts: list[Mount], default_options: Callable[[str], str]) -> list[Finding]:
    """/ is a layer mounted with discard, /var is separate, data volumes have their own mount points."""
    ours = {lv.dev: lv for lv in [*(b.lv for b in layout.bases), *layout.layers(), *layout.volumes] if lv.dev}
    root = visible_at(mounts, "/")
    out = []
    if root is None:
        out.append(Finding("mounts", "root", WARNING, "cannot read the mount table; / and /var not checked"))
    else:
        out += _check_root(layout, root, ours.get(root.dev), mounts, default_options)
    out += [_check_volume(vol, mounts, ours) for vol in layout.volumes]
    return out


def _check_root(layout: Layout, root: Mount, lv: lvm.LV | None, mounts: list[Mount],
                default_options: Callable[[str], str]) -> list[Finding]:
    """The root mount: which LV, discard, and /var not on it."""
    layers = {x.name for x in layout.layers()}
    if lv is None or lv.name not in layers:
        is_base = lv is not None and lv.name in {b.name for b in layout.bases}
        what = f"{'base' if is_base else 'data volume'} {lv.name}" if lv else f"{root.source} ({root.fstype})"
        status = FAILED if is_base else WARNING
        return [Finding("mounts", "root", status, f"/ is {what}, not an imgbased layer; the checks of / and "
                        "/var are skipped")]
    out = [finding("mounts", "root", [f"the kernel command line says {layout.current} runs, but / is {lv.name}"]
                   if layout.current not in (None, lv.name) else [], f"/ is layer {lv.name}", WARNING)]
    if root.has_option("discard"):
        out.append(Finding("mounts", "discard", OK, "/ is mounted with discard"))
    elif root.fstype.startswith("ext") and "discard" in default_options(lv.path).split():
        out.append(Finding("mounts", "discard", OK, "discard is a default mount option of the filesystem on /"))
    else:
        out.append(Finding("mounts", "discard", WARNING, "/ is mounted without discard, so deleted files keep "
                           f"their pool space; boot with rootflags=discard or run `tune2fs -o discard {lv.path}`"))
    var = visible_at(mounts, "/var")
    if var is None or var.dev == root.dev:
        out.append(Finding("mounts", "/var", FAILED, f"/var is on the root layer {lv.name}, so an update does not "
                           "carry it over; move /var to its own data volume"))
    else:
        out.append(Finding("mounts", "/var", OK, f"/var is a separate mount ({var.source})"))
    return out


def _check_volume(vol: lvm.LV, mounts: list[Mount], ours: dict[tuple[int, int], lvm.LV]) -> Finding:
    """A data volume, if mounted, is on its own mount point (not / and not shared with another LV)."""
    name = f"volume {vol.name}"
    points = sorted({m.mountpoint for m in mounts if vol.dev and m.dev == vol.dev})
    if not points:
        return Finding("mounts", name, OK, "not mounted now")
    problems = []
    if "/" in points:
        problems.append("it is mounted at /; data volumes need their own mount point")
    for point in points:
        others = sorted({ours[m.dev].name for m in mounts if m.mountpoint == point and m.dev != vol.dev
                         and m.dev in ours})
        if others:
            problems.append(f"{point} is shared with {', '.join(others)}")
    return finding("mounts", name, problems, f"mounted on {', '.join(points)}")
