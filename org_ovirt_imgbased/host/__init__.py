# SPDX-License-Identifier: GPL-2.0-or-later
"""The layering library: what runs on an installed host (standard library only).

The top of this package holds the domain model and the operations: the
``Context`` every operation takes, the Base-N / Base-N.M ``naming``, the
``layout`` read from LV tags, ``image`` payloads and ``fetch``, the ``config``
file; the operations ``layers`` (init, add and remove bases and layers),
``update``, ``recover``, ``gc`` and ``diff``; and what keeps them safe: the
``lock``, the ``txn`` journal and the operator's ``hooks``.  The subpackages
hold the plumbing by concept: ``storage`` (LVM, space, filesystems, fstab,
mounts), ``boot`` (entries, kernels, grubenv, grub.cfg), ``persist`` (the /etc
merge) and ``check`` (the health report).

Nothing here imports pykickstart, blivet, simpleline or anaconda, nor the
installer, UI or anaconda glue above it (tests/unit/test_tiers.py checks both).
"""
