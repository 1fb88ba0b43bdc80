# SPDX-License-Identifier: GPL-2.0-or-later
"""The hub category of the imgbased spoke: its own box after SYSTEM."""

from __future__ import annotations

from pyanaconda.ui.categories import SpokeCategory

__all__ = ["OvirtImgbasedCategory"]


def N_(text: str) -> str:
    """Mark a string for translation (the addon ships no translations)."""
    return text


class OvirtImgbasedCategory(SpokeCategory):
    """IMAGE-BASED HOST: the disk layout and the image of an imgbased host."""

    @staticmethod
    def get_title() -> str:
        """The title above the category's spokes."""
        return N_("IMAGE-BASED HOST")

    @staticmethod
    def get_sort_order() -> int:
        """Right after SYSTEM (300) and before USER SETTINGS (400)."""
        return 350
