"""The installer's text UI: screens that work standalone (simpleline) and inside anaconda (tui/spokes)."""
