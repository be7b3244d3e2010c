"""An effect on a layer inside groups: its preview composites through the groups
(their modes, opacity, isolation), a new layer from Apply lands in the group, and
the canvas draws exactly the compositor's flatten throughout."""

from __future__ import annotations

from typing import Any

from canvas_truth import assert_canvas_shows, settle
from gui_helpers import small_document, wait_delivered
from PySide6.QtCore import Qt


def test_a_preview_inside_nested_groups_composites_through_them(qtbot, make_window: Any):
    doc = small_document()
    background, square = doc.layers
    doc.set_layer_props(square.id, blend_mode="difference")
    inner = doc.group_layers([square.id], "Inner")
    doc.set_layer_props(inner.id, isolated=False, opacity=0.7)
    outer = doc.group_layers([inner.id], "Outer")
    doc.set_layer_props(outer.id, blend_mode="screen", opacity=0.8)
    window = make_window(doc)
    window.canvas.actual_size()
    window.layers_panel.set_current_layer(square.id)
    panel = window.effects_panel.panels["gaussian-blur"]
    panel.new_layer_radio.setChecked(True)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    shown = window.session.shown.state
    added = [lay for lay in shown.layers if lay.id not in {background.id, square.id}]
    assert len(added) == 1
    # The preview layer sits above its source, inside the same pass-through group.
    assert shown.parent_of(added[0].id).id == inner.id
    assert_canvas_shows(window)

    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    wait_delivered(qtbot, window, window.bridge.long_jobs[0])
    settle(qtbot, window)
    result = [lay for lay in doc.layers if lay.id not in {background.id, square.id}]
    assert len(result) == 1 and doc.state.parent_of(result[0].id).id == inner.id
    assert_canvas_shows(window, doc.state)
    assert result[0].name == "Square · Gaussian blur"
    assert result[0].blend_mode == "difference"  # placed as its source, in its group
