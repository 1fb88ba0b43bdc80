# SPDX-License-Identifier: GPL-2.0-or-later
"""Allow `python -m org_ovirt_imgbased` as a synonym of `imgbase`."""

import sys

from org_ovirt_imgbased.cli import main

sys.exit(main())
