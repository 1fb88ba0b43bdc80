# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase check`'s staging group: downloaded images waiting to be applied, and what is amiss there."""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.host import staging
from org_ovirt_imgbased.host.check.report import OK, WARNING, Finding
from org_ovirt_imgbased.units import human


def check_staging(directory: Path) -> list[Finding]:
    """One finding per staged image and interrupted download; a warning per broken or stray file."""
    if not Path(directory).is_dir():
        return [Finding("staging", "downloads", OK, f"no staged downloads ({directory} does not exist)")]
    findings = [Finding("staging", s.name, OK, f"staged {s.name} version {s.version} ({human(s.size)}"
                        f"{', signed by ' + s.signer if s.signer else ''}): `imgbase update` applies it")
                for s in staging.list_staged(directory)]
    findings += [Finding("staging", p.name, WARNING, f"interrupted download of {p.url or p.name}: "
                         f"{human(p.present)}{' of ' + human(p.expected_size) if p.expected_size else ''}; "
                         "rerun the same `imgbase update` to resume it")
                 for p in staging.partials(directory)]
    findings += [Finding("staging", "files", WARNING, problem) for problem in staging.problems(directory)]
    return findings or [Finding("staging", "downloads", OK, "no staged downloads")]
