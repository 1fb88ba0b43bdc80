# SPDX-License-Identifier: GPL-2.0-or-later
"""anaconda TUI spokes of the addon.

anaconda finds them in ``<addon>/tui/spokes/`` (``collect_addon_ui_paths`` in
pyanaconda/ui/lib/addons.py) and imports every ``.py`` file there (``collect`` in
pyanaconda/core/util.py), so this directory holds spoke modules and nothing else.
"""
