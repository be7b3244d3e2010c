"""Effect panels built from metadata: apply, previews that supersede, canvas-edited params."""

from __future__ import annotations

import re

import numpy as np
from gui_helpers import small_document, wait_delivered
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from warpaint.engine.core.document import Document
from warpaint.engine.core.selection import Selection
from warpaint.engine.runtime.apply import effect_job
from warpaint.engine.runtime.jobs import JobContext, JobState
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec
from warpaint.gui.canvas_tools import PointsTool, RectTool
from warpaint.gui.effects_panel import EffectPanel
from warpaint.gui.param_widgets import (
    BoolParamWidget,
    CanvasParamWidget,
    ChoiceParamWidget,
    FileParamWidget,
    ImageParamWidget,
    MaskParamWidget,
    NumberParamWidget,
)


def _noise_document(size: int = 96) -> Document:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    doc = Document.from_array(pixels, name="Noise")
    doc.mark_saved()
    return doc


def test_gaussian_blur_panel_is_built_from_its_metadata(window):
    panel = window.show_effect("gaussian-blur")
    sigma = panel.widgets["sigma"]
    assert isinstance(sigma, NumberParamWidget)
    assert sigma.spin.minimum() == 0.0 and sigma.spin.maximum() == 50.0
    assert sigma.spin.singleStep() == 0.1 and sigma.value() == 3.0
    assert sigma.slider.maximum() == 500  # (max - min) / step positions
    sigma.slider.setValue(125)
    assert sigma.value() == 12.5


def test_a_seed_is_a_field_with_a_button_for_a_new_one_not_a_slider(qtbot, window):
    panel = window.show_effect("fast-style")
    seed = panel.widgets["seed"]
    assert isinstance(seed, NumberParamWidget) and seed.new_seed is not None
    assert seed.value() == 0 and not seed.slider.isVisibleTo(panel)
    assert seed.new_seed.isVisibleTo(panel)
    drawn = set()
    for _ in range(3):
        with qtbot.waitSignal(seed.changed, timeout=1000):
            qtbot.mouseClick(seed.new_seed, Qt.MouseButton.LeftButton)
        drawn.add(seed.value())
        assert 0 <= seed.value() <= 2**31 - 1 and panel.values()["seed"] == seed.value()
    assert len(drawn) == 3 and 0 not in drawn
    sigma = window.show_effect("gaussian-blur").widgets["sigma"]
    assert isinstance(sigma, NumberParamWidget) and sigma.new_seed is None


def test_apply_gaussian_blur_through_its_panel_adds_one_undoable_layer(qtbot, make_window):
    window = make_window(_noise_document())
    doc = window.doc
    source = doc.layers[0]
    panel = window.show_effect("gaussian-blur")
    panel.widgets["sigma"].spin.setValue(2.0)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert not panel.apply_button.isEnabled()  # busy while the job runs
    job = window.bridge.long_jobs[0]
    wait_delivered(qtbot, window, job)
    assert job.state is JobState.DONE
    assert [layer.name for layer in doc.layers] == ["Noise", "Noise · Gaussian blur"]
    expected = effect_job(doc.history._steps[0].state, source.id, "gaussian-blur", {"sigma": 2.0})(
        _ctx()
    ).pixels
    result = doc.layers[1].pixels.read_float()
    np.testing.assert_allclose(result, expected, atol=1 / 255)
    assert result[..., :3].std() < source.pixels.read_float()[..., :3].std() / 2
    assert panel.apply_button.isEnabled()
    assert doc.history.undo_label == "Gaussian blur"
    window.undo()
    assert len(doc.layers) == 1


def test_apply_can_replace_the_layer_inside_the_selection_only(qtbot, make_window):
    window = make_window(_noise_document())
    doc = window.doc
    before = doc.layers[0].pixels.read()
    window.set_selection(Selection("rectangle", 0, 0, 48, 96))
    panel = window.show_effect("gaussian-blur")
    panel.replace_radio.setChecked(True)
    assert panel.selection_check.isEnabled()
    panel.selection_check.setChecked(True)
    wait_delivered(qtbot, window, window.apply_effect(panel))
    after = doc.layers[0].pixels.read()
    assert len(doc.layers) == 1
    np.testing.assert_array_equal(after[:, 49:], before[:, 49:])
    assert not np.array_equal(after[:, :47], before[:, :47])


def test_slider_previews_supersede_each_other(qtbot, make_window, monkeypatch):
    monkeypatch.setenv("WARPAINT_PREVIEW_MAX_SIDE", "300")
    window = make_window(_noise_document(900))
    panel = window.show_effect("gaussian-blur")
    submitted, finished = [], []
    original = window.bridge.preview

    def recording_preview(target, fn, label="", **kw):
        job = original(target, fn, label, **kw)
        if label.startswith("Preview"):
            submitted.append(job)
        return job

    monkeypatch.setattr(window.bridge, "preview", recording_preview)
    window.bridge.job_finished.connect(lambda job: finished.append(job))
    slider = panel.widgets["sigma"].slider
    slider.setSliderDown(True)
    for position in (100, 200, 300, 400):
        slider.setValue(position)
        qtbot.wait(2)
    slider.setSliderDown(False)
    assert len(submitted) >= 2  # a preview per drag step (bursts within one turn coalesce)
    qtbot.waitUntil(
        lambda: submitted[-1].finished and not window.bridge.is_pending(submitted[-1]),
        timeout=20_000,
    )
    delivered = [j for j in finished if j in submitted]
    assert delivered[-1] is submitted[-1]
    assert delivered[-1].result[0].params["sigma"] == 40.0
    # Previews run downscaled to the finest level of detail that fits: 900 / 4 <= 300.
    assert delivered[-1].result[0].scale == 0.25
    assert window.canvas.has_preview
    assert window.canvas.shown_reduced is not None and window.canvas.shown_reduced.level == 2
    # A superseded preview's late result never reaches the GUI.
    superseded = [j for j in submitted if j.state is JobState.SUPERSEDED]
    assert not set(superseded) & set(delivered)
    assert all(j.state in (JobState.DONE, JobState.SUPERSEDED) for j in submitted)


def _ctx() -> JobContext:
    from warpaint.engine.runtime.jobs import Job

    return JobContext(Job(lambda ctx: None))


ALL_TYPES = EffectSpec(
    id="test-every-type",
    title="Every type",
    description="A fake effect with one parameter of each type.",
    params=(
        Param("amount", "Amount", ParamType.NUMBER, 0.5, 0.0, 1.0, 0.05),
        Param("count", "Count", ParamType.INTEGER, 3, 1, 9, 1),
        Param("keep", "Keep colours", ParamType.BOOL, True),
        Param("mode", "Mode", ParamType.CHOICE, "soft", choices=("soft", "hard")),
        Param("style", "Style image", ParamType.IMAGE),
        Param("styles", "Style images", ParamType.IMAGES),
        Param("eyes", "Eyes", ParamType.POINTS, (), max=2),
        Param("region", "Region", ParamType.RECT),
        Param("where", "Where", ParamType.MASK),
        Param("model", "Model file", ParamType.FILE),
    ),
    module="warpaint.engine.features.blur.effect",
)


def test_panel_builder_handles_every_parameter_type(window):
    panel = EffectPanel(ALL_TYPES, window)
    kinds = {name: type(w) for name, w in panel.widgets.items()}
    assert kinds == {
        "amount": NumberParamWidget,
        "count": NumberParamWidget,
        "keep": BoolParamWidget,
        "mode": ChoiceParamWidget,
        "style": ImageParamWidget,
        "styles": ImageParamWidget,
        "eyes": CanvasParamWidget,
        "region": CanvasParamWidget,
        "where": MaskParamWidget,
        "model": FileParamWidget,
    }
    values = panel.values()
    assert values["amount"] == 0.5 and values["count"] == 3 and values["keep"] is True
    assert values["mode"] == "soft" and values["eyes"] == () and values["region"] is None
    # A layer id: the first from the top that is not the layer the effect runs on.
    assert window.current_layer_id == window.doc.layers[-1].id
    assert values["style"] == window.doc.layers[-2].id
    assert values["where"] == "selection" and values["model"] is None
    panel.widgets["count"].slider.setValue(6)
    assert panel.values()["count"] == 7 and isinstance(panel.values()["count"], int)
    panel.widgets["mode"].combo.setCurrentIndex(1)
    assert panel.values()["mode"] == "hard"
    window.new_layer()
    assert panel.widgets["style"].combo.count() == 3  # layer pickers follow the document


def test_rect_and_points_params_are_edited_on_the_canvas(qtbot, make_window):
    window = make_window(small_document(200, 100))
    panel = EffectPanel(ALL_TYPES, window)
    canvas = window.canvas
    requested = []
    panel.preview_requested.connect(lambda p: requested.append(p.values()))

    region = panel.widgets["region"]
    region.edit_button.click()
    assert isinstance(canvas.tool, RectTool) and canvas.tool is region.tool
    a, b = canvas.to_widget(QPointF(10, 20)).toPoint(), canvas.to_widget(QPointF(60, 70)).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=a)
    QTest.mouseMove(canvas, b)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=b)
    x, y, w, h = panel.values()["region"]
    assert abs(x - 10) <= 1 and abs(y - 20) <= 1 and abs(w - 50) <= 2 and abs(h - 50) <= 2
    assert re.fullmatch(r"\d+×\d+ at \d+,\d+", region.summary.text())
    # Drag the centre handle: the rectangle moves, keeping its size.
    centre = canvas.to_widget(QPointF(x + w / 2, y + h / 2)).toPoint()
    moved = canvas.to_widget(QPointF(x + w / 2 + 30, y + h / 2)).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=centre)
    QTest.mouseMove(canvas, moved)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=moved)
    x2, y2, w2, h2 = panel.values()["region"]
    assert abs(x2 - (x + 30)) <= 1 and (w2, h2) == (w, h)

    eyes = panel.widgets["eyes"]
    eyes.edit_button.click()
    assert isinstance(canvas.tool, PointsTool) and not region.edit_button.isChecked()
    for point in ((30, 30), (90, 30), (150, 30)):  # at most two points
        QTest.mouseClick(
            canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(*point)).toPoint()
        )
    points = panel.values()["eyes"]
    assert len(points) == 2 and abs(points[1][0] - 90) <= 1
    QTest.mouseClick(
        canvas,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.AltModifier,
        canvas.to_widget(QPointF(*points[0])).toPoint(),
    )
    assert len(panel.values()["eyes"]) == 1
    qtbot.waitUntil(lambda: bool(requested), timeout=2000)
    eyes.edit_button.click()
    assert canvas.tool is window.selection_tool


def test_sliders_keep_a_usable_width_in_a_narrow_panel_with_long_labels(window, qtbot):
    from warpaint.gui.param_widgets import SLIDER_MIN_WIDTH

    panel = window.show_effect("attributes")  # long labels: "Mirror (subject's right eye)"
    window.resizeDocks([window.effects_dock], [260], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    # Rows the panel shows (the face index is picked on the canvas, not by a slider).
    sliders = [
        w.slider
        for w in panel.widgets.values()
        if isinstance(w, NumberParamWidget) and w.isVisible()
    ]
    assert len(sliders) >= 5
    for slider in sliders:
        assert slider.isVisible() and slider.width() >= SLIDER_MIN_WIDTH, slider.width()


def test_a_layer_picker_shows_another_layer_than_the_effects_own_until_the_user_picks(window):
    background, square = (layer.id for layer in window.doc.layers)
    picker = window.show_effect("splining").widgets["other"]
    assert window.current_layer_id == square and picker.value() == background
    window.layers_panel.set_current_layer(background)
    assert picker.value() == square, "it follows the current layer"
    index = picker.combo.findData(background)
    picker.combo.setCurrentIndex(index)
    picker.combo.activated.emit(index)  # as a click in the list does
    window.layers_panel.set_current_layer(square)
    window.layers_panel.set_current_layer(background)
    assert picker.value() == background, "the user's pick is kept"
