# SPDX-License-Identifier: GPL-2.0-or-later
"""imgbased: an image-based host OS manager on LVM thin provisioning, and its anaconda addon.

The package is in tiers; each imports only from the tiers below it:

1. the shared base, this directory's modules: ``errors``, ``runner`` (the one place external
   commands run), ``units``, ``paths``, ``defaults``;
2. ``host/``: the layering library that runs on installed hosts (standard library only);
3. ``cli/``: the ``imgbase`` command (standard library only);
4. ``installer/``: the kickstart section, the disk plan and commit, the deploy, and
   ``imgbase-install`` (may use pykickstart, blivet, simpleline);
5. ``tui/``: the text screens, standalone and inside anaconda;
6. the anaconda glue, where anaconda looks for it: ``service/`` (the D-Bus module),
   ``tui/spokes/`` and ``categories/``; the only modules that import pyanaconda.

tests/unit/test_tiers.py checks the rule, the standard-library tiers and that there is no
import cycle.
"""

__version__ = "0.1.0"
