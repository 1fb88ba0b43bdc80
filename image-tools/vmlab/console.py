# SPDX-License-Identifier: GPL-2.0-or-later
"""A running qemu process with its serial console captured and searchable."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .common import VmError


class ConsoleVM:
    """Run qemu with -serial stdio, record the console and let callers wait on it."""

    def __init__(self, cmd: list[str], log_path: Path | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        """Prepare (not start) a VM from its full qemu command line."""
        self.cmd = cmd
        self.log_path = log_path
        self.echo = echo
        self.text = ""
        self.stderr = ""
        self._cond = threading.Condition()
        self._proc: subprocess.Popen | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> ConsoleVM:
        """Start qemu and the console reader threads."""
        log = open(self.log_path, "w") if self.log_path else None  # noqa: SIM115
        self._proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=self._read_console, args=(log,), daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def _read_console(self, log) -> None:
        """Append console output to self.text as it arrives."""
        fd = self._proc.stdout.fileno()
        pending_cr = False
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunk = data.decode("utf-8", "replace")
            if pending_cr:
                chunk = "\r" + chunk
            pending_cr = chunk.endswith("\r")
            if pending_cr:
                chunk = chunk[:-1]
            chunk = chunk.replace("\r\n", "\n")
            if log:
                log.write(chunk)
                log.flush()
            with self._cond:
                self.text += chunk
                self._cond.notify_all()
            if self.echo:
                self.echo(chunk)
        if log:
            log.close()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        """Keep qemu's own error output for the failure message."""
        for line in self._proc.stderr:
            self.stderr += line.decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        """True while qemu has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match:
        """Wait until pattern appears in a complete console line after offset start.

        A line still being written is not searched (``(.*)$`` would capture only the part that
        has arrived), except once qemu's output has ended.
        """
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                output_ended = not self._threads[0].is_alive()
                text = self.text if output_ended else self.text[:self.text.rfind("\n") + 1]
                m = rx.search(text, start)
                if m:
                    return m
                if output_ended and not self.running:
                    raise VmError(f"VM exited before printing {pattern!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VmError(f"timed out after {timeout:.0f}s waiting for {pattern!r}")
                self._cond.wait(min(left, 1.0))

    def wait(self, timeout: float | None) -> int:
        """Wait for qemu to exit and return its exit status."""
        try:
            rc = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise VmError(f"timed out after {timeout:.0f}s") from None
        for t in self._threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        """Stop qemu at once, like pulling the power cord."""
        if self.running:
            self._proc.kill()
            self._proc.wait()
        for t in self._threads:
            t.join(5)
