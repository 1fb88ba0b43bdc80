# SPDX-License-Identifier: GPL-2.0-or-later
"""Pure helpers for the benchmark report: number formats, ratios, tables and goals (no I/O)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MIB = 1 << 20


def fmt_seconds(value: float | None) -> str:
    """Render a duration: milliseconds precision below 10 s, tenths above."""
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def fmt_ratio(value: float | None) -> str:
    """Render a ratio as 1.07x ('-' when it could not be computed)."""
    return "-" if value is None else f"{value:.2f}x"


def fmt_mib(value: float | None) -> str:
    """Render a byte count in MiB with one decimal."""
    return "-" if value is None else f"{value / MIB:.1f} MiB"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that are present, or None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def median_ratio(pairs: Sequence[tuple[float | None, float | None]]) -> float | None:
    """Median of per-round ratios a/b: each round is compared with its own baseline."""
    return median([ratio(a, b) for a, b in pairs])


def _is_number_cell(text: str) -> bool:
    """True for cells that read as figures (right-aligned in tables)."""
    head = text.lstrip("+-~<>=")
    return bool(head) and head[0].isdigit()


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: figures right-aligned, words left-aligned, a rule under the header."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    sizes = [max(len(r[i]) for r in cells) for i in range(width)]

    def line(row: list[str]) -> str:
        """One padded table row."""
        parts = [c.rjust(sizes[i]) if _is_number_cell(c) and i else c.ljust(sizes[i])
                 for i, c in enumerate(row)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * s for s in sizes)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


@dataclass
class Goal:
    """One measured figure against its target: met when value <= limit (informational only)."""

    name: str
    value: float | None
    limit: float | None  # None: no goal, the figure is shown for reference
    unit: str = "x"  # "x" for a ratio, "s" for seconds
    target: str = ""  # how the goal is worded, e.g. "~1.0 (flat)"

    def met(self) -> bool | None:
        """True/False against the limit, None when the figure or the limit is missing."""
        if self.value is None or self.limit is None:
            return None
        return self.value <= self.limit

    def measured(self) -> str:
        """The value in its unit."""
        return fmt_seconds(self.value) if self.unit == "s" else fmt_ratio(self.value)

    def wanted(self) -> str:
        """The goal as written in the report."""
        if self.target:
            return self.target
        if self.limit is None:
            return "none (reference)"
        return f"< {fmt_seconds(self.limit)}" if self.unit == "s" else f"<= {self.limit:.2f}x"

    def verdict(self) -> str:
        """'meets', 'misses', 'not measured' or 'info' (no goal)."""
        if self.limit is None:
            return "info" if self.value is not None else "not measured"
        return {True: "meets", False: "misses", None: "not measured"}[self.met()]


@dataclass
class Section:
    """The printed result of one benchmark: text blocks and the goals it measured."""

    title: str
    blocks: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> None:
        """Append a table, with an optional caption line above it."""
        text = format_table(headers, rows)
        self.blocks.append(f"{caption}\n{text}" if caption else text)

    def note(self, text: str) -> None:
        """Append a free-text note."""
        self.blocks.append(text)

    def render(self) -> str:
        """The whole section as text."""
        bar = "=" * max(20, len(self.title) + 4)
        return "\n\n".join([f"{bar}\n  {self.title}\n{bar}", *self.blocks])


def summary(goals: Sequence[Goal], failed: Sequence[str] = ()) -> str:
    """The closing table of every goal with its measured figure and verdict."""
    rows = [[g.name, g.measured(), g.wanted(), g.verdict()] for g in goals]
    text = format_table(["figure", "measured", "goal", "verdict"], rows)
    if failed:
        text += "\n\nbenchmarks that broke (no figures): " + ", ".join(failed)
    return text


def growth(by_size: dict[int, dict[str, float | None]]) -> list[tuple[str, float]]:
    """Per step, the time added from the smallest to the largest size, biggest first."""
    if len(by_size) < 2:
        return []
    small, large = by_size[min(by_size)], by_size[max(by_size)]
    rows = [(step, large[step] - small[step]) for step in small
            if small.get(step) is not None and large.get(step) is not None]
    return sorted(rows, key=lambda item: item[1], reverse=True)
