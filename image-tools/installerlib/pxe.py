# SPDX-License-Identifier: GPL-2.0-or-later
"""A PXE tree for the installer: the iPXE script, the boot files, the updates image, the kickstart, an HTTP server.

The updates image may carry trusted keys (updates.build_updates): with them and a kickstart whose
%addon line names the liveimg's signature (sign_section), the addon checks that signature.

qemu's user-mode network serves the tree over its built-in TFTP server, and the guest reaches
the host's 127.0.0.1 as 10.0.2.2; the HTTP server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imagelib.common import ImgbaseError
from imagelib.liveimg import sha256_file

from . import recipe, updates

GUEST_HOST = "10.0.2.2"  # the host, as a guest on qemu's user-mode network sees it
BOOTFILE = "boot.ipxe"
KERNEL_ARGS = ["console=ttyS0,115200n8", "panic=5", "quiet"]
LIVEIMG_LINE = re.compile(r"^liveimg\b.*$", re.M)
ADDON_LINE = re.compile(r"^%addon[ \t]+org_ovirt_imgbased(?=[ \t]|$).*$", re.M)
SIGNATURE_OPTION = re.compile(r"[ \t]+--signature(?:=|[ \t]+)\S+")


def ipxe_script(ks_url: str, stage2_url: str, extra_args: list[str] | None = None,
                updates_url: str | None = None, digests: dict[str, str] | None = None) -> str:
    """The iPXE script: kernel and initramfs beside the script (TFTP), then boot the installer.

    digests ({"stage2": HEX, "updates": HEX}) become imgbased.*_sha256= arguments the initramfs checks.
    """
    for url in (ks_url, stage2_url, *([updates_url] if updates_url is not None else [])):
        if not url or any(c.isspace() for c in url):
            raise ImgbaseError(f"{url!r} is not a usable URL for the kernel command line")
    updates = [f"inst.updates={updates_url}"] if updates_url else []
    sums = [f"imgbased.{name}_sha256={hexdigest}" for name, hexdigest in sorted((digests or {}).items())]
    args = ["ip=dhcp", f"inst.ks={ks_url}", f"inst.stage2={stage2_url}", *updates, *sums, *KERNEL_ARGS,
            *(extra_args or [])]
    return (f"#!ipxe\n"
            f"echo imgbased PXE installer: loading {recipe.KERNEL_NAME} and {recipe.INITRD_NAME}\n"
            f"kernel {recipe.KERNEL_NAME} {' '.join(args)}\n"
            f"initrd {recipe.INITRD_NAME}\n"
            f"boot\n")


def point_kickstart(text: str, url: str, checksum: str | None = None) -> str:
    """Return the kickstart with its liveimg line replaced by one naming url (and checksum)."""
    if not LIVEIMG_LINE.search(text):
        raise ImgbaseError("the kickstart has no liveimg line to point at the payload")
    line = f"liveimg --url={url}" + (f" --checksum={checksum}" if checksum else "")
    return LIVEIMG_LINE.sub(line, text, count=1)


def sign_section(text: str, url: str) -> str:
    """Return the kickstart with --signature=url on its %addon org_ovirt_imgbased line (in place of one there)."""
    match = ADDON_LINE.search(text)
    if match is None:
        raise ImgbaseError("the kickstart has no %addon org_ovirt_imgbased line to name the signature on")
    if not url or any(c.isspace() for c in url):
        raise ImgbaseError(f"{url!r} is not a usable signature URL for the %addon line")
    line = SIGNATURE_OPTION.sub("", match.group(0)) + f" --signature={url}"
    return text[:match.start()] + line + text[match.end():]


def place(src: Path, dest: Path) -> Path:
    """Put src at dest: a hard link when both are on one file system, else a copy."""
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
    return dest


def beside(url: str, name: str) -> str:
    """The URL of name in the same directory as url."""
    return url.rsplit("/", 1)[0] + "/" + name


def write_pxe_tree(dest: Path, installer_dir: Path, ks_url: str, stage2_url: str | None = None,
                   extra_args: list[str] | None = None, updates_url: str | None = None,
                   trusted_keys: Sequence[Path] = ()) -> Path:
    """Fill dest with the kernel, the initramfs, the live root, the addon's updates image and boot.ipxe.

    stage2_url and updates_url default to the files beside the kickstart; trusted_keys go into the
    updates image (the installer's /etc/imgbased/trusted.d); returns the script's path.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in (recipe.KERNEL_NAME, recipe.INITRD_NAME, recipe.ROOT_NAME):
        if not (installer_dir / name).is_file():
            raise ImgbaseError(f"{installer_dir} has no {name}: run image-tools/build-installer")
        place(installer_dir / name, dest / name)
    updates.build_updates(dest / recipe.UPDATES_NAME, trusted_keys=trusted_keys)
    stage2 = stage2_url or beside(ks_url, recipe.ROOT_NAME)
    digests = {"stage2": sha256_file(dest / recipe.ROOT_NAME), "updates": sha256_file(dest / recipe.UPDATES_NAME)}
    script = dest / BOOTFILE
    script.write_text(ipxe_script(ks_url, stage2, extra_args, updates_url or beside(ks_url, recipe.UPDATES_NAME),
                                  digests))
    return script


@dataclass
class HttpServer:
    """A running HTTP server for one directory: its port and the requests it answered."""

    directory: Path
    port: int = 0
    requests: list[str] = field(default_factory=list)

    def url(self, name: str, host: str = GUEST_HOST) -> str:
        """The URL a guest uses for a file of the directory."""
        return f"http://{host}:{self.port}/{name}"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serve files quietly, recording 'METHOD PATH STATUS' lines instead of logging to stderr."""

    record: list[str] = []

    def log_request(self, code="-", size="-") -> None:
        """Record one answered request."""
        self.record.append(f"{self.command} {self.path} {code}")

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        """Stay quiet (errors are visible as statuses in the record)."""


@contextmanager
def serve_http(directory: Path, bind: str = "127.0.0.1") -> Iterator[HttpServer]:
    """Serve directory over HTTP on bind and an ephemeral port, in a thread, for the with block."""
    info = HttpServer(directory)
    handler = type("Handler", (_Handler,), {"record": info.requests})
    server = http.server.ThreadingHTTPServer((bind, 0), functools.partial(handler, directory=str(directory)))
    info.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="pxe-http", daemon=True)
    thread.start()
    try:
        yield info
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
