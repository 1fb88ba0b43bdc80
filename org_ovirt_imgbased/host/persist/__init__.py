# SPDX-License-Identifier: GPL-2.0-or-later
"""Configuration persistence for ``imgbase update``: the three-way /etc merge and the persist list.

``merge`` plans the /etc merge against the old image's factory copy,
``accounts`` merges passwd, group, shadow and gshadow by record,
``listed_paths`` expands and carries the persist list, ``apply`` carries a
plan out, ``report`` is the merge report, and ``fstree`` is the careful file
access (no symlink followed, atomic replacement) they all use.

Usage: ``report = plan_etc(old, new, policy, persist=patterns)`` (changes nothing; print
``report.render()``), then ``apply_plan(report, old, new, runner)`` and
``report.save(new, runner)``; ``migrate_config`` does all three.
"""

from org_ovirt_imgbased.host.persist.apply import apply_plan, print_plan
from org_ovirt_imgbased.host.persist.listed_paths import expand_persist, persist_paths
from org_ovirt_imgbased.host.persist.merge import FACTORY_ETC, factory_dir, migrate_config, plan_etc
from org_ovirt_imgbased.host.persist.report import Entry, MergeReport

__all__ = ["FACTORY_ETC", "Entry", "MergeReport", "apply_plan", "expand_persist", "factory_dir",
           "migrate_config", "persist_paths", "plan_etc", "print_plan"]
