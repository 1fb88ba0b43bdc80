# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot entries: a BLS entry, kernel and initrd per layer, the grubenv default, tries and rollback.

This package's API is what ``entries`` offers (install and remove a layer's
entry, default, once, try, confirm, rollback, listing) plus the platform
detection and grub.cfg regeneration of ``grubcfg``; callers import it as
``from org_ovirt_imgbased.host import boot``.  ``bls`` renders and reads the
entry files, ``grubenv`` reads and writes GRUB's environment block,
``kernels`` finds a layer's kernel, and ``journaled`` holds the boot steps of
layer operations inside a transaction.
"""

from org_ovirt_imgbased.host.boot.entries import (
    EntryStatus,
    arm_try,
    boot_once,
    confirm,
    default_layer,
    has_entry,
    install_layer,
    list_boot,
    pending_try,
    remove_layer,
    remove_orphans,
    require_entry,
    rollback,
    rollback_target,
    set_default,
    usual_kernel_args,
)
from org_ovirt_imgbased.host.boot.grubcfg import Platform, detect_platform, regenerate_config

__all__ = [
    "EntryStatus", "Platform", "arm_try", "boot_once", "confirm", "default_layer", "detect_platform",
    "has_entry", "install_layer", "list_boot", "pending_try", "regenerate_config", "remove_layer",
    "remove_orphans", "require_entry", "rollback", "rollback_target", "set_default",
    "usual_kernel_args",
]
