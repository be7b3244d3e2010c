"""Porter-Duff layers on the canvas and blend mode labels in the layers panel."""

from __future__ import annotations

import numpy as np
from gui_helpers import small_document, wait_canvas
from PySide6.QtCore import QPointF

from warpaint.engine.core.compositing import blend_mode_names
from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.tiles import Rect
from warpaint.gui.canvas import changed_region


def _with_dst_in(visible: bool) -> Document:
    doc = small_document()
    cutter = Layer.from_array(
        "Cutter", np.full((8, 8, 4), 255, np.uint8), x=40, y=30, blend_mode="dst-in"
    )
    doc.add_layer(cutter.with_(visible=visible))
    doc.mark_saved()
    return doc


def test_changed_region_of_a_clearing_layer_is_the_whole_canvas():
    doc = _with_dst_in(visible=False)
    cutter = doc.layers[-1].id
    before = doc.state
    doc.set_layer_props(cutter, visible=True)
    assert changed_region(before, doc.state) == Rect(0, 0, 64, 48)
    shown = doc.state
    doc.set_layer_props(cutter, x=44)
    assert changed_region(shown, doc.state) == Rect(0, 0, 64, 48)
    # The same layer in plus mode changes only its own bounds.
    plus = DocState(64, 48, (*shown.layers[:-1], shown.layers[-1].with_(blend_mode="plus")))
    moved = DocState(64, 48, (*plus.layers[:-1], plus.layers[-1].with_(x=44)))
    assert changed_region(plus, moved) == Rect(40, 30, 12, 8)


def test_showing_a_dst_in_layer_redraws_tiles_far_from_it(qtbot, make_window):
    # 1200 px wide: the layer at x = 1100 and the pixel at x = 16 are in different tiles.
    base = np.zeros((200, 1200, 4), np.uint8)
    base[...] = (0, 0, 255, 255)
    doc = Document.from_array(base, name="Blue")
    cutter = Layer.from_array("Cutter", np.full((8, 8, 4), 255, np.uint8), x=1100, y=100)
    doc.add_layer(cutter.with_(blend_mode="dst-in", visible=False))
    doc.mark_saved()
    window = make_window(doc)
    wait_canvas(qtbot, window)
    canvas = window.canvas
    far = canvas.to_widget(QPointF(16, 16)).toPoint()
    assert canvas.grab().toImage().pixelColor(far).blue() == 255
    doc.set_layer_props(doc.layers[-1].id, visible=True)
    wait_canvas(qtbot, window)
    colour = canvas.grab().toImage().pixelColor(far)
    # Cleared: the checkerboard shows, grey, no blue left.
    assert colour.red() == colour.green() == colour.blue() and colour.red() in (153, 204)


def test_blend_combo_shows_readable_labels_and_sets_the_mode(window):
    panel, doc = window.layers_panel, window.doc
    labels = [panel.blend_combo.itemText(i) for i in range(panel.blend_combo.count())]
    modes = [panel.blend_combo.itemData(i) for i in range(panel.blend_combo.count())]
    assert modes == blend_mode_names()
    assert "Color dodge" in labels and "Soft light" in labels and "Destination in" in labels
    assert all("-" not in label and label[0].isupper() for label in labels), labels
    square = doc.layers[1]
    panel.set_current_layer(square.id)
    index = panel.blend_combo.findData("dst-out")
    assert panel.blend_combo.itemText(index) == "Destination out"
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    assert doc.layer(square.id).blend_mode == "dst-out"
    assert doc.history.undo_label == "Blend mode of 'Square': Destination out"
