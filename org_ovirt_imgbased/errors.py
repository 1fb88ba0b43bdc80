# SPDX-License-Identifier: GPL-2.0-or-later
"""The one exception type the library raises for expected failures."""

from __future__ import annotations

from org_ovirt_imgbased.redact import redact


class ImgbaseError(Exception):
    """An expected failure, carrying a one-line message that says what to do.

    The CLI prints ``imgbase: error: <message>`` and exits non-zero; it never
    shows a traceback for this type.  ``detail`` holds extra text (a
    command's full stderr, for example) shown only with ``--debug``.  The
    credentials of any URL in either are masked.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        """Keep the one-line message and optional debug detail."""
        super().__init__(redact(message))
        self.detail = redact(detail)


# stderr lines that never say why a command failed (lvm2's notes, util-linux's hint)
NOISE = ("WARNING", "dmesg(1) may have", "Udev is running and DM_DISABLE_UDEV")


class CommandError(ImgbaseError):
    """An external command exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        """Summarise the failed command in one line."""
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        useful = [ln for ln in lines if not ln.startswith(NOISE)]
        reason = (useful or lines or ["no error output"])[0]
        super().__init__(f"{argv[0]} failed (exit {returncode}): {reason}",
                         detail=f"command: {' '.join(argv)}\n{stderr}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class CommandTimeout(ImgbaseError):
    """An external command ran longer than its time limit and was killed (with its process group)."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        """Name the command and the limit in one line."""
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s and was killed",
                         detail=f"command: {' '.join(argv)}")
        self.argv = argv
        self.timeout = timeout
