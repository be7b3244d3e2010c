"""The fast-style panel: the preset gallery drawn by the presets; opening it and a pick preview."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from warpaint.engine.features.fast_style.effect import DEFAULT_PRESET, PRESETS, preset_thumbnail
from warpaint.gui.param_widgets import GalleryParamWidget


def test_the_preset_gallery_shows_each_shipped_preset_drawn_by_itself(
    window: Any, qtbot: Any
) -> None:
    assert len(PRESETS) >= 8, "the shipped model holds the presets"
    GalleryParamWidget._cache.clear()
    panel = window.show_effect("fast-style")
    gallery = panel.widgets["preset"]
    assert isinstance(gallery, GalleryParamWidget)
    qtbot.waitUntil(lambda: gallery.width() > 0)
    box = gallery.parentWidget()
    assert gallery.width() > 0.9 * box.contentsRect().width(), "the grid spans the panel"
    assert [
        gallery.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(gallery.list.count())
    ] == list(PRESETS)
    qtbot.waitUntil(lambda: len(GalleryParamWidget._cache) == len(PRESETS), timeout=60_000)
    side = GalleryParamWidget.SIDE
    icons = []
    for i, name in enumerate(PRESETS):
        pixmap = gallery.list.item(i).icon().pixmap(side)
        image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
        pixels = np.frombuffer(image.constBits(), np.uint8).reshape(side, image.bytesPerLine())
        icon = pixels[:, : side * 3].reshape(side, side, 3).astype(np.float32)
        expected = preset_thumbnail(name, side).astype(np.float32)
        assert np.abs(icon - expected).mean() < 2, f"{name}'s picture is the preset's own"
        icons.append(icon)
    assert all(np.abs(a - icons[0]).mean() > 3 for a in icons[1:]), "the pictures differ"

    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    with qtbot.waitSignal(gallery.changed):
        gallery.list.setCurrentRow(3)
    assert panel.values()["preset"] == PRESETS[3]
    qtbot.waitUntil(lambda: PRESETS[3] in _previewed_presets(finished), timeout=30_000)
    assert window.canvas.has_preview


def _previewed(finished: list[Any]) -> list[Any]:
    """The effect results of the finished preview jobs."""
    return [j.result[0] for j in finished if j.label.startswith("Preview") and j.result]


def _previewed_presets(finished: list[Any]) -> list[str]:
    return [r.params["preset"] for r in _previewed(finished)]


def test_opening_the_panel_previews_the_default_preset_without_an_edit(
    window: Any, qtbot: Any
) -> None:
    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    window.show_effect("splining")  # its defaults lack the other layer and the mask
    qtbot.wait(300)
    assert not window.canvas.has_preview and not _previewed(finished), "it waits for edits"
    panel = window.show_effect("fast-style")
    qtbot.waitUntil(lambda: _previewed_presets(finished) == [DEFAULT_PRESET], timeout=30_000)
    assert panel.values()["preset"] == DEFAULT_PRESET
    qtbot.waitUntil(lambda: window.canvas.has_preview, timeout=10_000)
