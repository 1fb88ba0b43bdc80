# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot entries per layer: install and remove them, choose the default, tries and rollback.

Every function takes ``boot_dir`` (default /boot) and, where grubenv is involved, an optional
explicit ``grubenv`` path, so tests can point at scratch trees, like boom's --boot-dir.

grubenv variables (see grubenv.py):
  * ``saved_entry``  the default entry id (GRUB_DEFAULT=saved);
  * ``next_entry``   a one-time entry; GRUB's 00_header clears it before booting it;
  * ``imgbased_try`` our pending-try marker, set with next_entry by arm_try().

Confirmation: ``imgbase boot --confirm`` (confirm(if_pending=False)) makes the running layer
the default on purpose.  The shipped unit runs ``imgbase boot --confirm --if-pending``
(confirm(if_pending=True)), which changes the default only when the running layer is the
pending try, so a plain ``boot --once`` is never confirmed automatically.  A try that was
booted away from (next_entry consumed, a different layer running) is reported and its
marker cleared; the default stays where it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from org_ovirt_imgbased import defaults, paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming
from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.boot.grubenv import NEXT, SAVED, TRY, GrubEnv
from org_ovirt_imgbased.host.boot.kernels import ENTRY_SIZE, SPACE_MARGIN, find_kernel
from org_ovirt_imgbased.host.storage.space import check_dir
from org_ovirt_imgbased.runner import Runner

BOOT = defaults.BOOT_DIR


@dataclass
class EntryStatus:
    """One layer's boot entry as ``boot --list`` shows it."""

    layer: str
    id: str
    title: str
    kernel: str | None
    entry: str
    default: bool
    next: bool
    pending_try: bool
    running: bool

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def usual_kernel_args(cmdline_path: Path | None = None) -> list[str]:
    """The running kernel's arguments minus the per-layer ones (root=, rd.lvm.lv=, ...)."""
    try:
        return bls.filter_host_args(Path(cmdline_path or paths.cmdline()).read_text())
    except OSError:
        return []


def install_layer(runner: Runner, layer: str, root: Path, vg: str, *, boot_dir: Path = BOOT,
                  host_args: Iterable[str] | str = (), title_prefix: str = "imgbased",
                  margin: int = SPACE_MARGIN) -> bls.BlsEntry:
    """Copy the layer's kernel+initrd from its mounted root to <boot>/<layer>/ and write its entry.

    Checks /boot's free space first; on any failure nothing is left behind.
    """
    naming.parse_layer(layer)
    bls.validate_vg(vg)
    boot_dir = Path(boot_dir)
    kernel = find_kernel(Path(root))
    target = boot_dir / layer
    linux, initrd = f"/{layer}/{kernel.vmlinuz_name}", f"/{layer}/{kernel.initrd_name}"
    entry = bls.make_layer_entry(layer, vg, kernel.kver, linux, [initrd], host_args, title_prefix)
    text = bls.render_entry(entry)
    if target.exists() and not target.is_dir():
        raise ImgbaseError(f"{target} exists and is not a directory; move it away first")
    check_dir(boot_dir, kernel.size() + ENTRY_SIZE, f"the kernel and initrd of {layer}", margin)
    created = not target.exists()
    try:
        runner.makedirs(target)
        runner.copy_file(kernel.vmlinuz, target / kernel.vmlinuz_name)
        runner.copy_file(kernel.initrd, target / kernel.initrd_name)
        runner.makedirs(bls.entries_dir(boot_dir))
        runner.write_file(bls.entry_path(layer, boot_dir), text)
    except BaseException as exc:
        if created:
            runner.remove(target)
        if isinstance(exc, OSError):
            raise ImgbaseError(f"cannot install the boot files of {layer} in {boot_dir}: "
                               f"{exc.strerror or exc}") from None
        raise
    _prune_layer_dir(runner, target, {kernel.vmlinuz_name, kernel.initrd_name})
    return entry


def _prune_layer_dir(runner: Runner, target: Path, keep: set[str]) -> None:
    """Remove files of an earlier kernel from a layer's /boot directory."""
    if not target.is_dir():
        return
    for child in target.iterdir():
        if child.name not in keep:
            runner.remove(child)


def _env(runner: Runner, boot_dir: Path, grubenv: Path | None) -> GrubEnv:
    """The grubenv for boot_dir (or the explicit file)."""
    return GrubEnv.at(runner, boot_dir, grubenv)


def has_entry(layer: str, boot_dir: Path = BOOT) -> bool:
    """True if the layer has an entry file."""
    return bls.entry_path(layer, boot_dir).is_file()


def require_entry(layer: str, boot_dir: Path = BOOT) -> str:
    """The layer's entry id; ImgbaseError if the name is bad or it has no entry."""
    ident = bls.entry_id(layer)
    if not has_entry(layer, boot_dir):
        raise ImgbaseError(f"{layer} has no boot entry in {bls.entries_dir(boot_dir)}; see "
                           "'imgbase boot --list' for the layers that have one")
    return ident


def remove_layer(runner: Runner, layer: str, *, boot_dir: Path = BOOT,
                 grubenv: Path | None = None) -> list[str]:
    """Remove a layer's entry and /boot/<layer>/; repoint grubenv variables that named it.

    Returns notes on what changed in grubenv (empty when nothing did).
    """
    naming.parse_layer(layer)
    boot_dir = Path(boot_dir)
    ident = bls.entry_id(layer)
    env = _env(runner, boot_dir, grubenv)
    values = env.read()
    notes: list[str] = []
    gone = [n for n in (NEXT, TRY) if values.get(n) == ident]
    repoint: dict[str, str] = {}
    if gone:
        notes.append(f"cleared {', '.join(gone)} (it named {layer})")
    if values.get(SAVED) == ident:
        others = [e for e in bls.layer_entries(boot_dir) if e.layer != layer]
        if others:
            repoint[SAVED] = others[0].id
            notes.append(f"the default was {layer}; it is now {others[0].layer}")
        else:
            gone.append(SAVED)
            notes.append(f"the default was {layer}; no layer entry is left to be the default")
    env.change(repoint, gone)
    runner.remove(bls.entry_path(layer, boot_dir))
    runner.remove(boot_dir / layer)
    return notes


def remove_orphans(runner: Runner, existing_layers: Iterable[str], *, boot_dir: Path = BOOT,
                   grubenv: Path | None = None, vg: str | None = None) -> list[str]:
    """Remove entries and /boot/<layer>/ directories of layers that no longer exist.

    Only our own entries (imgbased-Base-N.M) and directories named like a layer are touched;
    with vg, only entries that boot from vg (another VG's layers are not ours to judge), and a
    directory only when no entry of another VG still uses it.  existing_layers must name every
    LV in vg that is named like a layer, tagged or not, with or without its base.
    Returns the layers whose boot files were removed, oldest first.
    """
    boot_dir = Path(boot_dir)
    existing = set(existing_layers)
    entries = bls.layer_entries(boot_dir)
    elsewhere = {e.layer for e in entries if vg is not None and e.vg not in (None, vg)}
    orphans = {e.layer for e in entries if e.layer not in existing and e.layer not in elsewhere}
    if boot_dir.is_dir():
        orphans |= {d.name for d in boot_dir.iterdir()
                    if d.is_dir() and not d.is_symlink() and bls.layer_of_id(bls.ID_PREFIX + d.name)
                    and d.name not in existing and d.name not in elsewhere}
    removed = [str(n) for n in naming.ordered(orphans)]
    for layer in removed:
        remove_layer(runner, layer, boot_dir=boot_dir, grubenv=grubenv)
    return removed


def set_default(runner: Runner, layer: str, *, boot_dir: Path = BOOT,
                grubenv: Path | None = None) -> str:
    """Make layer the default (saved_entry); returns its entry id."""
    ident = require_entry(layer, boot_dir)
    _env(runner, boot_dir, grubenv).set({SAVED: ident})
    return ident


def boot_once(runner: Runner, layer: str, *, boot_dir: Path = BOOT,
              grubenv: Path | None = None) -> str:
    """Boot layer once on the next boot (next_entry only, never confirmed automatically).

    A pending try for another layer is dropped, since its next_entry is replaced.
    """
    ident = require_entry(layer, boot_dir)
    env = _env(runner, boot_dir, grubenv)
    pending = env.get(TRY)
    env.change({NEXT: ident}, [TRY] if pending and pending != ident else [])
    return ident


def arm_try(runner: Runner, layer: str, *, boot_dir: Path = BOOT,
            grubenv: Path | None = None) -> str:
    """Try layer on the next boot: next_entry plus the pending-try marker."""
    ident = require_entry(layer, boot_dir)
    _env(runner, boot_dir, grubenv).set({NEXT: ident, TRY: ident})
    return ident


def pending_try(runner: Runner, *, boot_dir: Path = BOOT, grubenv: Path | None = None) -> str | None:
    """The layer of the pending try, or None."""
    return bls.layer_of_id(_env(runner, boot_dir, grubenv).get(TRY))


def default_layer(runner: Runner, *, boot_dir: Path = BOOT, grubenv: Path | None = None) -> str | None:
    """The layer saved_entry names, or None (unset, or not one of ours)."""
    return bls.layer_of_id(_env(runner, boot_dir, grubenv).get(SAVED))


def confirm(runner: Runner, running: str | None, *, if_pending: bool = False,
            boot_dir: Path = BOOT, grubenv: Path | None = None) -> str:
    """Confirm the running layer; returns a one-line message saying what happened.

    if_pending=False (``boot --confirm``): make the running layer the default.
    if_pending=True (the unit): only when the running layer is the pending try.
    Either way a try that was booted away from is reported and its marker cleared.
    """
    env = _env(runner, boot_dir, grubenv)
    values = env.read()
    pending = values.get(TRY) or None
    running_id = bls.entry_id(running) if running else None
    if pending and pending == running_id:
        require_entry(running, boot_dir)
        env.change({SAVED: running_id}, [TRY] + ([NEXT] if values.get(NEXT) == pending else []))
        return f"confirmed the try of {running}: it is now the default"
    stale = bool(pending) and values.get(NEXT) != pending
    if stale:
        env.unset([TRY])
    failed = (f"the try of {bls.layer_of_id(pending) or pending} did not confirm (running "
              f"{running or 'an unknown layer'}); it is no longer pending. ") if stale else ""
    if if_pending:
        if pending and not stale:
            return f"a try of {bls.layer_of_id(pending) or pending} is armed for the next boot; nothing to confirm"
        default = bls.layer_of_id(values.get(SAVED)) or values.get(SAVED) or "unset"
        return failed + (f"The default stays {default}" if stale else "no try pending; nothing to confirm")
    if not running:
        raise ImgbaseError("cannot tell which layer is running (no img.bootid= on the kernel command "
                           "line); use 'imgbase boot --set-default LAYER'")
    env.set({SAVED: require_entry(running, boot_dir)})
    return failed + f"{running} is now the default"


def rollback_target(layers: Iterable[str], reference: str | None, to: str | None = None) -> str:
    """The layer to roll back to: ``to`` if given, else the layer before reference (natural order)."""
    ordered = [n for n in naming.ordered(layers) if n.is_layer]
    names = [str(n) for n in ordered]
    if to is not None:
        naming.parse_layer(to)
        if to not in names:
            raise ImgbaseError(f"cannot roll back to {to}: it has no boot entry; see 'imgbase boot --list'")
        if to == reference:
            raise ImgbaseError(f"{to} is already the default; nothing to roll back")
        return to
    if not names:
        raise ImgbaseError("nothing to roll back to: no layer has a boot entry")
    if reference not in names:
        raise ImgbaseError(f"cannot tell the current default ({reference or 'unset'}); name a layer "
                           "with 'imgbase rollback --to LAYER'")
    ref = naming.parse(reference).sort_key()
    older = [n for n in ordered if n.sort_key() < ref]
    if not older:
        raise ImgbaseError(f"nothing to roll back to: {reference} is the oldest layer with a boot entry")
    return str(older[-1])


def rollback(runner: Runner, *, to: str | None = None, running: str | None = None,
             boot_dir: Path = BOOT, grubenv: Path | None = None, existing: Iterable[str] | None = None) -> str:
    """Make the previous layer (or ``to``) the default for the next boot; returns it.

    "Previous" is relative to the current default (saved_entry), or to the running layer
    when saved_entry names none of ours.  A pending try or one-time entry is dropped so that
    the next boot really starts the rollback target.  With existing (the layers whose LVs
    exist), an entry whose LV is gone is never chosen.
    """
    env = _env(runner, boot_dir, grubenv)
    values = env.read()
    layers = [e.layer for e in bls.layer_entries(boot_dir) if existing is None or e.layer in set(existing)]
    reference = bls.layer_of_id(values.get(SAVED)) or running
    target = rollback_target(layers, reference, to)
    env.change({SAVED: bls.entry_id(target)}, [n for n in (NEXT, TRY) if values.get(n)])
    return target


def list_boot(runner: Runner, *, running: str | None = None, boot_dir: Path = BOOT,
              grubenv: Path | None = None) -> list[EntryStatus]:
    """Our entries, newest first, with default / next / pending-try / running flags."""
    values = _env(runner, boot_dir, grubenv).read()
    rows = []
    for e in bls.layer_entries(boot_dir):
        rows.append(EntryStatus(
            layer=e.layer, id=e.id, title=e.title or e.id, kernel=bls.kernel_version(e),
            entry=str(bls.entries_dir(boot_dir) / f"{e.id}.conf"),
            default=values.get(SAVED) == e.id, next=values.get(NEXT) == e.id,
            pending_try=values.get(TRY) == e.id, running=running == e.layer))
    return rows
