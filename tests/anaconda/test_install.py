# SPDX-License-Identifier: GPL-2.0-or-later
"""The real anaconda 38 installs the test image with the addon: five runs, one VM boot.

(f) the interactive text UI from kickstarts/interactive.ks (the admin picks the disk in
Installation Destination and the image in our spoke, then begins) must install, and the addon
must have adopted anaconda's root as Base-0 + Base-0.1 with its boot entry.  The unattended
kickstart install of the explicit HostVG layout runs in tests/e2e/test_pxe.py: anaconda from
the network, then a boot checking the root and the data volumes.  (c) an unattended
(`cmdline`) kickstart with only the %addon section, (d) a non-thin root and (e) an unknown
%addon option must be refused while the kickstart is read, naming the line, with the disk
untouched.  (g) the text UI with our spoke left incomplete: the hub refuses to begin and says
why; nothing is written.
"""

from __future__ import annotations

import re

import pytest

from tests.anaconda import checks, plan

pytestmark = pytest.mark.anaconda

TUI = plan.TUI_KEPT
INSTALLED = [TUI]


def _why(result: dict) -> str:
    """One line on how the run went, for assertion messages."""
    return f"phase {result.get('phase')}: {result.get('error')}"


@pytest.mark.parametrize("result", INSTALLED, indirect=True)
def test_install_finished(result):
    """anaconda ran every phase through RunInstallationTask to the end."""
    assert result["ok"] and result["phase"] == "done", _why(result)
    phases = {"ui-setup", "ui"} if result.get("mode") == "text" else {"storage-scan", "partitioning", "install"}
    assert set(result["timings"]) >= {"launcher", "kickstart"} | phases, result["timings"]


@pytest.mark.parametrize("result", INSTALLED, indirect=True)
def test_vg_and_base_and_layer_tagged(result):
    """The VG is tagged imgbased:vg; Base-0 is read-only, skips activation, tagged as a base of an image."""
    vg = checks.imgbased_vg(result)
    assert vg, f"no VG tagged imgbased:vg: {result.get('inspect', {}).get('vgs')} ({_why(result)})"
    base = checks.lv(result, "Base-0")
    assert base, f"no LV Base-0 in {[r['lv_name'] for r in result['inspect']['lvs']]}"
    base_tags = checks.tags(base["lv_tags"])
    assert "imgbased:base" in base_tags and any(t.startswith("imgbased:image=") for t in base_tags), base
    assert base["lv_permissions"] == "read-only", base
    assert base["lv_skip_activation"] in ("skip activation", "true", "1"), base
    layer = checks.lv(result, checks.LAYER)
    assert layer and "imgbased:layer" in checks.tags(layer["lv_tags"]), layer
    assert layer["pool_lv"] and base["pool_lv"] == layer["pool_lv"], (base, layer)


@pytest.mark.parametrize("result", INSTALLED, indirect=True)
def test_layer_boots_by_default(result):
    """A BLS entry boots Base-0.1 and grubenv's saved_entry names it."""
    vg = checks.imgbased_vg(result) or "?"
    boot = result.get("inspect", {}).get("boot") or {}
    entry = checks.layer_entry(result, vg)
    assert entry, f"no entry for {vg}/{checks.LAYER} in {sorted(boot.get('loader/entries') or {})}"
    env = checks.grubenv_vars(boot.get("grub/grubenv"))
    assert env.get("saved_entry") == entry, (env, entry)


@pytest.mark.parametrize("result", INSTALLED, indirect=True)
def test_layer_fstab_names_the_layer(result):
    """Base-0.1's /etc/fstab mounts / from Base-0.1 itself."""
    vg = checks.imgbased_vg(result) or "?"
    fstab = checks.layer_fstab(result, vg)
    assert fstab is not None, f"cannot read {vg}/{checks.LAYER}'s /etc/fstab ({_why(result)})"
    roots = [dev for dev, mnt in checks.fstab_entries(fstab) if mnt == "/"]
    assert len(roots) == 1 and checks.names_lv(roots[0], vg, checks.LAYER), fstab


@pytest.mark.parametrize("result", ["d-not-thin"], indirect=True)
def test_non_thin_root_refused_with_disk_untouched(result):
    """(d): refused before anything is written: no partition table, no PV, no VG, same bytes."""
    assert not result["ok"], "a non-thin root was installed"
    assert result["phase"] in ("kickstart", "storage-scan", "payload-setup", "partitioning"), _why(result)
    assert re.search(r"thin", result["error"] or "", re.I), _why(result)
    assert checks.disk_untouched(result) == []


@pytest.mark.parametrize("result, words", [
    ("e-bad-addon-option", "no-such-option"),  # (e) an unknown %addon option
    ("c-addon-only", "autopart --type=thinp"),  # (c) cmdline, no layout: the line to add
], indirect=["result"])
def test_kickstart_refusal_quotes_the_addon_line(result, words, request):
    """(c), (e): refused while reading; the error quotes the %addon line (anaconda prints no number)."""
    ks = (plan.KICKSTARTS / f"{request.node.callspec.params['result']}.ks").read_text()
    assert not result["ok"] and result["phase"] == "kickstart", _why(result)
    error = result["error"] or ""
    header = ks.splitlines()[plan.addon_line(ks) - 1].strip()
    assert words in error and f"(in `{header}`)" in error, error
    assert checks.disk_untouched(result) == []


def _steps(result: dict) -> list[dict]:
    """The text UI steps the driver saw, failing on the first one not met."""
    steps = result.get("dialog") or []
    missed = [s for s in steps if not s["met"]]
    assert steps and not missed, f"{_why(result)}; last screen:\n{(missed or steps or [{}])[-1].get('screen', '')}"
    return steps


@pytest.mark.parametrize("result", [TUI], indirect=True)
def test_text_ui_hub_shows_our_spoke_beside_anacondas(result):
    """(f): the hub lists Installation Destination and Image-based host; thin LVM is the preselected scheme."""
    steps = _steps(result)
    # The hub draws two columns and wraps each: look for words, not sentences.
    hub = next(s["screen"] for s in steps if "Image-based host" in s["screen"] and "Installation Destination"
               in s["screen"] and "Automatic partitioning" in s["screen"])
    assert "Base-0 from file://" in hub, hub  # our status line: the image the kickstart named
    assert any("[x] LVM Thin Provisioning" in s["screen"] for s in steps), "the drop-in's scheme was not preselected"


@pytest.mark.parametrize("result", [TUI], indirect=True)
def test_text_ui_writes_nothing_before_begin(result):
    """(f): the disk is as blank when the admin types b as before anaconda started."""
    steps = _steps(result)
    at_begin = [s["disk"] for s in steps if "disk" in s][-1]
    assert at_begin == result["disk_before"], (at_begin, result["disk_before"])
    assert result["disk_before"]["head_zero"] and result["disk_before"]["partitions"] is None


@pytest.mark.parametrize("result", [TUI], indirect=True)
def test_text_ui_automatic_thin_layout_and_chosen_image(result):
    """(f): anaconda's automatic thin layout (data volumes off the root) and the image chosen in our spoke."""
    vg = checks.imgbased_vg(result)
    lvs = {r["lv_name"]: r for r in result["inspect"]["lvs"] if r["vg_name"] == vg}
    thin = sorted(name for name, r in lvs.items() if r["pool_lv"] and name not in ("Base-0", checks.LAYER))
    assert "var" in thin and "var_log" in thin, lvs
    base_tags = checks.tags(checks.lv(result, "Base-0")["lv_tags"])
    # The kickstart named v2; the admin chose v1 and its checksum in our spoke.
    assert "imgbased:image=imgbased-test-1" in base_tags, base_tags
    typed = [s["send"] for s in _steps(result) if len(s.get("send", "")) == 64]
    assert typed and f"imgbased:sha256={typed[0]}" in base_tags, base_tags


@pytest.mark.parametrize("result", ["g-tui-incomplete"], indirect=True)
def test_text_ui_hub_refuses_to_begin_with_our_spoke_incomplete(result):
    """(g): a mistyped image left in our spoke: it says so, 'b' is refused, nothing is written."""
    steps = _steps(result)
    hub = next(s["screen"] for s in steps if s.get("send") == "b")  # the hub as the admin typed b
    assert "[!] Image-based host" in hub and "[x] Installation Destination" in hub, hub  # only ours is missing
    for words in ("Not ready:", "cannot", plan.MISSING):  # the hub wraps its columns: words, not sentences
        assert words in hub, hub
    refused = next(s for s in steps if "Please complete all spokes before continuing" in s["screen"])
    assert not result["ok"] and result["phase"] == "ui", _why(result)
    assert refused["disk"] == result["disk_before"]
    assert checks.disk_untouched(result) == []


def test_every_variant_reported(anaconda_run):
    """The one VM run finished and every variant wrote a result with timings."""
    assert anaconda_run.vm_rc == 0, anaconda_run.log[-3000:]
    for name, r in anaconda_run.results.items():
        assert r["phase"] != "missing", f"{name}: {r['error']}"
        assert r.get("timings", {}).get("launcher") is not None, f"{name}: {_why(r)}"
