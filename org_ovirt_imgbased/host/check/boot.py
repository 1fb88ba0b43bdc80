# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot group of `imgbase check`: entries, default, next boot and orphans (plus its reader)."""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.boot.grubenv import NEXT, SAVED, GrubEnv
from org_ovirt_imgbased.host.check.report import FAILED, OK, WARNING, Finding, finding
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.runner import Runner, stale_temps

REMOVE_ORPHANS = "`imgbase boot --remove-orphans`"


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
    out += _check_grubenv_temps(env_path)
    return out


def _check_grubenv_temps(env_path: Path) -> list[Finding]:
    """Temporary files of a grubenv write that was killed before its rename (none: no finding)."""
    leftovers = stale_temps(env_path)
    if not leftovers:
        return []
    return [Finding("boot", "grubenv", WARNING, f"{len(leftovers)} temporary file(s) of an interrupted grubenv "
                    f"write in {env_path.parent}: {', '.join(p.name for p in leftovers)}; the next boot change "
                    "removes them, or delete them by hand")]


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
