# SPDX-License-Identifier: GPL-2.0-or-later
"""outcome: the PXE installer's one-line result after anaconda-run (standard library only).

Installed in the live root as /usr/libexec/imgbased-installer/outcome; stage2 runs it after
anaconda-run.  It reads anaconda-run's JSON result, the kickstart and LVM's JSON reports and
prints anaconda's phase timings, then
  IMGBASED_INSTALL_OK layer=<layer> disk=<disk> after=<reboot|poweroff|none>
or
  IMGBASED_INSTALL_FAILED: <anaconda's error>
Exit code 0 for OK, 1 for FAILED.  The layer is the LV tagged imgbased:layer, the disk the one
holding its VG's physical volume.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

TAG_LAYER = "imgbased:layer"
POWER = {"reboot": "reboot", "poweroff": "poweroff", "shutdown": "poweroff", "halt": "none"}
OK, FAILED = "IMGBASED_INSTALL_OK", "IMGBASED_INSTALL_FAILED"


def power_action(ks_text: str) -> str:
    """What the kickstart asks for at the end: reboot, poweroff (also shutdown) or none (halt, nothing)."""
    action, section = "none", False
    for raw in ks_text.splitlines():
        words = shlex.split(raw, comments=True) if raw.strip() else []
        if not words:
            continue
        if words[0].startswith("%"):
            section = words[0] != "%end"
            continue
        if not section and words[0] in POWER:
            action = POWER[words[0]]
    return action


def _report_rows(report: dict[str, Any], kind: str) -> list[dict[str, str]]:
    """The rows of one `lvs`/`pvs --reportformat json` report."""
    return [row for part in report.get("report", []) for row in part.get(kind, [])]


def find_layer(lvs_report: dict[str, Any]) -> tuple[str, str] | None:
    """(VG, LV) of the LV tagged as an imgbased layer (the last by name if several), or None."""
    layers = sorted((row["vg_name"], row["lv_name"]) for row in _report_rows(lvs_report, "lv")
                    if TAG_LAYER in row.get("lv_tags", "").split(","))
    return layers[-1] if layers else None


def pv_of(pvs_report: dict[str, Any], vg: str) -> str | None:
    """The first physical volume of vg."""
    pvs = sorted(row["pv_name"] for row in _report_rows(pvs_report, "pv") if row.get("vg_name") == vg)
    return pvs[0] if pvs else None


def failure_reason(result: dict[str, Any] | None, exit_code: int) -> str:
    """One line saying why the install failed: anaconda's error as anaconda-run recorded it."""
    if result is None:
        return f"anaconda-run wrote no result (exit {exit_code}); see the console above"
    if result.get("error"):
        return " ".join(str(result["error"]).split())
    return f"anaconda stopped in phase {result.get('phase') or '?'} without an error message (exit {exit_code})"


def timings_line(result: dict[str, Any] | None) -> str:
    """anaconda-run's phase timings as one console line."""
    timings = (result or {}).get("timings") or {}
    started = (result or {}).get("phase_start") or {}
    order = sorted(timings, key=lambda name: started.get(name, float("inf")))
    return "imgbased-installer: anaconda timings: " + ", ".join(f"{k} {timings[k]}s" for k in order)


def ok_line(layer: str, disk: str, after: str) -> str:
    """The success marker."""
    return f"{OK} layer={layer} disk={disk} after={after}"


def _json_command(argv: list[str]) -> dict[str, Any]:
    """Run an LVM report command and parse its JSON ({} when it fails)."""
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        return json.loads(res.stdout) if res.returncode == 0 else {}
    except ValueError:
        return {}


def parent_disk(device: str) -> str:
    """The whole disk a partition belongs to (the device itself when it is one)."""
    res = subprocess.run(["lsblk", "-ndpo", "PKNAME", device], capture_output=True, text=True, check=False)
    parent = res.stdout.strip().splitlines()
    return parent[0] if res.returncode == 0 and parent and parent[0] else device


def read_result(path: Path) -> dict[str, Any] | None:
    """anaconda-run's JSON result, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def summarize(result: dict[str, Any] | None, exit_code: int, ks_text: str) -> tuple[bool, str]:
    """(installed, marker line) from the result and what LVM reports."""
    if exit_code != 0 or not result or not result.get("ok"):
        return False, f"{FAILED}: {failure_reason(result, exit_code)}"
    found = find_layer(_json_command(["lvs", "--reportformat", "json", "-o", "vg_name,lv_name,lv_tags"]))
    if found is None:
        return False, f"{FAILED}: anaconda finished but no LV is tagged {TAG_LAYER}: the addon did not adopt the root"
    pv = pv_of(_json_command(["pvs", "--reportformat", "json", "-o", "pv_name,vg_name"]), found[0])
    return True, ok_line(found[1], parent_disk(pv) if pv else "?", power_action(ks_text))


def main(argv: list[str] | None = None) -> int:
    """Print the timings and the marker line; 0 when installed."""
    p = argparse.ArgumentParser(prog="outcome", description=__doc__.splitlines()[0])
    p.add_argument("--result", required=True, type=Path, help="anaconda-run's JSON result")
    p.add_argument("--ks", required=True, type=Path, help="the kickstart")
    p.add_argument("--exit-code", type=int, default=0, help="anaconda-run's exit code")
    args = p.parse_args(argv)
    result = read_result(args.result)
    print(timings_line(result), flush=True)
    ok, line = summarize(result, args.exit_code, args.ks.read_text(errors="replace"))
    print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
