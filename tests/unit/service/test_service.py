# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's D-Bus module as anaconda's Boss drives it: ReadKickstart, GenerateKickstart, tasks.

The module is the real KickstartService of anaconda 38.23.4 (no bus is needed for these calls);
the Boss hands it the commands its specification names, which is what these strings hold.
"""

from __future__ import annotations

from org_ovirt_imgbased.service.imgbased import OvirtImgbasedService
from org_ovirt_imgbased.service.installation import OvirtImgbasedAdoptTask, OvirtImgbasedCheckLayoutTask

SHA = "ab" * 32
LAYOUT = f"""liveimg --url=file:///srv/node.squashfs --checksum={SHA}
part /boot --size=1024
part pv.01 --size=1 --grow
volgroup HostVG pv.01
logvol none --vgname=HostVG --name=pool00 --thinpool --size=1 --grow
logvol / --vgname=HostVG --name=root --thin --poolname=pool00 --size=3072
"""
SECTION = "%addon org_ovirt_imgbased --keep=3\npersist /root/.ssh\n%end\n"


def read(text: str) -> tuple[OvirtImgbasedService, list]:
    """A fresh module after ReadKickstart of text, and the report's errors as (line, message)."""
    service = OvirtImgbasedService()
    report = service.read_kickstart(text)
    return service, [(m.line_number, m.message) for m in report.error_messages]


def test_a_thin_layout_gives_the_check_and_the_adopt_task():
    service, errors = read(LAYOUT + SECTION)
    assert errors == []
    assert [type(t) for t in service.configure_with_tasks()] == [OvirtImgbasedCheckLayoutTask]
    [adopt] = service.install_with_tasks()
    assert isinstance(adopt, OvirtImgbasedAdoptTask)  # it reads the liveimg from anaconda when it runs


def test_the_generated_kickstart_is_only_the_section():
    service, _ = read(LAYOUT + SECTION)
    text = service.generate_kickstart()
    assert text.strip().startswith("%addon org_ovirt_imgbased") and text.strip().endswith("%end")
    for other in ("liveimg", "part ", "logvol", "volgroup", "bootloader"):
        assert other not in text
    again, errors = read(LAYOUT + text)
    assert errors == [] and again.configuration == service.configuration


def test_a_second_section_is_a_kickstart_error_on_its_line():
    _, errors = read(LAYOUT + SECTION + SECTION)
    [(line, message)] = errors
    assert line == 10 and "second %addon org_ovirt_imgbased" in message


def test_a_non_thin_root_is_refused_while_reading_naming_its_line():
    _, errors = read(LAYOUT.replace(" --thin --poolname=pool00", "") + SECTION)
    [(line, message)] = errors
    assert line == 6 and "--thin" in message and "(in `logvol / " in message  # anaconda prints no line


def test_a_bad_section_option_names_the_header_line():
    _, errors = read(LAYOUT + SECTION.replace("--keep=3", "--keep=zero"))
    [(line, message)] = errors
    assert line == 7 and "--keep" in message and "(in `%addon org_ovirt_imgbased --keep=zero`)" in message


def test_no_section_means_no_tasks():
    service, errors = read(LAYOUT)
    assert errors == [] and service.install_with_tasks() == [] and service.generate_kickstart() == ""
