# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's text UI: screens that work standalone (simpleline) and inside anaconda (tui/spokes)."""
