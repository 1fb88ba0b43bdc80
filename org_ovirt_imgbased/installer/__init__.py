# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer: lay out a disk and deploy an image as Base-0 + Base-0.1 (pykickstart, blivet).

``kickstart`` is the ``%addon org_ovirt_imgbased`` section, ``disk`` plans and commits the
layout with blivet, ``install`` deploys the payload into it and installs GRUB (``chroot``),
and ``cli`` is ``imgbase-install``, the installer without anaconda.  Everything that stays on
the installed host comes from the host library below (host/).
"""
