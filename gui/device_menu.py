"""Edit > Compute Device: the user's choice of CPU or GPU, remembered between runs.

The engine picks a device once per runner (CUDA, then MPS, then CPU). The
choice made here is stored in QSettings and used at the next start unless
`--device` or `WARPAINT_DEVICE` say otherwise; it also switches the running
job lanes at once, so the next job runs on the chosen device.
"""

from __future__ import annotations

import contextlib
import os
import threading

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from warpaint.engine.runtime.device import available_devices, choose_device
from warpaint.engine.runtime.errors import BadInputError
from warpaint.gui.bridge import JobBridge

SETTING = "engine/device"
CHOICES = (
    ("auto", "&Automatic (CUDA, then MPS, then CPU)"),
    ("cpu", "&CPU"),
    ("cuda", "NVIDIA GPU (CU&DA)"),
    ("mps", "Apple GPU (&MPS)"),
)


def wanted_device(explicit: str | None, settings: QSettings) -> str:
    """The device asked for: `explicit` (--device), then WARPAINT_DEVICE, then
    the saved choice, then automatic. Does not import torch."""
    return explicit or os.environ.get("WARPAINT_DEVICE") or str(settings.value(SETTING, "auto"))


def resolve_device(wanted: str) -> tuple[str, str | None]:
    """The device to use for `wanted` and, if it is unusable here, why."""
    try:
        return choose_device(wanted), None
    except BadInputError as exc:
        return choose_device("auto"), f"{exc}; using {choose_device('auto')} instead"


def initial_device(explicit: str | None, settings: QSettings) -> tuple[str, str | None]:
    """The device for a new window and, if the saved choice is unusable here, why."""
    return resolve_device(wanted_device(explicit, settings))


class DeviceResolver(QObject):
    """Finds the start-up device off the GUI thread.

    Asking torch which devices exist imports it (about 2 s here), which would
    hold the first window back; the lanes start on the CPU and switch when
    `resolved(device, note)` arrives, long before a user can start an effect.
    """

    resolved = Signal(str, object)

    def start(self, explicit: str | None, settings: QSettings) -> None:
        wanted = wanted_device(explicit, settings)

        def work() -> None:
            found = resolve_device(wanted)
            # The window may have closed meanwhile (tests open and close many).
            with contextlib.suppress(RuntimeError):
                self.resolved.emit(*found)

        threading.Thread(target=work, name="warpaint-device", daemon=True).start()


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
        self.refresh(probe=False)

    def refresh(self, probe: bool = True) -> None:
        """Check the saved choice and, with `probe`, disable devices this
        machine lacks (probing imports torch, so the first window skips it)."""
        found = available_devices() if probe else None
        saved = str(self._settings.value(SETTING, "auto"))
        for action in self._group.actions():
            name = action.data()
            if found is not None:
                action.setEnabled(name == "auto" or name in found)
            action.setChecked(name == saved)

    def _on_chosen(self, action: QAction) -> None:
        name = str(action.data())
        self._settings.setValue(SETTING, name)
        self._bridge.runner.device = choose_device(name)
        self.device_changed.emit(self._bridge.runner.device)
