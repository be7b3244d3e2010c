"""Effect hooks the panels use: `thumbnail` galleries and `prefill` values."""

from __future__ import annotations

from typing import Any

import hooked_effect
import numpy as np
from PySide6.QtCore import Qt

from warpaint.gui.effects_panel import EffectPanel
from warpaint.gui.param_widgets import GalleryParamWidget


def test_a_gallery_choice_shows_pictures_drawn_in_the_background(window: Any, qtbot: Any):
    GalleryParamWidget._cache.clear()
    panel = EffectPanel(hooked_effect.SPEC, window)
    qtbot.addWidget(panel)
    gallery = panel.widgets["tint"]
    assert isinstance(gallery, GalleryParamWidget)
    assert gallery.value() == "red"
    qtbot.wait(50)
    assert GalleryParamWidget._cache == {}, "nothing is drawn before the gallery shows"
    panel.show()

    def drawn() -> bool:
        return len(GalleryParamWidget._cache) == 3

    qtbot.waitUntil(drawn, timeout=10000)
    for i, choice in enumerate(("red", "green", "blue")):
        item = gallery.list.item(i)
        assert item.data(Qt.ItemDataRole.UserRole) == choice
        image = item.icon().pixmap(GalleryParamWidget.SIDE).toImage()
        centre = image.pixelColor(image.width() // 2, image.height() // 2)
        expected = np.array(hooked_effect.COLOURS[choice]) * 255
        assert np.allclose([centre.red(), centre.green(), centre.blue()], expected, atol=1)

    with qtbot.waitSignal(gallery.changed):
        gallery.list.setCurrentRow(2)
    assert panel.values()["tint"] == "blue"


def test_prefill_fills_only_parameters_the_user_left_alone(window: Any, qtbot: Any):
    panel = EffectPanel(hooked_effect.SPEC, window)
    qtbot.addWidget(panel)
    panel.widgets["amount"].set_value(0.3)  # the user's own choice
    emitted: list[object] = []
    panel.preview_requested.connect(emitted.append)
    image = np.zeros((20, 30, 4), np.float32)
    image[7, 11, :3] = 1.0
    taken = panel.prefill(hooked_effect.prefill(image))
    assert taken == ["spot"]
    assert panel.values()["spot"] == ((11.0, 7.0),)
    assert panel.values()["amount"] == 0.3
    qtbot.wait(20)
    assert emitted == [], "prefilling is not an edit: no preview starts"


def test_background_work_reports_on_the_gui_thread_and_newer_supersedes(window: Any, qtbot: Any):
    import threading
    import time

    gui_thread = threading.current_thread().name
    results: list[tuple[str, str]] = []

    def record(result: str) -> None:
        results.append((result, threading.current_thread().name))

    def slow() -> str:
        time.sleep(0.2)
        return "old"

    window.run_background("k", slow, record)
    window.run_background("k", lambda: "new", record)
    window.run_background("other", lambda: "other", record)
    qtbot.waitUntil(lambda: len(results) >= 2, timeout=5000)
    qtbot.wait(300)
    assert sorted(results) == [("new", gui_thread), ("other", gui_thread)]


def test_background_work_that_fails_says_so_in_the_status_bar(window: Any, qtbot: Any):
    results: list[object] = []

    def broken() -> object:
        raise RuntimeError("thumbnail renderer exploded")

    window.run_background("broken", broken, results.append)
    qtbot.waitUntil(lambda: "exploded" in window.statusBar().currentMessage(), timeout=5000)
    assert "Background task failed" in window.statusBar().currentMessage()
    assert results == [], "no result is handed on"
