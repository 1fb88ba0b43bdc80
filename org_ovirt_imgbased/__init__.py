"""imgbased: an image-based host OS manager on LVM thin provisioning.

The layering library (every module in this package outside ``service/``,
``tui/`` and ``categories/``) uses the Python standard library only, because it
runs on installed hosts.  The installer modules may use pykickstart,
simpleline and blivet; only ``service/``, ``categories/`` and the thin TUI
spoke subclass import anaconda's own modules.
"""

__version__ = "0.1.0"
