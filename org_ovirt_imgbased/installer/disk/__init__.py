# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's disk layout: /boot, a PV, the VG, the thin pool and the data volumes.

``model`` is the plain data (request, sizes, committed result, fstab lines; no blivet),
``blivet_env`` adjusts libblockdev and blivet as they load, ``plan`` builds the blivet
device tree without touching the disk, and ``commit`` carries the plan out.
"""
