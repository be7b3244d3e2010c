"""Building a new attribute slider from layers of the open document, in the real panel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.features.eyes import effect_attributes as effect
from warpaint.engine.features.eyes.render import EyeAppearance, EyeLook, render_eye
from warpaint.gui.attribute_sliders import NewSliderDialog, SliderBuilderWidget
from warpaint.gui.param_widgets import NumberParamWidget

BROWN, BLUE = (0.3, 0.18, 0.09), (0.3, 0.45, 0.62)


def eye(colour: tuple[float, float, float], seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    app = replace(EyeAppearance.random(rng), iris_colour=colour)
    rgb = render_eye(app, EyeLook(0.0, 0.0, 1.0, 0.45), size, seed)[0]
    alpha = np.ones((*size, 1), np.float32)
    return (np.concatenate([rgb, alpha], axis=2) * 255 + 0.5).astype(np.uint8)


@pytest.fixture
def eyes_document() -> tuple[Document, list[int], list[int]]:
    """A brown eye to edit (bottom layer), then brown and blue example eyes."""
    doc = Document.from_array(eye(BROWN, 50, (96, 128)), name="Eye")
    brown, blue = [], []
    for i in range(3):
        doc.add_layer(Layer.from_array(f"brown {i}", eye(BROWN, 10 + i, (48, 64))))
        brown.append(doc.layers[-1].id)
        doc.add_layer(Layer.from_array(f"blue {i}", eye(BLUE, 20 + i, (48, 64))))
        blue.append(doc.layers[-1].id)
    doc.mark_saved()
    return doc, brown, blue


def test_a_slider_built_from_layers_appears_at_once_and_previews_its_edit(
    qtbot: Any, make_window: Any, monkeypatch: Any, eyes_document: Any
) -> None:
    monkeypatch.setattr(effect, "_session", {})  # this session's sliders stay in this test
    doc, brown, blue = eyes_document
    window = make_window(doc)
    panel = window.show_effect("attributes")
    builder = panel.findChild(SliderBuilderWidget)
    assert builder is not None and not builder.save_button.isEnabled()
    assert "blue_eyes" not in panel.widgets

    def fill(dialog: NewSliderDialog) -> bool:
        dialog.name_edit.setText("Blue eyes")
        dialog.check_layers(brown, blue)
        return True

    window.prompter.dialog_setup = fill
    added: list[str] = []
    builder.slider_added.connect(added.append)
    qtbot.mouseClick(builder.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: added == ["blue_eyes"], timeout=30_000)
    widget = panel.widgets["blue_eyes"]
    assert isinstance(widget, NumberParamWidget)
    assert builder.save_button.isEnabled() and "blue_eyes" in builder.status.text()

    # Edit the bottom layer (the big brown eye): the preview turns its iris bluer.
    window.layers_panel.set_current_layer(doc.layers[0].id)
    assert window.current_layer_id == doc.layers[0].id
    panel.set_values({"region": (0.0, 0.0, 128.0, 96.0)})
    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    slider = widget.slider
    slider.setSliderDown(True)
    slider.setValue(slider.maximum())
    slider.setSliderDown(False)

    def preview() -> Any:
        for job in finished:
            if (
                job.label.startswith("Preview")
                and job.result
                and job.result[0].params.get("blue_eyes", 0) > 1.5
            ):
                return job.result[0]
        return None

    qtbot.waitUntil(lambda: preview() is not None, timeout=30_000)
    result = preview()
    before = doc.layers[0].pixels.read_float()
    after = result.pixels
    iris = (slice(30, 66), slice(44, 84))  # the iris at the centre of the 96x128 eye
    blueness = lambda x: float((x[iris][..., 2] - x[iris][..., 0]).mean())  # noqa: E731
    assert blueness(after) > blueness(before) + 0.02
    assert np.array_equal(after[0], before[0])  # the region's edge row is never written
    assert window.canvas.has_preview


def test_new_sliders_are_saved_into_a_copy_and_bad_requests_say_why(
    qtbot: Any, make_window: Any, monkeypatch: Any, eyes_document: Any, tmp_path: Any
) -> None:
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model

    monkeypatch.setattr(effect, "_session", {})
    doc, brown, blue = eyes_document
    window = make_window(doc)
    panel = window.show_effect("attributes")
    builder = panel.findChild(SliderBuilderWidget)
    added: list[str] = []
    builder.slider_added.connect(added.append)

    def fill(name: str) -> Any:
        def setup(dialog: NewSliderDialog) -> bool:
            dialog.name_edit.setText(name)
            dialog.check_layers(brown, blue)
            return True

        return setup

    window.prompter.dialog_setup = fill("pupil")  # the model's own slider: refused
    qtbot.mouseClick(builder.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "No slider" in builder.status.text(), timeout=30_000)
    assert "already has a slider 'pupil'" in builder.status.text()
    assert not builder.save_button.isEnabled() and added == []

    window.prompter.dialog_setup = fill("Blue eyes")
    qtbot.mouseClick(builder.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: added == ["blue_eyes"], timeout=30_000)
    target = tmp_path / "mine.safetensors"
    window.prompter.save_path_answers = [str(target)]
    qtbot.mouseClick(builder.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved" in builder.status.text(), timeout=30_000)
    saved = load_attribute_model(target)
    assert "blue_eyes" in saved.attributes and "pupil" in saved.attributes
