# SPDX-License-Identifier: GPL-2.0-or-later
"""The result model of `imgbase check`: findings (OK, WARNING, FAILED) and the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass

OK, WARNING, FAILED = "OK", "WARNING", "FAILED"
GROUPS = ("storage", "thin", "boot", "mounts")


@dataclass
class Finding:
    """The outcome of one check: its group, what was checked, the status and a one-line reason."""

    group: str
    name: str
    status: str
    reason: str


@dataclass
class CheckReport:
    """Every finding of one `imgbase check` run."""

    vg: str
    findings: list[Finding]

    def count(self, status: str) -> int:
        """How many findings have status."""
        return sum(1 for f in self.findings if f.status == status)

    @property
    def status(self) -> str:
        """FAILED if any check failed, else OK (warnings do not fail)."""
        return FAILED if self.count(FAILED) else OK

    @property
    def failed(self) -> bool:
        """True when at least one check failed."""
        return self.status == FAILED

    def to_dict(self) -> dict:
        """A JSON-ready description, grouped in GROUPS order."""
        groups: dict[str, list[dict]] = {g: [] for g in GROUPS}
        for f in self.findings:
            groups.setdefault(f.group, []).append({k: v for k, v in asdict(f).items() if k != "group"})
        return {"vg": self.vg, "status": self.status, "problems": self.count(FAILED),
                "warnings": self.count(WARNING), "groups": groups}

    def render(self) -> str:
        """One line per check, then a summary and the final ``Status:`` line."""
        lines = [f"{f.status:<7} {f.group}: {f.name}: {f.reason}" for f in self.findings]
        lines.append(f"{self.count(FAILED)} problem(s), {self.count(WARNING)} warning(s) in {self.vg}")
        lines.append(f"Status: {self.status}")
        return "\n".join(lines)


def finding(group: str, name: str, problems: list[str], ok: str, status: str = FAILED) -> Finding:
    """A finding of status listing problems when there are any, else an OK one with reason ok."""
    if problems:
        return Finding(group, name, status, "; ".join(problems))
    return Finding(group, name, OK, ok)
