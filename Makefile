# SPDX-License-Identifier: GPL-2.0-or-later
# imgbased: developer entry points.  `make demo` and `make check` are the two
# commands a newcomer needs (see README.md); both set everything up first.

PY        := .venv/bin/python
PYTEST    := env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=1 $(PY) -m pytest
# In the VM, bytecode goes to a guest-local cache: compiling on every start costs ~1 s under TCG.
VM_PYTEST := env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONPYCACHEPREFIX=/run/vmtmp/pycache $(PY) -m pytest
VM_RUN    := image-tools/vm-run
DESTDIR   ?=
ADDON_DIR := /usr/share/anaconda/addons/org_ovirt_imgbased
DBUS_DIR  := /usr/share/anaconda/dbus
CONF_DIR  := /etc/anaconda/conf.d

.PHONY: setup check check-unit check-vm check-anaconda check-e2e lint bench demo install updates-img clean

setup:
	image-tools/setup

## The whole test suite: lint, unit tests on the host, the VM tier (real
## lvm2 in one VM boot), the real anaconda (every kickstart variant in one VM
## boot), then the end-to-end boots of real disk images.
## The images the later tiers boot are built (niced) while the VM tier runs on the
## other core; their log is build/prebuild.log.
check: setup
	$(MAKE) lint
	$(MAKE) check-unit
	mkdir -p build && { nice -n 19 image-tools/prebuild > build/prebuild.log 2>&1 & pre=$$!; \
	  $(MAKE) check-vm; vm=$$?; wait $$pre; built=$$?; cat build/prebuild.log; \
	  [ $$vm = 0 ] && [ $$built = 0 ]; }
	$(MAKE) check-anaconda
	$(MAKE) check-e2e

check-unit:
	$(PYTEST) tests/unit -q

# One VM boot runs every test under tests/vm.  /dev/vdb is the scratch store
# for loop-backed test disks; /dev/vdc is a blank disk for installer tests,
# which also install the real test image (built once, cached outside the repo).
# The test channel server runs on the host's loopback (the guest's 10.0.2.2).
check-vm:
	live=$$(image-tools/build-image --version 1 --liveimg) && \
	$(PY) tests/vm/with-channel-server -- $(VM_RUN) --disk 64G --disk 16G --udev --reach-host --timeout 2700 -- \
		env PY_COLORS=0 IMGBASED_TEST_DISK=/dev/vdc IMGBASED_TEST_LIVEIMG=$$live $(VM_PYTEST) tests/vm -q -rs \
		--durations=15

# The real anaconda 38.23.4 with the addon: one VM boot installs every kickstart of
# tests/anaconda/kickstarts on its own disk (tests/anaconda/driver.py inside the guest), then
# the tests read the results.  Variant (f)'s disk (the text install) is kept for tests/e2e/test_anaconda_boot.py.
check-anaconda:
	$(PYTEST) tests/anaconda -q -rs -s

check-e2e:
	$(PYTEST) tests/e2e -q -rs -s

lint:
	.venv/bin/ruff check . image-tools/vm-run image-tools/demo image-tools/make-docs image-tools/build-image image-tools/build-installer image-tools/make-liveimg image-tools/sparsify image-tools/size-report image-tools/installer-recipe/overlay/usr/libexec/imgbased-installer/anaconda-run image-tools/publish tests/vm/with-channel-server

bench: setup
	$(VM_RUN) --disk 80G --timeout 1200 -- env PY_COLORS=0 $(PY) tests/bench/run_all.py

demo: setup
	image-tools/demo

install:
	install -d $(DESTDIR)$(ADDON_DIR) $(DESTDIR)$(DBUS_DIR)/services $(DESTDIR)$(DBUS_DIR)/confs $(DESTDIR)$(CONF_DIR)
	cp -r --no-preserve=ownership org_ovirt_imgbased/. $(DESTDIR)$(ADDON_DIR)/
	find $(DESTDIR)$(ADDON_DIR) -name __pycache__ -prune -exec rm -rf {} +
	install -m 0644 data/org.fedoraproject.Anaconda.Addons.OvirtImgbased.service $(DESTDIR)$(DBUS_DIR)/services/
	install -m 0644 data/org.fedoraproject.Anaconda.Addons.OvirtImgbased.conf $(DESTDIR)$(DBUS_DIR)/confs/
	install -m 0644 data/anaconda/90-imgbased.conf $(DESTDIR)$(CONF_DIR)/

## The addon as an anaconda updates image: a gzip'd cpio of `make install`, laid over the
## installer root by inst.updates=URL.  build-installer makes one the same way
## (UPDATES_IMG=FILE UPDATES_DIR=DIR put it elsewhere).  TRUSTED_KEYS="FILE.gpg ..." adds a
## site's publisher keys (`gpg --export KEYID > FILE.gpg`, or armored FILE.asc) as the
## installer's /etc/imgbased/trusted.d/FILE.gpg: the addon then checks the liveimg's signature.
UPDATES_IMG ?= imgbased-updates.img
UPDATES_DIR ?= build/updates
TRUSTED_KEYS ?=
updates-img:
	$(if $(filter-out %.gpg %.asc,$(TRUSTED_KEYS)),$(error TRUSTED_KEYS: $(filter-out %.gpg %.asc,$(TRUSTED_KEYS)) \
	  is not named *.gpg or *.asc (the addon reads only those)))
	rm -rf $(UPDATES_DIR) && $(MAKE) -s install DESTDIR=$(abspath $(UPDATES_DIR))
	$(if $(strip $(TRUSTED_KEYS)),install -d $(UPDATES_DIR)/etc/imgbased/trusted.d \
	  && install -m 0644 $(TRUSTED_KEYS) $(UPDATES_DIR)/etc/imgbased/trusted.d/)
	cd $(UPDATES_DIR) && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n > $(abspath $(UPDATES_IMG))
	@echo "built $(UPDATES_IMG) (boot the installer with inst.updates=URL-of-it)"

clean:
	rm -rf build imgbased-updates.img
