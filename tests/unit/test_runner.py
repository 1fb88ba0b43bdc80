# SPDX-License-Identifier: GPL-2.0-or-later
"""The one command runner: environment policy, output that is not UTF-8, dry mode."""

from __future__ import annotations

import io

import pytest

from org_ovirt_imgbased.runner import Runner


def test_commands_run_in_the_c_locale_with_the_callers_additions(monkeypatch):
    """LC_ALL=C for every command (parsed output never depends on the operator's language)."""
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    out = Runner().run(["sh", "-c", 'echo "$LC_ALL $EXTRA"'], env={"EXTRA": "x"}).stdout
    assert out == "C x\n"


def test_output_that_is_not_utf8_is_read_not_fatal():
    """A tool printing Latin-1 (a label, an os-release) gives text with a replacement character."""
    res = Runner().run(["printf", "caf\\351\\n"])
    assert res.stdout == "caf\ufffd\n"


def test_dry_mode_prints_changes_and_runs_queries():
    """Changes are printed as a plan; read-only queries still run."""
    out = io.StringIO()
    runner = Runner(dry=True, out=out)
    assert runner.run(["false"]).returncode == 0
    assert runner.query(["echo", "real"]) == "real\n"
    assert out.getvalue() == "dry: false\n"


def test_write_beneath_a_root_follows_no_symlink(tmp_path):
    """write_file(beneath=root) refuses a symlinked directory on the way and writes inside otherwise."""
    import pytest

    from org_ovirt_imgbased.errors import ImgbaseError

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (root / "etc/imgbased").symlink_to(outside)
    with pytest.raises(ImgbaseError, match="/etc/imgbased in .* is a symlink"):
        Runner().write_file(root / "etc/imgbased/report", "x", beneath=root, make_dirs=True)
    assert list(outside.iterdir()) == []
    Runner().write_file(root / "etc/new/conf", "ok\n", mode=0o600, beneath=root, make_dirs=True)
    assert (root / "etc/new/conf").read_text() == "ok\n" and (root / "etc/new/conf").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (root / "etc/new").iterdir()) == ["conf"]


def test_copy_file_is_durable_under_its_final_name(tmp_path, monkeypatch):
    """A copy lands whole under its name (temporary copy, rename) and its directory is fsynced."""
    src = tmp_path / "vmlinuz"
    src.write_bytes(b"kernel")
    src.chmod(0o644)
    synced: list[str] = []
    monkeypatch.setattr("org_ovirt_imgbased.runner.fsync_dir", lambda path, missing_ok=False: synced.append(str(path)))
    runner = Runner()
    runner.makedirs(tmp_path / "boot" / "Base-1.1")
    assert synced == [str(tmp_path), str(tmp_path / "boot")]  # each new directory's entry in its parent
    runner.copy_file(src, tmp_path / "boot" / "Base-1.1" / "vmlinuz")
    assert (tmp_path / "boot/Base-1.1/vmlinuz").read_bytes() == b"kernel"
    assert sorted(p.name for p in (tmp_path / "boot/Base-1.1").iterdir()) == ["vmlinuz"]
    assert synced[-1] == str(tmp_path / "boot" / "Base-1.1")


def test_a_failed_copy_leaves_nothing(tmp_path):
    """A copy that fails midway leaves neither the final name nor the temporary copy."""
    with pytest.raises(OSError):
        Runner().copy_file(tmp_path / "missing", tmp_path / "vmlinuz")
    assert list(tmp_path.iterdir()) == []
