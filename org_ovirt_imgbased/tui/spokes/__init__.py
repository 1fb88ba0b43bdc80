"""anaconda TUI spokes of the addon (found by anaconda in <addon>/tui/spokes/)."""
