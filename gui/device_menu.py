"""Edit > Compute Device: the user's choice of CPU or GPU, remembered between runs.

The engine picks a device once per runner (CUDA, then MPS, then CPU). The
choice made here is stored in QSettings and used at the next start unless
`--device` or `WARPAINT_DEVICE` say otherwise; it also switches the running
job lanes at once, so the next job runs on the chosen device.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from warpaint.engine.device import available_devices, choose_device
from warpaint.engine.errors import BadInputError
from warpaint.gui.bridge import JobBridge

SETTING = "engine/device"
CHOICES = (
    ("auto", "&Automatic (CUDA, then MPS, then CPU)"),
    ("cpu", "&CPU"),
    ("cuda", "NVIDIA GPU (CU&DA)"),
    ("mps", "Apple GPU (&MPS)"),
)


def initial_device(explicit: str | None, settings: QSettings) -> tuple[str, str | None]:
    """The device for a new window and, if the saved choice is unusable here, why.

    Precedence: `explicit` (--device), then WARPAINT_DEVICE, then the saved
    choice, then automatic.
    """
    wanted = explicit or os.environ.get("WARPAINT_DEVICE") or str(settings.value(SETTING, "auto"))
    try:
        return choose_device(wanted), None
    except BadInputError as exc:
        return choose_device("auto"), f"{exc}; using {choose_device('auto')} instead"


class DeviceMenu(QMenu):
    device_changed = Signal(str)

    def __init__(self, settings: QSettings, bridge: JobBridge, parent: QWidget | None = None):
        super().__init__("Compute &Device", parent)
        self._settings = settings
        self._bridge = bridge
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        for name, label in CHOICES:
            action = QAction(label, self)
            action.setCheckable(True)
            action.setData(name)
            self._group.addAction(action)
            self.addAction(action)
        self._group.triggered.connect(self._on_chosen)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Disable devices this machine lacks; check the saved choice."""
        found = available_devices()
        saved = str(self._settings.value(SETTING, "auto"))
        for action in self._group.actions():
            name = action.data()
            action.setEnabled(name == "auto" or name in found)
            action.setChecked(name == saved)

    def _on_chosen(self, action: QAction) -> None:
        name = str(action.data())
        self._settings.setValue(SETTING, name)
        self._bridge.runner.device = choose_device(name)
        self.device_changed.emit(self._bridge.runner.device)
