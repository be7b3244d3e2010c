"""The gaze panel: eyes found when it opens, sliders drive a live preview of the eyes."""

from __future__ import annotations

from typing import Any

import numpy as np
from gui_helpers import astronaut_document


def test_opening_gaze_finds_the_eyes_and_the_slider_previews_only_them(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    window = make_window(astronaut_document())
    panel = window.show_effect("gaze")
    # Detection runs off the GUI thread and fills the untouched eye points.
    qtbot.waitUntil(lambda: len(panel.values()["eyes"] or ()) == 4, timeout=30_000)
    points = np.asarray(panel.values()["eyes"])
    assert ((points[:, 0] > 150) & (points[:, 0] < 300)).all()
    assert ((points[:, 1] > 80) & (points[:, 1] < 150)).all()

    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    slider = panel.widgets["horizontal"].slider
    slider.setSliderDown(True)
    slider.setValue(slider.maximum())
    slider.setSliderDown(False)

    def previewed() -> bool:
        return any(
            j.label.startswith("Preview") and j.result is not None and j.result[0].origin
            for j in finished
        )

    qtbot.waitUntil(previewed, timeout=30_000)
    result = next(j.result[0] for j in finished if j.label.startswith("Preview") and j.result)
    assert result.params["horizontal"] == panel.values()["horizontal"] > 0
    h, w = result.pixels.shape[:2]
    assert h * w < 0.1 * 512 * 512, "a patch around the eyes, not the frame"
    assert window.canvas.has_preview
