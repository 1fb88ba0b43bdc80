# SPDX-License-Identifier: GPL-2.0-or-later
"""The one command runner: environment policy, output that is not UTF-8, dry mode."""

from __future__ import annotations

import io

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
