"""anaconda spoke categories of the addon (found by anaconda in <addon>/categories/)."""
