# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's check before storage is written, as anaconda runs it: checksum and signature of the liveimg.

The task is the real one (anaconda 38.23.4's Task); anaconda's device tree and live-image source
are replaced by fakes, the image is served over http and its signature checked by gpgv.
"""

from __future__ import annotations

import pytest
from pyanaconda.modules.common.errors.installation import InstallationError

from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.installer.target import PlannedLayout
from org_ovirt_imgbased.service import installation
from org_ovirt_imgbased.service.imgbased import OvirtImgbasedService
from org_ovirt_imgbased.service.live_image import LiveImage
from tests import gpgkeys
from tests.unit.installer import signed
from tests.unit.installer.signed import IMAGE, SHA, STRANGER_SIG, WRONG_SIG

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger
served = signed.served
trusted = signed.trusted


def run_check(monkeypatch, config: AddonConfig, image: LiveImage) -> list[tuple[str, str | None]]:
    """Run the check task over a thin root and image; the (url, checksum) pairs it set on anaconda's source."""
    pinned: list[tuple[str, str | None]] = []
    monkeypatch.setattr(installation.layout_view, "planned", lambda: PlannedLayout("lvmthinlv", "HostVG", "pool00"))
    monkeypatch.setattr(installation.live_image, "current", lambda: image)
    monkeypatch.setattr(installation.live_image, "set_current", lambda url, checksum: pinned.append((url, checksum)))
    installation.OvirtImgbasedCheckLayoutTask(config, vg_given=False).run()
    return pinned


def test_a_good_signature_passes_and_pins_the_digest_for_anacondas_download(monkeypatch, served, trusted):
    """Without a kickstart checksum, anaconda's own download must have the sha256 of the signed bytes."""
    config = AddonConfig(signature=served.url(IMAGE + ".sig"))
    assert run_check(monkeypatch, config, LiveImage(served.url(IMAGE), None)) == [(served.url(IMAGE), SHA)]
    assert served.gets(IMAGE) == 1


def test_with_a_checksum_the_source_is_left_as_it_is(monkeypatch, served, trusted):
    """anaconda already compares its download with the kickstart's checksum: nothing to pin."""
    config = AddonConfig(signature=served.url(IMAGE + ".sig"))
    assert run_check(monkeypatch, config, LiveImage(served.url(IMAGE), SHA)) == []


@pytest.mark.parametrize("sig, words", [(WRONG_SIG, "bad signature on"), (STRANGER_SIG, "which is not trusted")])
def test_a_bad_signature_is_an_installation_error_before_storage(monkeypatch, served, trusted, stranger, sig,
                                                                  words):
    """anaconda's own error type, one line; nothing is pinned."""
    config = AddonConfig(signature=served.url(sig))
    pinned: list = []
    with pytest.raises(InstallationError, match=words) as err:
        pinned = run_check(monkeypatch, config, LiveImage(served.url(IMAGE), SHA))
    assert "\n" not in str(err.value) and pinned == []


def test_the_kickstarts_signature_reaches_the_check_task(served):
    """The section's --signature and --signature-policy travel with the module's config to the task."""
    service = OvirtImgbasedService()
    text = (f"liveimg --url={served.url(IMAGE)}\nautopart --type=thinp\n"
            f"%addon org_ovirt_imgbased --signature={served.url(IMAGE)}.sig --signature-policy=required\n%end\n")
    report = service.read_kickstart(text)
    assert [m.message for m in report.error_messages] == []  # plain http: the certain signature proves it
    [task] = service.configure_with_tasks()
    assert (task._config.signature, task._config.signature_policy) == (served.url(IMAGE) + ".sig", "required")
    assert f"--signature={served.url(IMAGE)}.sig --signature-policy=required" in service.generate_kickstart()
