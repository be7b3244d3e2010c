"""Locking from the Layers panel: the lock on a row locks the layer (one undo
step), a mask stroke or a move on a locked layer changes nothing and the status
bar says why, and unlocking makes the layer editable again."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt

from warpaint.engine.core.document import Document, Layer


def _doc() -> Document:
    doc = Document.from_array(np.full((120, 160, 4), 200, np.uint8), name="Background")
    doc.add_layer(Layer.from_array("Top", np.full((120, 160, 4), (40, 200, 90, 255), np.uint8)))
    doc.mark_saved()
    return doc


def _stroke(qtbot: Any, window: Any) -> None:
    canvas = window.canvas
    qtbot.mousePress(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(40, 60)).toPoint()
    )
    for x in range(50, 130, 10):
        qtbot.mouseMove(canvas, canvas.to_widget(QPointF(x, 60)).toPoint())
    qtbot.mouseRelease(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(120, 60)).toPoint()
    )


def _click_lock(qtbot: Any, window: Any) -> None:
    tree = window.layers_panel.tree
    rect = tree.visualRect(tree.indexFromItem(tree.currentItem(), 1))
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_the_lock_protects_the_mask_and_says_why(qtbot, make_window):
    doc = _doc()
    window = make_window(doc)
    window.resize(900, 600)
    window.canvas.actual_size()
    top = doc.layers[1]
    window.layers_panel.set_current_layer(top.id)
    _click_lock(qtbot, window)
    assert doc.layer(top.id).locked
    assert doc.history.labels[-1] == "Lock 'Top'"
    assert not window.masks.brush_action.isEnabled()

    window.masks.brush_action.setEnabled(True)  # even with the tool chosen before locking
    window.masks.brush_action.trigger()
    window.masks.erase_check.setChecked(True)
    _stroke(qtbot, window)
    assert doc.layer(top.id).mask is None
    assert "is locked" in window.statusBar().currentMessage()

    _click_lock(qtbot, window)
    assert not doc.layer(top.id).locked
    assert doc.history.labels[-1] == "Unlock 'Top'"
    assert window.masks.brush_action.isEnabled()
    window.masks.brush_action.trigger()
    _stroke(qtbot, window)
    assert doc.layer(top.id).mask is not None


def test_a_layer_in_a_locked_group_shows_the_groups_lock(qtbot, make_window):
    from warpaint.gui.layers_panel import LOCKED_ROLE

    doc = _doc()
    window = make_window(doc)
    top = doc.layers[1]
    group = doc.group_layers([top.id], "G")
    panel = window.layers_panel
    panel.set_current_layer(group.id)
    _click_lock(qtbot, window)
    assert doc.state.is_locked(top.id)
    items = panel._items  # noqa: SLF001 - the rows as the panel keeps them
    assert items[group.id].data(1, LOCKED_ROLE) == "locked"
    assert items[top.id].data(1, LOCKED_ROLE) == "inherited"
    assert items[doc.layers[0].id].data(1, LOCKED_ROLE) == "open"
