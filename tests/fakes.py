# SPDX-License-Identifier: GPL-2.0-or-later
"""The one recording fake of the Runner, and a Context around it, for tests that need no real tools.

``FakeRunner`` is a real ``Runner`` (so dry mode, planning and the file operations behave as in
production) whose ``run`` records each command instead of executing it and answers with canned
output.  Fakes are for logic only: anything about LVM, /boot or booting is proven in tests/vm
and tests/e2e.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.runner import Result, Runner


class FakeRunner(Runner):
    """Records commands (argv and extra env) and answers them; can fail the Nth file copy."""

    def __init__(self, dry: bool = False, replies: Mapping[str, str] | None = None,
                 fail_copy_at: int | None = None) -> None:
        """replies maps a command name to its stdout; fail_copy_at makes that copy_file call fail."""
        super().__init__(dry=dry)
        self.calls: list[tuple[list[str], dict]] = []
        self.replies = dict(replies or {})
        self.fail_copy_at = fail_copy_at
        self.copies = 0

    def run(self, argv: Sequence[str], *, check: bool = True, readonly: bool = False, input: str | None = None,
            env: Mapping[str, str] | None = None, capture: bool = True, timeout: float | None = None) -> Result:
        """Record the command and return the canned stdout for its program (empty by default)."""
        argv = [str(a) for a in argv]
        self.calls.append((argv, dict(env or {})))
        return Result(argv, 0, self.replies.get(argv[0], ""), "")

    def commands(self) -> list[list[str]]:
        """The recorded argument lists, in order."""
        return [argv for argv, _env in self.calls]

    def copy_file(self, src, dst) -> None:
        """Copy for real, except that call number fail_copy_at fails like a full disk."""
        self.copies += 1
        if self.copies == self.fail_copy_at:
            raise OSError(28, "No space left on device")
        super().copy_file(src, dst)


def fake_context(layout: Layout, dry: bool = False, manage_boot: bool = False) -> Context:
    """A Context over a FakeRunner whose layout() is the given one."""
    ctx = Context(runner=FakeRunner(dry), manage_boot=manage_boot)
    ctx.layout = lambda: layout  # type: ignore[method-assign]
    return ctx
