# SPDX-License-Identifier: GPL-2.0-or-later
"""recover goes on past an unreadable journal, and finishes a committed journal whose VG is gone."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from org_ovirt_imgbased.errors import CommandError
from org_ovirt_imgbased.host import recover, txn
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.runner import Result
from tests.fakes import FakeRunner


def _report(key: str, rows: list[dict]) -> str:
    """An lvm JSON report with the given rows."""
    return json.dumps({"report": [{key: rows}]})


def _lv_row(name: str, vg: str, tags: str) -> dict:
    """One lvs row of a thin LV."""
    return {"lv_name": name, "vg_name": vg, "lv_attr": "Vwi-a-tz--", "lv_size": "1073741824",
            "pool_lv": "pool00", "origin": "", "lv_tags": tags, "vg_tags": "", "data_percent": "",
            "metadata_percent": "", "lv_metadata_size": "", "lv_skip_activation": "",
            "lv_kernel_major": "", "lv_kernel_minor": "", "lv_profile": "", "lv_time": ""}


class VgRunner(FakeRunner):
    """A fake where only HostVG exists: `lvs GoneVG` fails as lvm2 does."""

    def run(self, argv, **kwargs) -> Result:
        """Fail lvs of a VG that is gone; answer the rest from the replies."""
        argv = [str(a) for a in argv]
        if argv[0] == "lvs" and argv[-1] == "GoneVG":
            self.calls.append((argv, {}))
            raise CommandError(argv, 5, '  Volume group "GoneVG" not found')
        return super().run(argv, **kwargs)


def _setup(tmp_path, monkeypatch) -> tuple[Context, VgRunner, Path]:
    """A context with its own lock, run directory, cmdline and journal directory."""
    monkeypatch.setenv("IMGBASED_LOCK", str(tmp_path / "lock"))
    monkeypatch.setenv("IMGBASED_RUN_DIR", str(tmp_path / "run"))
    (tmp_path / "cmdline").write_text("root=/dev/HostVG/Base-0.1\n")
    runner = VgRunner(replies={
        "vgs": _report("vg", [{"vg_name": "HostVG", "vg_tags": "imgbased:vg", "vg_size": "10",
                               "vg_free": "0", "vg_extent_size": "4194304"}]),
        "lvs": _report("lv", [_lv_row("Base-1", "HostVG", "imgbased:base,imgbased:txn=2-good")]),
    })
    jdir = tmp_path / "journal"
    jdir.mkdir()
    ctx = Context(runner=runner, journal_dir=jdir, manage_boot=False, boot_dir=tmp_path / "noboot",
                  cmdline=tmp_path / "cmdline")
    return ctx, runner, jdir


def _write(jdir: Path, journal: txn.Journal) -> Path:
    """Write a journal file as a Transaction does."""
    path = jdir / f"{journal.id}.json"
    path.write_text(json.dumps(asdict(journal)))
    return path


def test_unreadable_journal_does_not_stop_the_others(tmp_path, monkeypatch):
    """The broken journal is reported (file and what to do); the next one is still undone."""
    ctx, runner, jdir = _setup(tmp_path, monkeypatch)
    bad = jdir / "1-bad.json"
    bad.write_text("{truncated")
    good = _write(jdir, txn.Journal("2-good", "base-add", "HostVG", lvs=["Base-1"]))
    result = recover.recover(ctx)
    assert ["lvremove", "-q", "-f", "HostVG/Base-1"] in runner.commands()
    assert not good.exists()
    assert bad.exists()  # never deleted: the operator decides
    problem = next(p for p in result.problems if str(bad) in p)
    assert "unreadable" in problem and "imgbase recover" in problem and "\n" not in problem
    assert any(str(bad) in f.what for f in result.findings)


def test_lvs_of_an_unreadable_journal_are_not_removed_as_orphans(tmp_path, monkeypatch):
    """An LV tagged by the unreadable journal's transaction is kept, not taken for an orphan."""
    ctx, runner, jdir = _setup(tmp_path, monkeypatch)
    (jdir / "2-good.json").write_text("not json")
    recover.recover(ctx)
    assert not any(c[0] == "lvremove" for c in runner.commands())


def test_committed_journal_whose_vg_is_gone_is_finished(tmp_path, monkeypatch):
    """The VG went away after the point of no return: the journal is dropped and reported, recover goes on."""
    ctx, runner, jdir = _setup(tmp_path, monkeypatch)
    gone = _write(jdir, txn.Journal("1-done", "install", "GoneVG", step="boot", committed=True))
    good = _write(jdir, txn.Journal("2-good", "base-add", "HostVG", lvs=["Base-1"]))
    result = recover.recover(ctx)
    assert not gone.exists() and not good.exists()
    assert any("GoneVG" in f.what and "drop" in f.action for f in result.findings)
    assert ["lvremove", "-q", "-f", "HostVG/Base-1"] in runner.commands()


def test_listing_keeps_the_journal_whose_vg_is_gone(tmp_path, monkeypatch):
    """recover --list only says what it would do."""
    ctx, _runner, jdir = _setup(tmp_path, monkeypatch)
    gone = _write(jdir, txn.Journal("1-done", "install", "GoneVG", committed=True))
    result = recover.recover(ctx, listing=True)
    assert gone.exists()
    assert "would drop its journal" in result.render()


def test_a_journal_whose_undo_fails_is_kept_and_the_next_is_recovered(tmp_path, monkeypatch):
    """An OSError while undoing one journal is a problem naming it; that journal stays, the next is undone."""
    ctx, runner, jdir = _setup(tmp_path, monkeypatch)
    first = _write(jdir, txn.Journal("1-boot", "layer-add", "HostVG", undo=[{"boot-remove": "Base-0.2"}],
                                     boot_dir=str(tmp_path)))
    good = _write(jdir, txn.Journal("2-good", "base-add", "HostVG", lvs=["Base-1"]))

    def broken(*_args, **_kwargs):
        raise OSError(30, "Read-only file system", str(tmp_path / "Base-0.2"))
    monkeypatch.setattr(recover.boot, "remove_layer", broken)
    result = recover.recover(ctx)
    assert first.exists() and not good.exists()
    assert ["lvremove", "-q", "-f", "HostVG/Base-1"] in runner.commands()
    problem = next(p for p in result.problems if "1-boot" in p)
    assert "Read-only file system" in problem and str(first) in problem and "imgbase recover" in problem


def _boot_with_entries(boot: Path, layers: list[str]) -> None:
    """A /boot holding each layer's kernel directory and BLS entry."""
    (boot / "loader/entries").mkdir(parents=True)
    for layer in layers:
        (boot / layer).mkdir()
        (boot / layer / "vmlinuz-6.1").write_text("k")
        (boot / f"loader/entries/imgbased-{layer}.conf").write_text(
            f"title imgbased {layer}\nlinux /{layer}/vmlinuz-6.1\noptions root=/dev/HostVG/{layer}\n")


def test_a_removal_stopped_after_lvremove_gets_its_boot_entry_removed(tmp_path, monkeypatch):
    """boot-orphan: the entry of a layer whose LV is gone is removed; that of a layer still there is kept."""
    ctx, runner, jdir = _setup(tmp_path, monkeypatch)
    boot = tmp_path / "boot"
    _boot_with_entries(boot, ["Base-0.1", "Base-1.1"])
    monkeypatch.setattr(recover.boot, "regenerate_config", lambda runner, boot_dir: None)
    runner.replies["lvs"] = _report("lv", [_lv_row("Base-1.1", "HostVG", "imgbased:layer")])
    journal = txn.Journal("3-remove", "remove", "HostVG", step="remove-Base-0.1", boot_dir=str(boot),
                          undo=[{"boot-orphan": "Base-1.1"}, {"boot-orphan": "Base-0.1"}])
    path = _write(jdir, journal)
    recover.recover(ctx)
    assert not (boot / "loader/entries/imgbased-Base-0.1.conf").exists() and not (boot / "Base-0.1").exists()
    assert (boot / "loader/entries/imgbased-Base-1.1.conf").exists() and (boot / "Base-1.1").is_dir()
    assert not path.exists()
