"""The VM lab: run commands or boot disks in qemu with Debian's kernel."""
