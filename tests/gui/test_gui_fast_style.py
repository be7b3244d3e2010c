"""The fast-style panel: the preset gallery drawn by the shipped presets, a pick previews."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from warpaint.engine.effects.fast_style import PRESETS, preset_thumbnail
from warpaint.gui.param_widgets import GalleryParamWidget


def test_the_preset_gallery_shows_each_shipped_preset_drawn_by_itself(
    window: Any, qtbot: Any
) -> None:
    assert len(PRESETS) >= 8, "the shipped model holds the presets"
    GalleryParamWidget._cache.clear()
    panel = window.show_effect("fast-style")
    gallery = panel.widgets["preset"]
    assert isinstance(gallery, GalleryParamWidget)
    assert [gallery.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(gallery.list.count())] == list(PRESETS)  # fmt: skip
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
    qtbot.waitUntil(lambda: any(j.label.startswith("Preview") and j.result for j in finished),
                    timeout=30_000)  # fmt: skip
    assert window.canvas.has_preview
