"""Edit and Image menus: undo/redo by menu and shortcut, clipboard, crop/resize/rotate/flip."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import small_document, wait_delivered
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtTest import QTest

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.selection import Selection
from warpaint.gui.main_window import qimage_to_rgba


def _menu_action(window, menu: str, text: str):
    for action in window.menus[menu].actions():
        if action.text().replace("&", "").startswith(text):
            return action
    raise AssertionError(f"no {text!r} in the {menu} menu")


def test_undo_and_redo_through_the_edit_menu(window):
    doc = window.doc
    before = doc.state
    window.layers_panel.set_current_layer(doc.layers[1].id)
    window.duplicate_layer()
    assert len(doc.layers) == 3
    undo = _menu_action(window, "edit", "Undo")
    assert undo.isEnabled() and "Duplicate" in undo.text()
    undo.trigger()
    assert doc.state is before
    redo = _menu_action(window, "edit", "Redo")
    assert redo.isEnabled()
    redo.trigger()
    assert len(doc.layers) == 3 and not _menu_action(window, "edit", "Redo").isEnabled()


def test_undo_and_redo_through_standard_shortcuts(qtbot, window):
    doc = window.doc
    window.new_layer()
    assert len(doc.layers) == 3
    window.activateWindow()
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=2000)
    QTest.keyClick(
        window.canvas,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: len(doc.layers) == 3, timeout=2000)


def test_paste_from_the_system_clipboard_adds_a_new_layer(window):
    image = QImage(10, 6, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.blue)
    QGuiApplication.clipboard().setImage(image)
    count = len(window.doc.layers)
    assert window.paste()
    assert len(window.doc.layers) == count + 1
    pasted = window.doc.layer(window.current_layer_id)
    assert pasted.name == "Pasted"
    pixels = pasted.pixels.read()
    assert pixels.shape == (6, 10, 4)
    assert (
        (pixels[..., 2] == 255).all()
        and (pixels[..., 0] == 0).all()
        and (pixels[..., 3] == 255).all()
    )
    window.undo()
    assert len(window.doc.layers) == count


def test_copy_then_paste_round_trips_the_selected_pixels(qtbot, window):
    window.layers_panel.set_current_layer(window.doc.layers[0].id)
    window.set_selection(Selection("rectangle", 4, 2, 10, 5))
    wait_delivered(qtbot, window, window.copy())
    assert QGuiApplication.clipboard().image().size().width() == 10
    window.paste()
    pasted = window.doc.layer(window.current_layer_id)
    original = window.doc.layers[0].pixels.read()[2:7, 4:14]
    assert (pasted.x, pasted.y) == (4, 2)
    np.testing.assert_array_equal(pasted.pixels.read(), original)


@pytest.mark.parametrize("merged", [False, True])
def test_copy_of_a_feathered_ellipse_carries_the_selection_in_its_alpha(qtbot, window, merged):
    window.layers_panel.set_current_layer(window.doc.layers[0].id)  # the opaque background
    selection = Selection("ellipse", 10.5, 6, 40, 30, feather=6.0)
    window.set_selection(selection)
    wait_delivered(qtbot, window, window.copy(merged=merged))
    image = QGuiApplication.clipboard().image()
    x, y, w, h = selection.bounds()
    assert (image.width(), image.height()) == (w, h)
    copied = qimage_to_rgba(image)
    expected = selection.mask(64, 48)[y : y + h, x : x + w]
    assert (expected == 1).any() and ((expected > 0) & (expected < 1)).any()
    np.testing.assert_allclose(copied[..., 3] / 255, expected, atol=1 / 255 + 1e-6)
    if not merged:  # colour is kept as it was under the soft edge (straight alpha)
        source = window.doc.layers[0].pixels.read()[y : y + h, x : x + w]
        visible = copied[..., 3] > 0
        np.testing.assert_array_equal(copied[visible][:, :3], source[visible][:, :3])


def test_crop_to_selection_and_undo(qtbot, window):
    doc = window.doc
    assert not window.crop_action.isEnabled()
    window.set_selection(Selection("rectangle", 8, 4, 20, 10))
    assert window.crop_action.isEnabled()
    before = flatten(doc.state)
    wait_delivered(qtbot, window, window.crop_to_selection())
    assert (doc.state.width, doc.state.height) == (20, 10)
    np.testing.assert_array_equal(flatten(doc.state), before[4:14, 8:28])
    assert window.selection is None
    window.undo()
    assert (doc.state.width, doc.state.height) == (64, 48)


def test_resize_image_and_canvas_through_their_dialogs(qtbot, window):
    doc = window.doc

    def resize_to_half(dialog):
        assert dialog.keep_aspect.isChecked()
        dialog.width_spin.setValue(32)  # keeps the aspect ratio: height follows
        return True

    window.prompter.dialog_setup = resize_to_half
    wait_delivered(qtbot, window, window.resize_image_dialog())
    assert (doc.state.width, doc.state.height) == (32, 24)

    def bigger_canvas(dialog):
        dialog.width_spin.setValue(40)
        dialog.height_spin.setValue(30)
        assert dialog.anchor == "center"  # the default; the list shows "Center"
        dialog.anchor_combo.setCurrentIndex(dialog.anchor_combo.findData("top-left"))
        return True

    window.prompter.dialog_setup = bigger_canvas
    wait_delivered(qtbot, window, window.canvas_size_dialog())
    assert (doc.state.width, doc.state.height) == (40, 30)
    assert doc.layers[0].x == 0 and doc.layers[0].y == 0
    window.undo()
    window.undo()
    assert (doc.state.width, doc.state.height) == (64, 48)


def test_cancelled_resize_dialog_changes_nothing(window):
    window.prompter.dialog_setup = lambda dialog: False
    state = window.doc.state
    assert window.resize_image_dialog() is None
    assert window.doc.state is state


def test_rotate_and_flip_with_undo(qtbot, window):
    doc = window.doc
    before = flatten(doc.state)
    wait_delivered(qtbot, window, window.rotate(90))
    assert (doc.state.width, doc.state.height) == (48, 64)
    np.testing.assert_array_equal(flatten(doc.state), np.rot90(before, k=-1))
    wait_delivered(qtbot, window, window.rotate(180))
    np.testing.assert_array_equal(flatten(doc.state), np.rot90(before, k=-3))
    wait_delivered(qtbot, window, window.flip(True))
    np.testing.assert_array_equal(flatten(doc.state), np.rot90(before, k=-3)[:, ::-1])
    assert doc.history.labels[-3:] == ["Rotate 90° clockwise", "Rotate 180°", "Flip horizontally"]
    for _ in range(3):
        window.undo()
    np.testing.assert_array_equal(flatten(doc.state), before)


def test_selection_tools_draw_rectangle_and_feathered_ellipse(qtbot, make_window):
    window = make_window(small_document(200, 100))
    canvas = window.canvas
    window.ellipse_select_action.trigger()
    window.feather_spin.setValue(4.0)
    start = canvas.to_widget(_pt(20, 10)).toPoint()
    end = canvas.to_widget(_pt(120, 70)).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(canvas, end)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    selection = window.selection
    assert selection is not None and selection.shape == "ellipse" and selection.feather == 4.0
    assert abs(selection.x - 20) <= 1 and abs(selection.w - 100) <= 2
    mask = selection.mask(200, 100)
    assert mask[40, 70] == 1.0 and mask[2, 2] == 0.0
    assert 0.0 < mask[40, round(selection.x + 1)] < 1.0  # feathered edge
    # A click (not on a handle) without a drag deselects.
    QTest.mouseClick(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(_pt(190, 95)).toPoint()
    )
    assert window.selection is None


def _pt(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)
