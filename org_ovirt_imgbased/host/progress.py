# SPDX-License-Identifier: GPL-2.0-or-later
"""Progress of a transfer on a terminal: bytes done of total, rate and time left, on one line."""

from __future__ import annotations

import sys
import time
from typing import Callable

from org_ovirt_imgbased.units import human


class Progress:
    """One updating line on a terminal (stderr): bytes done of total, rate, time left; silent otherwise."""

    def __init__(self, name: str, stream=None, interval: float = 0.25, clock: Callable[[], float] = time.monotonic,
                 enabled: bool | None = None) -> None:
        """Report for name on stream (stderr) at most once per interval; enabled defaults to stream.isatty()."""
        self.name, self.stream, self.interval, self.clock = name, stream or sys.stderr, interval, clock
        self.enabled = bool(getattr(self.stream, "isatty", bool)()) if enabled is None else enabled
        self.total: int | None = None
        self.first = self.done = 0
        self.began = self.shown = 0.0
        self._width = 0

    def start(self, total: int | None, done: int = 0) -> None:
        """Begin counting at done bytes (those already there) of total (None: unknown)."""
        self.total, self.first, self.done = total, done, done
        self.began = self.clock()
        self.shown = self.began - self.interval

    def update(self, done: int) -> None:
        """Note that done bytes are there; redraw the line when the interval has passed."""
        self.done = done
        if self.enabled and self.clock() - self.shown >= self.interval:
            self._draw()

    def end(self) -> None:
        """Draw the last state and end the line (when anything was drawn)."""
        if self.enabled:
            self._draw()
            print(file=self.stream, flush=True)

    def rate(self) -> float:
        """Bytes per second read since start (the bytes already there not counted)."""
        elapsed = self.clock() - self.began
        return (self.done - self.first) / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict:
        """A JSON-able account of the transfer (for --json)."""
        return {"name": self.name, "done": self.done, "total": self.total, "resumed_from": self.first,
                "seconds": round(self.clock() - self.began, 3), "bytes_per_second": round(self.rate())}

    def _draw(self) -> None:
        """Rewrite the line in place (\\r), padded over a longer previous one."""
        self.shown = self.clock()
        rate = self.rate()
        text = f"{self.name}: {human(self.done)}"
        if self.total:
            text += f" of {human(self.total)} ({100 * self.done // self.total}%)"
        text += f", {human(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", {duration((self.total - self.done) / rate)} left"
        print(f"\r{text.ljust(self._width)}", end="", file=self.stream, flush=True)
        self._width = len(text)


def duration(seconds: float) -> str:
    """A time left as people read it: '45 s', '3 min 20 s', '1 h 05 min'."""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
