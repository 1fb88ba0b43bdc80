"""Storage plumbing: LVM through the lvm2 CLI, pool and /boot space, filesystems, fstab, mounts."""
