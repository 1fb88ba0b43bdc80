"""The addon's anaconda tasks: each one calls the installer functions of org_ovirt_imgbased.install."""

from __future__ import annotations

from pyanaconda.modules.common.task import Task

from org_ovirt_imgbased.kickstart import AddonConfig


class ImgbasedLayoutTask(Task):
    """Partition the disk and create the VG, thin pool and data volumes (install.plan, then install.commit)."""

    def __init__(self, config: AddonConfig) -> None:
        """Keep the config to plan from."""
        super().__init__()
        self._config = config

    @property
    def name(self) -> str:
        """The task name anaconda shows."""
        return "Create the imgbased disk layout"

    def run(self) -> None:
        """Plan the layout, then commit it (install.plan handles --no-layout)."""
        from org_ovirt_imgbased import install

        plan = install.plan(self._config)
        install.commit(plan)


class ImgbasedDeployTask(Task):
    """Deploy the payload as Base-0 and Base-0.1 with its boot entry (install.deploy)."""

    def __init__(self, config: AddonConfig, sysroot: str) -> None:
        """Keep the config and anaconda's target root."""
        super().__init__()
        self._config = config
        self._sysroot = sysroot

    @property
    def name(self) -> str:
        """The task name anaconda shows."""
        return "Deploy the image as Base-0 with the layer Base-0.1"

    def run(self) -> None:
        """Deploy into the layout made by ImgbasedLayoutTask."""
        from org_ovirt_imgbased import install

        install.deploy(self._config, self._sysroot)
