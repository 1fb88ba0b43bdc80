# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the addon's D-Bus service (started by anaconda's start-module)."""

from __future__ import annotations

from pyanaconda.modules.common import init

init()  # must run before the service code is imported

from org_ovirt_imgbased.service.imgbased import OvirtImgbasedService  # noqa: E402

service = OvirtImgbasedService()
service.run()
