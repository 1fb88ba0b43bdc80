# SPDX-License-Identifier: GPL-2.0-or-later
"""Record-level three-way merge of passwd, group, shadow and gshadow during an update.

The three sides are the old image's factory copy (base), the old layer's /etc (local) and the
new image's /etc (new).  What an operator expects, and what this module does:

- Local users and groups are kept, and so are their IDs.  Files on data volumes (/var, /home)
  are owned by those numbers, so a local account is never renumbered: not when the new image
  gives the same name another ID ("UID drift", typical for system users created by package
  scripts), and not when a new system account wants an ID a local account already has.
- Accounts the new image adds are taken from it.  When the ID it wants is already used on this
  host (a collision), the new account gets a free ID: for a system ID (below 1000) the highest
  free one below 1000, as ``useradd -r`` does; otherwise the lowest free one from 1000.  This
  is reported as a conflict.
- The new layer's files still carry the new image's numbers.  ``uid_map``/``gid_map`` (new
  image ID -> ID in the merged files) cover drift and collisions; the caller re-owns the new
  layer's files through them *before* carrying local files (persist.apply_plan does this).
- Other fields: changed on one side -> that side; changed on both sides -> a conflict decided
  by the policy (keep-local or keep-new).  The primary group of a local user stays local.
- Group member lists (group members, gshadow admins and members) merge as sets: the local
  members, plus those the new image added, minus those the new image removed.  Members are
  not checked against passwd (they may come from a directory service).
- An account the new image dropped is dropped, unless it was changed locally (a conflict).
  An account deleted locally stays deleted, unless the new image changed it (a conflict;
  keep-new brings it back).
- shadow follows passwd and gshadow follows group: an entry whose account is gone is dropped,
  and an account without an entry gets the local one, or else the new image's.
- Without a factory copy (base None) local records win outright and the new image's extra
  accounts are added; IDs are handled as above.
- Blank lines, comments, NIS ``+``/``-`` lines and duplicate names stay as they are locally.
  Messages about shadow and gshadow never include field values (password hashes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist.fstree import FILE, lstat_node

ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
FIELD_NAMES = {
    "passwd": ("name", "password", "uid", "gid", "gecos", "home", "shell"),
    "group": ("name", "password", "gid", "members"),
    "shadow": ("name", "password", "last-change", "min-age", "max-age", "warn", "inactive", "expire",
               "reserved"),
    "gshadow": ("name", "password", "admins", "members"),
}
LABEL = {"passwd": "user", "group": "group", "shadow": "shadow entry", "gshadow": "gshadow entry"}
ID_FIELD = {"passwd": 2, "group": 2}
LOCAL_ONLY_FIELDS = {"passwd": (2, 3), "group": (2,)}
LIST_FIELDS = {"group": (3,), "gshadow": (2, 3)}
SECRET_FILES = ("shadow", "gshadow")
FOLLOWS = {"shadow": "passwd", "gshadow": "group"}
SYSTEM_ID_LIMIT = 1000
MAX_ID = 60000


@dataclass
class Table:
    """One account file: its lines, which lines are records, and the records by name."""

    lines: list[str]
    keys: list[str | None]
    records: dict[str, list[str]]


@dataclass
class AccountsResult:
    """Merged file texts, conflicts and notes (as (file, message)) and the ID maps."""

    texts: dict[str, str] = field(default_factory=dict)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    uid_map: dict[int, int] = field(default_factory=dict)
    gid_map: dict[int, int] = field(default_factory=dict)


def parse_table(text: str) -> Table:
    """Split an account file into lines; the first line for each name is its record."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    keys: list[str | None] = []
    records: dict[str, list[str]] = {}
    for line in lines:
        name = line.split(":", 1)[0]
        if not line.strip() or line.startswith("#") or name in records:
            keys.append(None)
            continue
        records[name] = line.split(":")
        keys.append(name)
    return Table(lines, keys, records)


def render_table(local: Table, merged: dict[str, list[str]]) -> str:
    """Local lines in their order with merged records, then the added records."""
    out = []
    for line, key in zip(local.lines, local.keys):
        if key is None:
            out.append(line)
        elif key in merged:
            out.append(":".join(merged[key]))
    out += [":".join(rec) for name, rec in merged.items() if name not in local.records]
    return "\n".join(out) + "\n" if out else ""


def _int(value: str) -> int | None:
    """A numeric ID, or None for an empty or non-numeric field."""
    return int(value) if value.isdigit() else None


class _Merge:
    """The merge of one account file, collecting into an AccountsResult."""

    def __init__(self, kind: str, base: Table | None, local: Table, new: Table, policy: str,
                 result: AccountsResult) -> None:
        """Remember the three sides of one file."""
        self.kind, self.base, self.local, self.new = kind, base, local, new
        self.policy, self.result = policy, result
        self.keep_local = policy == "keep-local"
        self.label = LABEL[kind]

    def conflict(self, message: str) -> None:
        """Record a conflict for this file."""
        self.result.conflicts.append((self.kind, message))

    def note(self, message: str) -> None:
        """Record a note for this file."""
        self.result.notes.append((self.kind, message))

    def records(self) -> tuple[dict[str, list[str]], list[str]]:
        """The merged records by name (local order first) and the names added from the new image."""
        merged: dict[str, list[str]] = {}
        for name, lrec in self.local.records.items():
            rec = self._local_name(name, lrec)
            if rec is not None:
                merged[name] = rec
        added = []
        for name, nrec in self.new.records.items():
            if name not in self.local.records and self._take_new_only(name, nrec):
                merged[name] = list(nrec)
                added.append(name)
        return merged, added

    def _local_name(self, name: str, lrec: list[str]) -> list[str] | None:
        """The merged record for a name present locally (None: dropped)."""
        nrec = self.new.records.get(name)
        brec = self.base.records.get(name) if self.base is not None else None
        if nrec is not None:
            return self._fields(name, brec, lrec, nrec)
        if brec is None:
            return list(lrec)
        if brec == lrec:
            self.note(f"{self.label} {name!r} was removed by the new image and is dropped")
            return None
        keep = self.keep_local
        self.conflict(f"{self.label} {name!r} changed locally but removed by the new image; "
                      f"{'kept' if keep else 'dropped'} ({self.policy})")
        return list(lrec) if keep else None

    def _take_new_only(self, name: str, nrec: list[str]) -> bool:
        """Whether a name only the new image has is added."""
        brec = self.base.records.get(name) if self.base is not None else None
        if brec is None:
            return True
        if brec == nrec:
            return False
        take = not self.keep_local
        self.conflict(f"{self.label} {name!r} was deleted locally but changed in the new image; "
                      f"{'restored from the new image' if take else 'stays deleted'} ({self.policy})")
        return take

    def _fields(self, name: str, brec: list[str] | None, lrec: list[str], nrec: list[str]) -> list[str]:
        """Merge one record present on both sides, field by field."""
        if lrec == nrec or self.base is None:
            return list(lrec)
        width = len(FIELD_NAMES[self.kind])
        if len(lrec) != width or len(nrec) != width or (brec is not None and len(brec) != width):
            return self._whole(name, brec, lrec, nrec)
        out = []
        for i, fname in enumerate(FIELD_NAMES[self.kind]):
            bf = brec[i] if brec is not None else None
            lf, nf = lrec[i], nrec[i]
            if i in LOCAL_ONLY_FIELDS.get(self.kind, ()):
                out.append(lf)
            elif i in LIST_FIELDS.get(self.kind, ()):
                out.append(merge_members(bf, lf, nf))
            elif lf == nf or nf == bf:
                out.append(lf)
            elif lf == bf:
                out.append(nf)
            else:
                out.append(lf if self.keep_local else nf)
                self.conflict(f"{self.label} {name!r}: {fname} changed locally and in the new image; "
                              f"kept the {'local' if self.keep_local else 'new'} value{self._values(lf, nf)}")
        return out

    def _whole(self, name: str, brec: list[str] | None, lrec: list[str], nrec: list[str]) -> list[str]:
        """Merge a malformed record as a whole line."""
        if brec == lrec:
            return list(nrec)
        if brec == nrec:
            return list(lrec)
        self.conflict(f"{self.label} {name!r} (malformed record) changed locally and in the new image; "
                      f"kept the {'local' if self.keep_local else 'new'} line")
        return list(lrec if self.keep_local else nrec)

    def _values(self, lf: str, nf: str) -> str:
        """' (local X, new Y)' for files without secrets."""
        if self.kind in SECRET_FILES:
            return ""
        return f" (local {lf!r}, new {nf!r})"


def merge_members(base: str | None, local: str, new: str) -> str:
    """Three-way merge of a comma-separated member list, keeping the local order first."""
    lset = [m for m in local.split(",") if m]
    nset = [m for m in new.split(",") if m]
    bset = [m for m in base.split(",") if m] if base is not None else []
    removed = set(bset) - set(nset)
    out = [m for m in lset if m not in removed]
    out += [m for m in nset if m not in bset and m not in out]
    return ",".join(out)


def _free_id(wanted: int, avoid: set[int]) -> int:
    """A free ID in the same range as wanted (system: highest below 1000; else lowest from 1000)."""
    system = wanted < SYSTEM_ID_LIMIT
    candidates = range(SYSTEM_ID_LIMIT - 1, 0, -1) if system else range(SYSTEM_ID_LIMIT, MAX_ID)
    for candidate in candidates:
        if candidate not in avoid:
            return candidate
    raise ImgbaseError(f"no free ID left for a new account wanting {wanted}; remove unused accounts")


def _assign_ids(m: _Merge, merged: dict[str, list[str]], added: list[str]) -> dict[int, int]:
    """Resolve ID collisions of added accounts and return the map new-image ID -> merged ID."""
    idx = ID_FIELD[m.kind]
    what = "uid" if m.kind == "passwd" else "gid"
    owners = {_int(rec[idx]): name for name, rec in merged.items() if name not in added}
    owners.pop(None, None)
    avoid = set(owners)
    for table in (m.local, m.new, m.base):
        if table is not None:
            avoid |= {_int(r[idx]) for r in table.records.values() if len(r) > idx} - {None}
    for name in added:
        wanted = _int(merged[name][idx]) if len(merged[name]) > idx else None
        if wanted is None:
            continue
        if wanted in owners:
            free = _free_id(wanted, avoid)
            avoid.add(free)
            merged[name][idx] = str(free)
            m.conflict(f"new {m.label} {name!r} wants {what} {wanted}, which local {m.label} "
                       f"{owners[wanted]!r} has; {owners[wanted]!r} keeps {wanted}, {name!r} gets {free}")
            wanted = free
        owners[wanted] = name
    return _id_map(m, merged, added, idx, what)


def _id_map(m: _Merge, merged: dict[str, list[str]], added: list[str], idx: int, what: str) -> dict[int, int]:
    """Map each new-image ID whose account ends up with another ID."""
    mapping: dict[int, int] = {}
    ambiguous: set[int] = set()
    for name, rec in merged.items():
        nrec = m.new.records.get(name)
        if nrec is None or len(nrec) <= idx or len(rec) <= idx:
            continue
        nid, fid = _int(nrec[idx]), _int(rec[idx])
        if nid is None or fid is None or nid == fid:
            continue
        if name not in added:
            m.note(f"{m.label} {name!r}: the new image has {what} {nid}, kept the local {fid}")
        if mapping.get(nid, fid) != fid:
            ambiguous.add(nid)
        mapping[nid] = fid
    for nid in ambiguous:
        del mapping[nid]
        m.note(f"{what} {nid} belongs to several accounts in the new image; its files are not re-owned")
    return mapping


def _follow(m: _Merge, merged: dict[str, list[str]], owner: dict[str, list[str]],
            owner_local: Table, owner_new: Table) -> None:
    """Make shadow/gshadow entries match the merged passwd/group names."""
    gone = (set(owner_local.records) | set(owner_new.records)) - set(owner)
    for name in [n for n in merged if n in gone]:
        del merged[name]
    for name in owner:
        if name not in merged:
            rec = m.local.records.get(name) or m.new.records.get(name)
            if rec is not None:
                merged[name] = list(rec)


def merge_account_texts(base: dict[str, str] | None, local: dict[str, str], new: dict[str, str],
                        policy: str = "keep-local") -> AccountsResult:
    """Merge the account files given as texts by name; only names in both local and new are merged.

    base None means there is no factory copy (local records win); a name missing from a
    present base counts as an empty file.
    """
    if policy not in ("keep-local", "keep-new"):
        raise ImgbaseError(f"unknown conflict policy {policy!r}; use keep-local or keep-new")
    result = AccountsResult()
    tables: dict[str, tuple[dict[str, list[str]], Table, Table]] = {}
    for kind in ("group", "passwd", "gshadow", "shadow"):
        if kind not in local or kind not in new:
            continue
        btab = parse_table(base.get(kind, "")) if base is not None else None
        ltab, ntab = parse_table(local[kind]), parse_table(new[kind])
        m = _Merge(kind, btab, ltab, ntab, policy, result)
        merged, added = m.records()
        if kind in ID_FIELD:
            mapping = _assign_ids(m, merged, added)
            (result.uid_map if kind == "passwd" else result.gid_map).update(mapping)
        if kind == "passwd":
            _remap_primary_groups(merged, added, result.gid_map)
        if kind in FOLLOWS and FOLLOWS[kind] in tables:
            owner, owner_local, owner_new = tables[FOLLOWS[kind]]
            _follow(m, merged, owner, owner_local, owner_new)
        tables[kind] = (merged, ltab, ntab)
        result.texts[kind] = render_table(ltab, merged)
    return result


def _remap_primary_groups(merged: dict[str, list[str]], added: list[str], gid_map: dict[int, int]) -> None:
    """Point added users at their primary group's merged GID."""
    for name in added:
        rec = merged[name]
        gid = _int(rec[3]) if len(rec) > 3 else None
        if gid is not None and gid in gid_map:
            rec[3] = str(gid_map[gid])


def read_account_files(directory: Path) -> dict[str, str]:
    """The account files that are regular files in directory, as text (undecodable bytes kept)."""
    out = {}
    for kind in ACCOUNT_FILES:
        path = Path(directory) / kind
        node = lstat_node(str(path))
        if node is not None and node.kind == FILE:
            out[kind] = path.read_bytes().decode("utf-8", "surrogateescape")
    return out


def merge_accounts(old_factory_dir: Path | None, old_etc: Path, new_etc: Path,
                   policy: str = "keep-local") -> AccountsResult:
    """Merge the account files of old_etc (local) and new_etc (new) against the old factory copy.

    old_factory_dir None means the old image has no factory copy.  Nothing is written: the
    caller writes result.texts (persist.apply_plan does).
    """
    base = read_account_files(old_factory_dir) if old_factory_dir is not None else None
    return merge_account_texts(base, read_account_files(old_etc), read_account_files(new_etc), policy)
