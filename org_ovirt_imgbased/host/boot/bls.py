# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot Loader Specification Type #1 entries: render, parse, name and list them.

File names and ids
------------------
Each layer ``Base-N.M`` gets ``<boot>/loader/entries/imgbased-Base-N.M.conf``; its id (the
file name without ``.conf``) is ``imgbased-Base-N.M``.  That id is what grubenv
``saved_entry`` / ``next_entry`` hold, what rhboot's blscfg uses as the menu entry id, and
what ``data/grub.d/42_imgbased`` passes to ``menuentry --id`` on platforms without blscfg.

rhboot's blscfg orders entries newest first by parsing the id as an rpm
name-version-release: the release is after the last ``-``, the version after the one before,
and the rest is the name.  ``imgbased-Base-10.1`` thus reads as name ``imgbased``, version
``Base`` and release ``10.1``.  Name and version are the same for all our entries, so the
order comes from rpmvercmp on ``N.M``, which compares the numeric segments as numbers:
``Base-10.1`` sorts after (newer than) ``Base-9.3`` and ``Base-1.10`` after ``Base-1.9``.
naming.py forbids leading zeros, so no two ids compare equal (blscfg drops an entry that
compares equal to one it already has).  Older blscfg builds compared the ``version`` key
before the file name, so the ``version`` key holds the layer name too: both orders agree.

Paths in ``linux`` and ``initrd`` are relative to the root of the file system that holds
the entries, i.e. the /boot partition: ``/Base-0.1/vmlinuz-6.1.0-18-amd64``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming
from org_ovirt_imgbased.host.storage import lvm

ID_PREFIX = "imgbased-"
ENTRIES_DIR = Path("loader/entries")
# Kernel arguments that we set per layer; the host's copies of them are dropped.
OWN_ARGS = ("root=", "rd.lvm.lv=", "img.bootid=", "BOOT_IMAGE=", "rootflags=", "initrd=")
OWN_WORDS = ("ro", "rw")


@dataclass
class BlsEntry:
    """One entry: its id (file name without .conf) and its key/value lines in file order."""

    id: str
    lines: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """The first value of key, or None."""
        for k, v in self.lines:
            if k == key:
                return v
        return None

    def get_all(self, key: str) -> list[str]:
        """Every value of key, in file order."""
        return [v for k, v in self.lines if k == key]

    @property
    def title(self) -> str | None:
        """The title key."""
        return self.get("title")

    @property
    def version(self) -> str | None:
        """The version key."""
        return self.get("version")

    @property
    def linux(self) -> str | None:
        """The kernel path, relative to the boot partition."""
        return self.get("linux")

    @property
    def initrds(self) -> list[str]:
        """All initrd paths, in order."""
        return self.get_all("initrd")

    @property
    def options(self) -> str:
        """All options lines joined with spaces, as the spec says."""
        return " ".join(self.get_all("options"))

    @property
    def layer(self) -> str | None:
        """The layer this entry belongs to if it is one of ours, else None."""
        return layer_of_id(self.id)

    @property
    def vg(self) -> str | None:
        """The VG the entry boots from (its rd.lvm.lv=VG/LAYER), or None."""
        for word in self.options.split():
            if word.startswith("rd.lvm.lv="):
                return word[len("rd.lvm.lv="):].partition("/")[0] or None
        return None


def entry_id(layer: str) -> str:
    """The entry id (and file stem) for a layer: ``imgbased-Base-N.M``."""
    naming.parse_layer(layer)
    return ID_PREFIX + layer


def layer_of_id(ident: str | None) -> str | None:
    """The layer name in one of our entry ids, or None for any other id."""
    if not ident or not ident.startswith(ID_PREFIX):
        return None
    rest = ident[len(ID_PREFIX):]
    if naming.is_name(rest) and naming.parse(rest).is_layer:
        return rest
    return None


def entries_dir(boot_dir: Path) -> Path:
    """The directory holding the entries: ``<boot>/loader/entries``."""
    return Path(boot_dir) / ENTRIES_DIR


def entry_path(layer: str, boot_dir: Path = Path("/boot")) -> Path:
    """The file of a layer's entry."""
    return entries_dir(boot_dir) / f"{entry_id(layer)}.conf"


def parse_entry(text: str, ident: str) -> BlsEntry:
    """Parse entry text: ``key value`` lines; blank and ``#`` lines are skipped, keys kept in order."""
    entry = BlsEntry(ident)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        entry.lines.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return entry


def read_entry(path: Path) -> BlsEntry:
    """Read and parse one entry file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ImgbaseError(f"cannot read boot entry {path}: {exc.strerror}") from None
    return parse_entry(text, path.name[:-5] if path.name.endswith(".conf") else path.name)


def render_entry(entry: BlsEntry) -> str:
    """Render an entry as file text, one ``key value`` line each."""
    for key, value in entry.lines:
        if not key or any(c.isspace() for c in key) or "\n" in value:
            raise ImgbaseError(f"boot entry {entry.id}: bad line {key!r} {value!r}")
    return "".join(f"{key} {value}\n" for key, value in entry.lines)


def validate_vg(vg: str) -> str:
    """Refuse VG names that lvm would refuse or that would break the kernel command line."""
    problem = lvm.name_problem(vg)
    if problem:
        raise ImgbaseError(f"{vg!r} is not a usable volume group name: {problem}")
    return vg


def filter_host_args(args: Iterable[str] | str) -> list[str]:
    """Drop the arguments we set per layer (root=, rd.lvm.lv=, img.bootid=, ro, ...)."""
    words = args.split() if isinstance(args, str) else [w for a in args for w in str(a).split()]
    return [w for w in words if w not in OWN_WORDS and not w.startswith(OWN_ARGS)]


def layer_options(vg: str, layer: str, host_args: Iterable[str] | str = ()) -> str:
    """The options line of a layer's entry, with the host's usual arguments appended."""
    validate_vg(vg)
    naming.parse_layer(layer)
    own = [f"root=/dev/{vg}/{layer}", f"rd.lvm.lv={vg}/{layer}", "ro", "rootflags=discard",
           f"img.bootid={layer}"]
    return " ".join(own + filter_host_args(host_args))


def make_layer_entry(layer: str, vg: str, kver: str, linux: str, initrds: Sequence[str],
                     host_args: Iterable[str] | str = (), title_prefix: str = "imgbased") -> BlsEntry:
    """Build the entry of a layer from its kernel version and /boot-relative file paths."""
    title = f"{title_prefix} {layer} ({kver})".strip()
    lines = [("title", title), ("version", layer), ("linux", linux)]
    lines += [("initrd", path) for path in initrds]
    lines.append(("options", layer_options(vg, layer, host_args)))
    return BlsEntry(entry_id(layer), lines)


def kernel_version(entry: BlsEntry) -> str | None:
    """The kernel version from the linux path (``vmlinuz-<kver>``), if it has one."""
    name = Path(entry.linux or "").name
    return name[len("vmlinuz-"):] if name.startswith("vmlinuz-") else None


def read_entries(boot_dir: Path = Path("/boot")) -> list[BlsEntry]:
    """Every ``*.conf`` entry in the entries directory (ours and others'), by file name."""
    folder = entries_dir(boot_dir)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir()
                   if p.name.endswith(".conf") and not p.name.startswith(".") and p.is_file())
    return [read_entry(p) for p in files]


def layer_entries(boot_dir: Path = Path("/boot")) -> list[BlsEntry]:
    """Our entries only, newest layer first (the order blscfg shows them in)."""
    ours = [e for e in read_entries(boot_dir) if e.layer]
    return sorted(ours, key=lambda e: naming.parse(e.layer).sort_key(), reverse=True)
