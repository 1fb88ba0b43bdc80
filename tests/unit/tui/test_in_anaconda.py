# SPDX-License-Identifier: GPL-2.0-or-later
"""The spoke's state inside anaconda: what the hub's status line says, and when it is complete."""

from __future__ import annotations

from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.installer.target import PlannedLayout
from org_ovirt_imgbased.tui.in_anaconda import AnacondaView, anaconda_url, section_config
from org_ovirt_imgbased.tui.model import InstallerModel

THIN = PlannedLayout("lvmthinlv", "anaconda", "pool00", ["/home", "/var", "/var/log"])
SHA = "a" * 64


def view(url: str | None = "https://images.example/rootfs.squashfs", layout: PlannedLayout = THIN,
         reachable: dict[str, str | None] | None = None, checksum: str | None = None) -> AnacondaView:
    """A view whose image check answers from reachable (default: every URL can be read)."""
    config = AddonConfig()
    config.liveimg_url, config.checksum = url, checksum
    calls: list[str] = []

    def check(u: str) -> str | None:
        calls.append(u)
        return (reachable or {}).get(u)

    v = AnacondaView(InstallerModel(config), layout, check)
    v.calls = calls
    return v


def test_a_readable_image_on_a_thin_layout_is_ready():
    v = view()
    assert v.problems() == []
    assert v.status().startswith("Base-0 from https://images.example/rootfs.squashfs, boots Base-0.1")
    assert "anaconda/pool00; data volumes: /home, /var, /var/log" in v.overview_lines()[2]


def test_the_image_is_checked_once_per_url():
    v = view()
    for _ in range(3):
        v.status()
    assert v.calls == ["https://images.example/rootfs.squashfs"]
    v.model.set_payload("file:///srv/other.squashfs")
    v.status()
    assert v.calls[-1] == "file:///srv/other.squashfs"


def test_an_unreadable_image_is_what_the_hub_says_is_missing():
    url = "https://192.0.2.1/imgbased/rootfs.squashfs"
    v = view(url, reachable={url: f"{url} does not answer: timed out"})
    assert v.status() == (f"Not ready: the image cannot be read: {url} does not answer: timed out; "
                          "choose another")


def test_no_image_and_plain_http_without_checksum_are_missing_pieces():
    assert view(None).problems() == ["choose the image (a liveimg URL)"]
    [problem] = view("http://images.example/rootfs.squashfs").problems()
    assert "plain http without a checksum" in problem
    assert view("http://images.example/rootfs.squashfs", checksum=f"sha256:{SHA}").problems() == []


def test_a_root_that_is_not_thin_points_at_installation_destination():
    [problem] = view(layout=PlannedLayout("lvmlv", "anaconda")).problems()
    assert "on a lvmlv device" in problem and "Installation Destination: choose LVM Thin Provisioning" in problem


def test_before_partitioning_the_layout_is_not_a_problem_yet():
    v = view(layout=PlannedLayout(""))
    assert v.problems() == [] and "chosen in Installation Destination" in v.overview_lines()[2]


def test_the_section_never_carries_the_image_and_paths_become_file_urls():
    v = view("/srv/rootfs.squashfs", checksum=f"sha256:{SHA}")
    config = section_config(v.model)
    assert (config.liveimg_url, config.checksum) == (None, None)
    assert v.model.config.liveimg_url == "/srv/rootfs.squashfs"  # the model keeps it for the payload
    assert "--liveimg" not in config.to_kickstart()
    assert anaconda_url("/srv/rootfs.squashfs") == "file:///srv/rootfs.squashfs"
    assert anaconda_url("https://h/x") == "https://h/x"
