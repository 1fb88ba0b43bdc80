# SPDX-License-Identifier: GPL-2.0-or-later
"""The liveimg's OpenPGP signature: which one, under which trust, checked in the read that hashes it.

``imgbase-install`` downloads the image with ``host.download`` (the code ``imgbase update`` uses);
the anaconda addon's check before storage is written streams it once with
``download.check_stream`` and keeps nothing (anaconda then downloads it itself).  Both take the
signature and the trust from here:

- the policy is the section's ``--signature-policy``; without one it is ``required`` when the
  section gives ``--signature``, else host.signature's default rule (``required`` when a trusted
  key is installed, else ``off``);
- the keys are those of the system that installs: ``paths.trusted_dir()``
  (/etc/imgbased/trusted.d); inside anaconda that is the installer environment's directory,
  carried by the installer root or an updates image;
- the signature is ``--signature``, else ``LIVEIMG.sig`` unless the policy is off (as
  ``imgbase update`` looks for it); a ``--signature`` that is not there is an error.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import channel, signature
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.runner import Runner

#: What download.download and download.check_stream take as verifier=: a maker of fresh verifiers.
VerifierFactory = Callable[[], signature.Verifier]


def trust(config: AddonConfig) -> signature.Trust:
    """The trusted keys and the policy the liveimg is checked under (see the module docstring)."""
    return signature.load_trust(config.signature_policy or ("required" if config.signature else None))


@contextlib.contextmanager
def verifier(runner: Runner, config: AddonConfig, url: str) -> Iterator[VerifierFactory | None]:
    """Fetch url's signature into a temporary directory; yield a maker of its verifiers, or None (not checked)."""
    in_force = trust(config)
    where = signature.signature_url(url, config.signature, in_force)
    with tempfile.TemporaryDirectory(prefix="imgbased-sig-") as tmp:
        sig = channel.fetch_small(where, Path(tmp), channel.SIGNATURE_LIMIT, "signature") if where else None
        if config.signature and sig is None:
            raise ImgbaseError(f"the liveimg's signature {config.signature} does not exist (no such file, or "
                               "HTTP 404): fix --signature= on the %addon line, or remove it")
        yield signature.verifier_factory(runner, in_force, sig, url)
