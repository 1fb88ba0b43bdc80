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


# --- feed: a command whose stdin is written in pieces -----------------------------------------

def test_feed_streams_stdin_and_returns_the_result():
    """Pieces written to the feed reach the command's stdin in order; the Result holds its output."""
    with Runner().feed(["sh", "-c", "wc -c; echo done >&2"]) as feed:
        for piece in (b"abc", b"", b"d" * 100_000):
            feed.write(piece)
    assert feed.result.returncode == 0 and feed.result.stdout.strip() == "100003"
    assert feed.result.stderr == "done\n"


def test_feed_does_not_deadlock_on_a_chatty_command():
    """A command echoing megabytes to stdout and stderr while it is fed never blocks the writer."""
    with Runner().feed(["sh", "-c", "tee /dev/stderr"], readonly=True) as feed:
        for _ in range(40):
            feed.write(b"y" * 100_000)
    assert len(feed.result.stdout) == len(feed.result.stderr) == 4_000_000


def test_feed_keeps_the_error_of_a_command_that_exits_early():
    """Writes after the command stopped reading are dropped (no BrokenPipeError); its error is raised."""
    from org_ovirt_imgbased.errors import CommandError

    feed = Runner().feed(["sh", "-c", "echo 'gpgv: no valid OpenPGP data found' >&2; exit 2"])
    for _ in range(50):
        feed.write(b"z" * 65536)
    assert feed.stopped_reading
    with pytest.raises(CommandError, match=r"sh failed \(exit 2\): gpgv: no valid OpenPGP data found"):
        feed.finish()
    unchecked = Runner().feed(["sh", "-c", "exit 3"], check=False)
    unchecked.write(b"x" * 1_000_000)
    assert unchecked.finish().returncode == 3


def test_feed_kill_on_an_exception_in_the_block():
    """An exception inside the with-block kills the command and propagates; no CommandError hides it."""
    with pytest.raises(KeyError), Runner().feed(["sleep", "30"]) as feed:
        raise KeyError("download failed")
    assert feed.result.returncode == -9


def test_feed_in_dry_mode_prints_the_plan_and_discards_writes(tmp_path):
    """A changing command is only printed; a readonly one still runs."""
    out = io.StringIO()
    runner = Runner(dry=True, out=out)
    with runner.feed(["dd", f"of={tmp_path / 'x'}"]) as feed:
        feed.write(b"data")
    assert feed.result.returncode == 0 and not (tmp_path / "x").exists()
    assert out.getvalue() == f"dry: dd of={tmp_path / 'x'}\n"
    with runner.feed(["cat"], readonly=True) as feed:
        feed.write(b"real")
    assert feed.result.stdout == "real"


def test_feed_of_a_missing_program_is_one_line():
    """A program that is not installed is the same one-line error as run gives."""
    from org_ovirt_imgbased.errors import ImgbaseError

    with pytest.raises(ImgbaseError, match="^no-such-tool-xyz is not installed; install the package"):
        Runner().feed(["no-such-tool-xyz"])
