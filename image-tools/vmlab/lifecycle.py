# SPDX-License-Identifier: GPL-2.0-or-later
"""The end-to-end lifecycle: install -> boot -> update -> boot -> once -> rollback -> gc/check -> power cut.

Shared by `make demo` (readable progress) and tests/e2e (asserts).  Each step
boots the installed disk through BIOS + GRUB and runs a job in the booted
system; a step passes when the expected layer booted and its job exited 0.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imagelib.liveimg import sha256_file

from . import channel
from .host import REPO, TestHost

KICKSTART = REPO / "kickstarts/standalone-auto.ks"


@dataclass
class Step:
    """One boot of the scenario: what must boot, what runs there, and what happened."""

    name: str
    expect: str
    job: str
    stop_at: str | None = None
    layer: str = ""
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Outcome:
    """The whole run: phase timings and every step."""

    phases: dict[str, float] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return bool(self.steps) and all(s.ok for s in self.steps)


def build_liveimg(version: int) -> Path:
    """Build (or reuse from the cache) the test image's liveimg and return its path."""
    proc = subprocess.run([str(REPO / "image-tools/build-image"), "--version", str(version), "--liveimg"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"build-image --version {version} failed:\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def trust_channel(url: str, key_name: str) -> str:
    """Job lines: the lab network (runtime only), then trust the channel's key and follow the channel."""
    return ("install -d /run/systemd/network\n"
            "printf '[Match]\\nName=en* eth*\\n[Network]\\nAddress=10.0.2.15/24\\nGateway=10.0.2.2\\n' "
            "> /run/systemd/network/10-lab.network\n"
            "systemctl restart systemd-networkd\n"
            "/lib/systemd/systemd-networkd-wait-online --any --timeout=60\n"
            "install -d -m 0755 /etc/imgbased/trusted.d\n"
            f'install -m 0644 "$IMGBASED_JOB_SHARE/{key_name}" /etc/imgbased/trusted.d/channel.gpg\n'
            f"printf '[update]\\nchannel = %s\\n' '{url}' > /etc/imgbased.conf\n")


def steps(v2_name: str, v2_sum: str, channel_url: str, key_name: str) -> list[Step]:
    """The scenario's boots, in order (the first update comes from the signed channel over HTTP)."""
    update_args = f'update --checksum sha256:{v2_sum} "$IMGBASED_JOB_SHARE/{v2_name}"\n'
    update = "imgbase " + update_args
    from_channel = (trust_channel(channel_url, key_name) + "imgbase update --check\nimgbase update\n"
                    "lvs --noheadings -o lv_tags HostVG/Base-1 | grep -q imgbased:version=2\n")
    return [
        Step("first boot, customise, update", "Base-0.1",
             "test \"$(lvs --noheadings -o vg_name,lv_name \"$(findmnt -no SOURCE /)\" | xargs)\" = 'HostVG Base-0.1'\n"
             "echo '10.9.9.9 e2e-local-edit' >> /etc/hosts\n"
             "useradd -m -u 1500 alice\n"
             "mkdir -p /var/lib/e2e && head -c 4M /dev/urandom > /var/lib/e2e/data.bin\n"
             "sha256sum /var/lib/e2e/data.bin > /var/lib/e2e/data.sha\n"
             "imgbase layout\n" + from_channel + "imgbase layout\n"),
        Step("boot the update: edits, user, new defaults, /var", "Base-1.1",
             "grep -q e2e-local-edit /etc/hosts\n"
             "getent passwd alice | grep -q ':1500:'\n"
             "grep -qx version=2 /etc/imgbased-test.conf\n"
             "test -f /etc/imgbased-test.d/new-in-v2\n"
             "command -v tree\n"
             "sha256sum -c /var/lib/e2e/data.sha\n"
             "imgbase boot --once Base-0.1\nimgbase boot --list\n"),
        Step("one-time boot of the old layer", "Base-0.1", "imgbase boot --list\n"),
        Step("back to the default without confirming; roll back", "Base-1.1",
             "imgbase rollback\nimgbase boot --list\n"),
        Step("rolled back; gc and check", "Base-0.1", "imgbase gc\nimgbase check\nimgbase layout\n"),
        Step("power cut in the middle of an update", "Base-0.1",
             "sync\nimgbase --debug " + update_args, stop_at=r"step copy-image"),
        Step("old layer after the power cut; recover, update", "Base-0.1",
             "imgbase recover --list\nimgbase recover\n" + update + "imgbase layout\nimgbase check\n"),
    ]


def run(work: Path, say: Callable[[str], None] = print) -> Outcome:
    """Run the whole scenario in work; say() receives progress lines."""
    out = Outcome()
    t0 = time.monotonic()
    say("building the test images v1 and v2 (cached after the first run)")
    v1, v2 = build_liveimg(1), build_liveimg(2)
    out.phases["image build"] = time.monotonic() - t0
    host = TestHost(work, say)
    say(f"installing v1 ({v1.name}) onto a blank disk with imgbase-install --ks {KICKSTART.name}")
    out.phases["install"] = host.install(KICKSTART, v1)
    v2_name = host.put(v2)
    with channel.served(work, {v2: "2"}, host.share) as chan:
        say(f"serving v2 as a signed channel at {chan.url} (image-tools/publish, a static HTTP server)")
        host.put(chan.directory / f"{v2.name}.sig")  # the later, local updates are signed too (a key is trusted)
        _boot_steps(host, steps(v2_name, sha256_file(v2), chan.url, chan.key.name), out, say)
    out.phases["total"] = time.monotonic() - t0
    return out


def _boot_steps(host: TestHost, scenario: list[Step], out: Outcome, say: Callable[[str], None]) -> None:
    """Boot each step in turn, recording it; stop at the first that fails."""
    for number, step in enumerate(scenario, start=1):
        say(f"boot {number}: {step.name} (expecting {step.expect})")
        boot = host.boot(step.name, step.job, step.stop_at, reach_host=number == 1)
        step.layer, step.seconds = boot.layer, boot.seconds
        cut = step.stop_at is not None
        step.ok = boot.layer == step.expect and (cut or boot.job_rc == 0)
        step.detail = boot.job_log
        out.phases[f"boot {number}"] = boot.seconds
        out.steps.append(step)
        say(f"  serial: IMGBASED_BOOTED {boot.layer} root={boot.root}")
        for line in boot.job_log.splitlines():
            say(f"  | {line}")
        verdict = "power cut as planned" if cut else f"job exit {boot.job_rc}"
        say(f"  -> {'OK' if step.ok else 'FAILED'} ({verdict}, {boot.seconds:.0f}s)")
        if not step.ok:
            break
