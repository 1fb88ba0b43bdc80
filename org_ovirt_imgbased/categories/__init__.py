# SPDX-License-Identifier: GPL-2.0-or-later
"""anaconda spoke categories of the addon.

anaconda finds them in ``<addon>/categories/`` (``collect_addon_ui_paths`` in
pyanaconda/ui/lib/addons.py) and imports every ``.py`` file there, so this directory holds
category modules and nothing else.
"""
