"""Layer operations through the layers panel and its buttons."""

from __future__ import annotations

import numpy as np
from gui_helpers import needs_io
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent

from warpaint.gui.layers_panel import ID_ROLE


def _row_of(panel, layer_id):
    for row in range(panel.tree.topLevelItemCount()):
        if panel.tree.topLevelItem(row).data(0, ID_ROLE) == layer_id:
            return row
    raise AssertionError(layer_id)


def test_panel_lists_layers_top_first_with_thumbnails(qtbot, window):
    panel = window.layers_panel
    names = [panel.tree.topLevelItem(r).text(0) for r in range(panel.tree.topLevelItemCount())]
    assert names == ["Square", "Background"]
    qtbot.waitUntil(panel.thumbnails_ready, timeout=5000)
    rows = range(panel.tree.topLevelItemCount())
    assert all(not panel.tree.topLevelItem(r).icon(0).isNull() for r in rows)


def test_visibility_checkbox_hides_the_layer_as_one_step(window):
    panel, doc = window.layers_panel, window.doc
    square = doc.layers[1]
    panel.tree.topLevelItem(_row_of(panel, square.id)).setCheckState(0, Qt.CheckState.Unchecked)
    assert doc.layer(square.id).visible is False
    assert doc.history.undo_label == "Hide layer 'Square'"
    window.undo()
    assert doc.layer(square.id).visible is True


def test_opacity_slider_drag_is_one_undo_step(window):
    panel, doc = window.layers_panel, window.doc
    square = doc.layers[1]
    panel.set_current_layer(square.id)
    steps = len(doc.history.labels)
    panel.opacity_slider.setSliderDown(True)
    for value in (90, 70, 50, 30):
        panel.opacity_slider.setValue(value)
    panel.opacity_slider.setSliderDown(False)
    panel.opacity_slider.sliderReleased.emit()
    assert doc.layer(square.id).opacity == 0.3
    assert len(doc.history.labels) == steps + 1
    assert panel.opacity_spin.value() == 30
    panel.opacity_slider.setValue(80)  # a new gesture after the release is a new step
    assert len(doc.history.labels) == steps + 2


def test_blend_mode_combo_sets_the_layer_mode(window):
    panel, doc = window.layers_panel, window.doc
    square = doc.layers[1]
    panel.set_current_layer(square.id)
    index = panel.blend_combo.findData("multiply")
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    assert doc.layer(square.id).blend_mode == "multiply"


def test_rename_by_editing_the_item(window):
    panel, doc = window.layers_panel, window.doc
    square = doc.layers[1]
    panel.tree.topLevelItem(_row_of(panel, square.id)).setText(0, "Red square")
    assert doc.layer(square.id).name == "Red square"
    assert "Rename" in doc.history.undo_label


def test_reorder_by_dragging_an_item_moves_the_layer(window):
    panel, doc = window.layers_panel, window.doc
    bottom, top = doc.layers[0].id, doc.layers[1].id
    # A drop of the bottom row on the top half of the top row, through the tree's drop handling.
    tree = panel.tree
    panel.set_current_layer(bottom)
    rect = tree.visualItemRect(panel.item_of(top))
    mime = tree.model().mimeData([tree.indexFromItem(panel.item_of(bottom))])
    drop = QDropEvent(
        QPointF(rect.center().x(), rect.top() + 1),
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(drop)
    assert [layer.id for layer in doc.layers] == [top, bottom]
    assert [tree.topLevelItem(r).data(0, ID_ROLE) for r in range(2)] == [bottom, top]
    window.undo()
    assert [layer.id for layer in doc.layers] == [bottom, top]


def test_layer_buttons_duplicate_raise_lower_merge_and_delete(window):
    panel, doc = window.layers_panel, window.doc
    bottom, square = doc.layers[0], doc.layers[1]
    panel.set_current_layer(square.id)
    window.duplicate_layer_action.trigger()
    assert [layer.name for layer in doc.layers] == ["Background", "Square", "Square copy"]
    copy_id = window.current_layer_id
    assert doc.layer(copy_id).name == "Square copy"
    window.lower_layer_action.trigger()
    assert doc.state.index_of(copy_id) == 1
    assert window.raise_layer_action.isEnabled()
    window.merge_down_action.trigger()
    assert [layer.name for layer in doc.layers] == ["Background", "Square"]
    merged = doc.layers[0]  # the copy merged into the background, which keeps its id
    assert merged.id == bottom.id == window.current_layer_id
    assert window.delete_layer_action.isEnabled()
    window.delete_layer_action.trigger()
    assert [layer.id for layer in doc.layers] == [square.id]
    assert not window.delete_layer_action.isEnabled()  # the last layer stays
    assert not window.merge_down_action.isEnabled()


def test_new_layer_is_transparent_and_canvas_sized(window):
    window.new_layer_action.trigger()
    layer = window.doc.layer(window.current_layer_id)
    assert layer.name == "Layer 3"
    assert (layer.pixels.width, layer.pixels.height) == (64, 48)
    assert not layer.pixels.read().any()


@needs_io
def test_add_layer_from_file(window, tmp_path):
    path = tmp_path / "green.png"
    Image.new("RGBA", (5, 7), (0, 255, 0, 255)).save(path)
    window.prompter.open_answers.append([str(path)])
    window.layer_from_file_action.trigger()
    layer = window.doc.layer(window.current_layer_id)
    assert layer.pixels.shape == (7, 5, 4)
    assert (layer.pixels.read()[..., 1] == 255).all()
    assert np.array_equal(window.doc.layers[-1].pixels.read(), layer.pixels.read())
