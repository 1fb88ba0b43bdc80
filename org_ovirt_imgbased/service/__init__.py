# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda D-Bus module of the addon: the only package (with tui/spokes and categories) importing pyanaconda.

anaconda starts it as ``start-module org_ovirt_imgbased.service`` (see
data/org.fedoraproject.Anaconda.Addons.OvirtImgbased.service).  Everything here only delegates
to org_ovirt_imgbased.installer (the kickstart section and the install).
"""
