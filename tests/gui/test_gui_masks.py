"""Layer masks in the GUI: one undo step per stroke, mask commands, lasso, move, overlay."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gui_helpers import wait_canvas
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.core.selection import Selection
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.gui.main_window import MainWindow
from warpaint.gui.param_widgets import NumberParamWidget


def two_layers(w: int = 300, h: int = 200) -> Document:
    base = np.zeros((h, w, 4), np.uint8)
    base[...] = (20, 40, 200, 255)
    doc = Document.from_array(base)
    top = np.zeros((h, w, 4), np.uint8)
    top[...] = (40, 200, 90, 255)
    doc.add_layer(Layer.from_array("Top", top))
    doc.mark_saved()
    return doc


def drag(qtbot: Any, window: MainWindow, points: list[tuple[float, float]]) -> None:
    """Press at the first image point, move through the rest, release at the last."""
    canvas = window.canvas
    widget = [canvas.to_widget(QPointF(x, y)).toPoint() for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=widget[0])
    for p in widget[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=widget[-1])


@pytest.fixture
def masked(make_window: Any) -> MainWindow:
    window = make_window(two_layers())
    window.resize(900, 600)
    window.canvas.actual_size()
    return window


def top_mask(window: MainWindow) -> np.ndarray | None:
    assert window.doc is not None
    mask = window.doc.layers[-1].mask
    return None if mask is None else mask.read()[..., 0]


def test_a_brush_stroke_is_one_undo_step_shown_live(qtbot: Any, masked: MainWindow) -> None:
    doc = masked.doc
    assert doc is not None
    steps = len(doc.history.labels)
    masked.masks.brush_action.trigger()
    assert masked.canvas.tool is masked.masks.brush_tool
    assert masked.masks.show_action.isChecked()  # the overlay comes on with the brush
    masked.masks.erase_check.setChecked(True)
    masked.masks.size_spin.setValue(20)
    masked.masks.hardness_spin.setValue(100)
    canvas = masked.canvas
    before = doc.state
    qtbot.mousePress(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(50, 100)).toPoint()
    )
    for x in range(60, 160, 10):
        qtbot.mouseMove(canvas, canvas.to_widget(QPointF(x, 100)).toPoint())
    # Mid-stroke: the canvas shows the painted mask, the document is untouched.
    assert doc.state is before
    shown = canvas.state.layers[-1].mask
    assert shown is not None and shown.read()[100, 100, 0] == 0
    qtbot.mouseRelease(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(150, 100)).toPoint()
    )
    assert doc.history.undo_label == "Erase mask" and len(doc.history.labels) == steps + 1
    mask = top_mask(masked)
    assert mask is not None
    assert mask[100, 50] == 0 and mask[100, 150] == 0 and mask[100, 100] == 0
    assert mask[10, 10] == 255 and mask[100, 170] == 255
    masked.undo()
    assert doc.state is before and top_mask(masked) is None
    masked.redo()
    assert top_mask(masked)[100, 100] == 0  # type: ignore[index]


def test_stroke_history_holds_only_the_touched_tiles(qtbot: Any, make_window: Any) -> None:
    window = make_window(two_layers(1024, 768))
    window.masks.add_action.trigger()
    doc = window.doc
    assert doc is not None and doc.history.undo_label == "Add layer mask"
    base = doc.layers[-1].mask
    window.masks.brush_action.trigger()
    window.masks.erase_check.setChecked(True)
    drag(qtbot, window, [(20, 20), (60, 40)])
    after = doc.layers[-1].mask
    assert after is not None and base is not None
    shared = sum(after.tile(*k) is base.tile(*k) for k in base.tile_keys())
    assert shared == len(list(base.tile_keys())) - 1  # one 256 px tile rewritten


def test_paint_opacity_caps_a_stroke_and_the_eraser_key_toggles(
    qtbot: Any, masked: MainWindow
) -> None:
    masked.masks.invert_action.trigger()  # a layer without a mask: hide it all
    assert masked.doc is not None and masked.doc.history.undo_label == "Invert mask"
    assert not np.any(top_mask(masked))
    masked.masks.brush_action.trigger()
    masked.masks.opacity_spin.setValue(50)
    masked.masks.hardness_spin.setValue(100)
    drag(qtbot, masked, [(100, 100), (140, 100), (100, 100), (140, 100)])
    mask = top_mask(masked)
    assert mask is not None and mask.max() == 128 and mask[100, 120] == 128
    qtbot.keyClick(masked, Qt.Key.Key_X)
    assert masked.masks.erase_check.isChecked() and masked.masks.brush_tool.erase


def test_mask_commands_and_their_enabled_states(
    qtbot: Any, masked: MainWindow, tmp_path: Any
) -> None:
    m = masked.masks
    assert m.add_action.isEnabled() and not m.remove_action.isEnabled()
    assert not m.from_selection_action.isEnabled()  # nothing selected
    m.add_action.trigger()
    assert not m.add_action.isEnabled() and m.remove_action.isEnabled()
    assert np.all(top_mask(masked) == 255)
    masked.set_selection(Selection("ellipse", 50, 50, 100, 80, feather=10))
    assert m.from_selection_action.isEnabled()
    m.from_selection_action.trigger()
    mask = top_mask(masked)
    assert mask is not None and mask[90, 100] == 255 and mask[5, 5] == 0
    assert 0 < mask[90, 50] < 255  # the feathered rim
    # A layer's alpha.
    doc = masked.doc
    assert doc is not None
    pixels = doc.layers[-1].pixels.read()
    pixels[:, :150, 3] = 0
    doc.set_layer_pixels(doc.layers[-1].id, type(doc.layers[-1].pixels).from_array(pixels), "Cut")
    m.from_alpha_action.trigger()
    mask = top_mask(masked)
    assert mask is not None and mask[10, 10] == 0 and mask[10, 200] == 255
    # An image file (luminance), resized to the layer.
    path = str(tmp_path / "m.png")
    grey = np.zeros((20, 30), np.uint8)
    grey[:, 15:] = 255
    Image.fromarray(grey).save(path)
    assert m.mask_from_file(path)
    mask = top_mask(masked)
    assert mask is not None and mask[100, 20] == 0 and mask[100, 280] == 255
    m.invert_action.trigger()
    mask = top_mask(masked)
    assert mask is not None and mask[100, 20] == 255 and mask[100, 280] == 0
    m.remove_action.trigger()
    assert top_mask(masked) is None
    labels = []
    while doc.history.can_undo and doc.history.undo_label != "Cut":
        labels.append(doc.history.undo_label)
        masked.undo()
    assert labels == ["Delete layer mask", "Invert mask", "Mask from file", "Mask from alpha"]


def test_lasso_selection_becomes_a_mask(qtbot: Any, masked: MainWindow) -> None:
    masked.lasso_select_action.trigger()
    assert masked.lasso_select_action.isChecked() and not masked.masks.brush_action.isChecked()
    drag(qtbot, masked, [(50, 50), (150, 50), (150, 150), (50, 150)])
    selection = masked.selection
    assert selection is not None and selection.shape == "polygon"
    assert len(selection.points) >= 4
    masked.masks.from_selection_action.trigger()
    mask = top_mask(masked)
    assert mask is not None and mask[100, 100] == 255 and mask[20, 20] == 0 and mask[100, 180] == 0
    masked.invert_selection()
    assert masked.selection is not None and masked.selection.shape == "polygon"
    assert masked.selection.inverted


def test_move_tool_drags_the_layer_in_one_step(qtbot: Any, masked: MainWindow) -> None:
    doc = masked.doc
    assert doc is not None
    masked.masks.move_action.trigger()
    assert masked.canvas.tool is masked.masks.move_tool
    drag(qtbot, masked, [(100, 100), (110, 105), (130, 120)])
    top = doc.layers[-1]
    assert (top.x, top.y) == (30, 20)
    assert doc.history.undo_label == "Move 'Top' to 30, 20"
    drag(qtbot, masked, [(100, 100), (90, 100)])
    assert (doc.layers[-1].x, doc.layers[-1].y) == (20, 20)
    masked.undo()  # the second drag is its own step
    assert (doc.layers[-1].x, doc.layers[-1].y) == (30, 20)
    masked.undo()
    assert (doc.layers[-1].x, doc.layers[-1].y) == (0, 0)


def test_overlay_follows_the_toggle_and_the_current_layer(qtbot: Any, masked: MainWindow) -> None:
    canvas = masked.canvas
    masked.masks.add_action.trigger()
    assert canvas.mask_overlay is None
    masked.masks.show_action.trigger()
    top_id = masked.doc.layers[-1].id  # type: ignore[union-attr]
    assert canvas.mask_overlay == top_id
    masked.masks.invert_action.trigger()  # all hidden: the tint covers the layer
    overlay = canvas.mask_overlay_image()
    assert overlay is not None
    image, rect = overlay
    assert (rect.width(), rect.height()) == (300, 200)
    assert image.pixelColor(10, 10).alpha() == 255
    masked.masks.invert_action.trigger()
    image, _ = canvas.mask_overlay_image()  # type: ignore[misc]
    assert image.pixelColor(10, 10).alpha() == 0
    masked.layers_panel.set_current_layer(masked.doc.layers[0].id)  # type: ignore[union-attr]
    assert canvas.mask_overlay == masked.doc.layers[0].id  # type: ignore[union-attr]
    assert canvas.mask_overlay_image() is None  # the background has no mask
    masked.masks.show_action.trigger()
    assert canvas.mask_overlay is None
    wait_canvas(qtbot, masked)


def test_tools_are_disabled_without_a_layer(make_window: Any) -> None:
    window = make_window()
    m = window.masks
    for action in (
        m.brush_action,
        m.move_action,
        m.add_action,
        m.invert_action,
        m.from_alpha_action,
        m.from_file_action,
    ):
        assert not action.isEnabled()


def test_auto_integer_parameters_show_auto_at_zero(qtbot: Any, window: MainWindow) -> None:
    param = Param("levels", "Levels", ParamType.INTEGER, default=0, min=0, max=12, auto=True)
    widget = NumberParamWidget(param, window)
    qtbot.addWidget(widget)
    assert widget.spin.text() == "Auto" and widget.value() == 0
    widget.set_value(5)
    assert widget.spin.text() == "5"
