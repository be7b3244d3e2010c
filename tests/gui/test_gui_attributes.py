"""The attribute panel: one slider per attribute of the model, the eye framed when it opens."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage import data

from warpaint.engine.core.document import Document
from warpaint.engine.features.eyes.effect_attributes import extra_params
from warpaint.gui.param_widgets import NumberParamWidget


def test_attribute_panel_has_the_models_sliders_and_previews_the_framed_eye(
    qtbot: Any, make_window: Any
) -> None:
    rgba = np.concatenate([data.astronaut(), np.full((512, 512, 1), 255, np.uint8)], axis=2)
    doc = Document.from_array(rgba, name="Astronaut")
    doc.mark_saved()
    window = make_window(doc)
    panel = window.show_effect("attributes")
    sliders = [p.name for p in extra_params({})]
    assert {"openness", "pupil", "iris_colour"} <= set(sliders)
    for name in sliders:
        assert isinstance(panel.widgets[name], NumberParamWidget)
    # The detected eye is framed off the GUI thread.
    qtbot.waitUntil(lambda: panel.values()["region"] is not None, timeout=30_000)
    x, y, w, h = panel.values()["region"]
    assert 200 < x < 260 and 70 < y < 120 and 20 < w < 50

    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    slider = panel.widgets["iris_colour"].slider
    slider.setSliderDown(True)
    slider.setValue(slider.maximum())
    slider.setSliderDown(False)

    def previewed() -> bool:
        return any(j.label.startswith("Preview") and j.result is not None for j in finished)

    qtbot.waitUntil(previewed, timeout=30_000)
    result = next(j.result[0] for j in finished if j.label.startswith("Preview") and j.result)
    assert result.params["iris_colour"] > 0
    assert window.canvas.has_preview
