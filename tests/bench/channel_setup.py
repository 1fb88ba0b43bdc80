# SPDX-License-Identifier: GPL-2.0-or-later
"""The update-url benchmark's channel: its liveimg, publishing it, the tools' environment, its requests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.bench.machine import ROOT, run
from tests.channel_server import ChannelServer

PUBLISH = ROOT / "image-tools" / "publish"
MAKE_LIVEIMG = ROOT / "image-tools" / "make-liveimg"
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def tool_env() -> dict[str, str]:
    """The environment for the repository's image-tools: the package importable from the checkout."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def without_proxies(env: dict[str, str]) -> dict[str, str]:
    """env without the proxy variables (either case): the channel is on 127.0.0.1, never behind a proxy."""
    return {k: v for k, v in env.items() if k.lower() not in PROXY_VARS}


def build_liveimg(rootfs: Path, out: Path) -> Path:
    """Pack rootfs as LiveOS/rootfs.img in the squashfs out with image-tools/make-liveimg (zstd)."""
    run([sys.executable, str(MAKE_LIVEIMG), str(rootfs), str(out)], env=tool_env(), cwd=ROOT)
    return out


def publish_channel(directory: Path, image: Path, fingerprint: str, gnupg_home: Path, version: str) -> None:
    """Turn directory (holding image) into a signed channel with image-tools/publish."""
    run([sys.executable, str(PUBLISH), str(directory), "--key", fingerprint, "--gnupg-home", str(gnupg_home),
         "--version", f"{image.name}={version}"], env=tool_env(), cwd=ROOT)


def image_gets(server: ChannelServer, name: str, since: int = 0) -> list[dict]:
    """The GETs of the file name that the server logged after its first since requests."""
    return [r for r in server.requests[since:] if r["method"] == "GET" and r["path"].endswith("/" + name)]
