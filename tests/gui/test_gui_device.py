"""Edit > Compute Device: the CPU/GPU choice, applied at once and remembered."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QSettings

from warpaint.engine.runtime.device import available_devices
from warpaint.gui.device_menu import SETTING, DeviceResolver, initial_device


def test_menu_offers_the_devices_this_machine_has_when_opened(window: Any) -> None:
    window.device_menu.aboutToShow.emit()
    actions = {a.data(): a for a in window.device_menu.actions()}
    assert set(actions) == {"auto", "cpu", "cuda", "mps"}
    found = available_devices()
    for name in ("cpu", "cuda", "mps"):
        assert actions[name].isEnabled() == (name in found)
    assert actions["auto"].isEnabled()


def test_choosing_a_device_switches_the_lanes_and_is_saved(window: Any) -> None:
    actions = {a.data(): a for a in window.device_menu.actions()}
    actions["cpu"].trigger()
    assert window.bridge.runner.device == "cpu"
    assert window.settings.value(SETTING) == "cpu"
    assert actions["cpu"].isChecked() and not actions["auto"].isChecked()


def test_the_saved_choice_starts_the_next_window_unless_overridden(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARPAINT_DEVICE", raising=False)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue(SETTING, "cpu")
    assert initial_device(None, settings) == ("cpu", None)
    monkeypatch.setenv("WARPAINT_DEVICE", "auto")
    assert initial_device(None, settings)[0] == available_devices()[0]
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    if missing:
        settings.setValue(SETTING, missing[0])
        monkeypatch.delenv("WARPAINT_DEVICE")
        device, reason = initial_device(None, settings)
        assert device == available_devices()[0]
        assert reason is not None and "not available" in reason


def test_the_start_up_device_is_found_off_the_gui_thread(
    qtbot: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.delenv("WARPAINT_DEVICE", raising=False)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue(SETTING, "cpu")
    resolver = DeviceResolver()
    threads: list[str] = []
    resolver.resolved.connect(lambda *_: threads.append(threading.current_thread().name))
    with qtbot.waitSignal(resolver.resolved, timeout=30000) as signal:
        resolver.start(None, settings)
    assert signal.args == ["cpu", None]
    # Delivered (queued) on the GUI thread, though found on another.
    assert threads == [threading.current_thread().name]
