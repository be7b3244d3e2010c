"""What users hit in a real window: lost checkboxes, wheel-stolen controls,
scroll positions, history entries in words, elided layer names, shortcuts."""

from __future__ import annotations

from gui_helpers import astronaut_document, wait_delivered
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from warpaint.engine.runtime.jobs import JobState
from warpaint.gui.layers_panel import ID_ROLE


def _item_of(panel, layer_id):
    for row in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(row)
        if item.data(0, ID_ROLE) == layer_id:
            return item
    raise AssertionError(f"no row for layer {layer_id}")


def _has_checkbox(item) -> bool:
    """The row draws a check box only when its check-state role holds a value."""
    return item.data(0, Qt.ItemDataRole.CheckStateRole) is not None


def _all_rows_have_checkboxes(panel) -> bool:
    rows = range(panel.tree.topLevelItemCount())
    return all(_has_checkbox(panel.tree.topLevelItem(r)) for r in rows)


def _click_checkbox(qtbot, panel, item) -> None:
    """Click the row's check box as a user does (the indicator sits at the row's left)."""
    rect = panel.tree.visualItemRect(item)
    QTest.mouseClick(
        panel.tree.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(rect.left() + 10, rect.center().y()),
    )


def test_a_hidden_layer_keeps_its_visibility_checkbox_when_a_layer_is_added(qtbot, window):
    panel, doc = window.layers_panel, window.doc
    square = doc.layers[1]
    _click_checkbox(qtbot, panel, _item_of(panel, square.id))
    assert doc.layer(square.id).visible is False
    window.new_layer_action.trigger()
    assert panel.tree.topLevelItemCount() == 3
    item = _item_of(panel, square.id)
    assert _has_checkbox(item) and item.checkState(0) == Qt.CheckState.Unchecked
    assert _all_rows_have_checkboxes(panel)
    # The box still works: ticking it shows the layer again.
    _click_checkbox(qtbot, panel, item)
    assert doc.layer(square.id).visible is True


def test_a_hidden_layer_keeps_its_checkbox_through_apply_undo_and_redo(qtbot, window):
    panel, doc = window.layers_panel, window.doc
    background, square = doc.layers[0], doc.layers[1]
    _click_checkbox(qtbot, panel, _item_of(panel, square.id))
    panel.set_current_layer(background.id)
    effect = window.show_effect("gaussian-blur")
    qtbot.mouseClick(effect.apply_button, Qt.MouseButton.LeftButton)
    job = wait_delivered(qtbot, window, window.bridge.long_jobs[0])
    assert job.state is JobState.DONE and len(doc.layers) == 3
    for step in (window.undo, window.redo):
        step()
        assert _all_rows_have_checkboxes(panel), step.__name__
        item = _item_of(panel, square.id)
        assert item.checkState(0) == Qt.CheckState.Unchecked, step.__name__
    assert len(doc.layers) == 3


def test_history_entries_for_layer_properties_read_as_words(qtbot, window):
    panel, doc, history = window.layers_panel, window.doc, window.history_panel
    square = doc.layers[1]
    _click_checkbox(qtbot, panel, _item_of(panel, square.id))
    assert doc.history.undo_label == "Hide layer 'Square'"
    _click_checkbox(qtbot, panel, _item_of(panel, square.id))
    assert doc.history.undo_label == "Show layer 'Square'"
    panel.set_current_layer(square.id)
    index = panel.blend_combo.findData("screen")
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    assert doc.history.undo_label == "Blend mode of 'Square': Screen"
    panel.opacity_spin.setValue(40)
    assert doc.history.undo_label == "Opacity of 'Square': 40 %"
    shown = [history.list.item(r).text() for r in range(history.list.count())]
    assert shown[-4:] == [
        "Hide layer 'Square'",
        "Show layer 'Square'",
        "Blend mode of 'Square': Screen",
        "Opacity of 'Square': 40 %",
    ]
    for text in shown:
        for internal in ("blend_mode", "visible", "opacity,", "props"):
            assert internal not in text, text


def test_long_layer_names_are_elided_without_a_horizontal_scrollbar(qtbot, window):
    panel, doc = window.layers_panel, window.doc
    long_name = "A layer with a very long name that says where it came from, copy 2"
    doc.rename_layer(doc.layers[1].id, long_name)
    item = _item_of(panel, doc.layers[1].id)
    assert item.text(0) == long_name and long_name in item.toolTip(0)
    qtbot.waitUntil(lambda: panel.tree.visualItemRect(item).width() > 0)
    viewport = panel.tree.viewport().rect()
    width_of_text = panel.tree.fontMetrics().horizontalAdvance(long_name)
    assert width_of_text > viewport.width(), "the name must not fit for this test to mean anything"
    for row in range(panel.tree.topLevelItemCount()):
        rect = panel.tree.visualItemRect(panel.tree.topLevelItem(row))
        assert rect.left() >= 0 and rect.right() <= viewport.right(), rect
    assert panel.tree.horizontalScrollBar().maximum() == 0
    assert not panel.tree.horizontalScrollBar().isVisible()
    assert panel.tree.textElideMode() == Qt.TextElideMode.ElideMiddle
    # Narrowing the dock keeps every row inside the list.
    panel.tree.setFixedWidth(140)
    qtbot.waitUntil(
        lambda: panel.tree.visualItemRect(item).right() <= panel.tree.viewport().rect().right()
    )
    assert panel.tree.horizontalScrollBar().maximum() == 0


def test_what_detection_filled_in_is_told_by_the_parameters_labels(qtbot, make_window):
    window = make_window(astronaut_document())
    panel = window.show_effect("gaze")
    qtbot.waitUntil(lambda: "detected" in window.statusBar().currentMessage(), timeout=30_000)
    message = window.statusBar().currentMessage()
    label = panel.widgets["eyes"].param.label
    assert message == f"Gaze: set {label} from what was detected in the layer"
    assert "eyes" not in message.replace(label, "")


def _wheel(widget, steps: int = -1) -> None:
    """One notch of the mouse wheel over the middle of `widget` (negative: towards the user)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _scrolled_effect(qtbot, window, effect_id: str):
    """The effect's panel in a dock short enough that it must scroll."""
    panel = window.show_effect(effect_id)
    scroll = window.effects_panel.scroll
    window.resize(1100, 520)
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 100)
    return panel, scroll.verticalScrollBar()


def test_the_wheel_scrolls_the_panel_over_controls_that_do_not_have_focus(qtbot, window):
    panel, bar = _scrolled_effect(qtbot, window, "stylize")
    window.canvas.setFocus()
    combo = panel.widgets["optimizer"].combo
    slider = panel.widgets["strength"].slider
    spin = panel.widgets["iterations"].spin
    before = panel.values()
    for control in (combo, slider, spin):
        assert control.focusPolicy() == Qt.FocusPolicy.StrongFocus
        at = bar.value()
        _wheel(control)
        assert panel.values() == before, control
        assert bar.value() > at, f"the panel did not scroll over {type(control).__name__}"
    # Once the user clicks into a control, the wheel is the control's.
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus)
    at = bar.value()
    _wheel(slider, steps=1)
    assert panel.values()["strength"] != before["strength"]
    assert bar.value() == at


def test_switching_effects_opens_the_new_panel_at_its_top(qtbot, window):
    _, bar = _scrolled_effect(qtbot, window, "stylize")
    bar.setValue(bar.maximum())
    assert bar.value() > 0
    window.show_effect("gaze")
    assert bar.value() == 0
    window.show_effect("texture")
    assert bar.value() == 0


def test_ctrl_y_and_ctrl_shift_z_both_redo(qtbot, window):
    keys = [k.toString() for k in window.redo_action.shortcuts()]
    assert "Ctrl+Y" in keys and "Ctrl+Shift+Z" in keys
    doc = window.doc
    window.activateWindow()  # shortcuts reach the active window only
    qtbot.waitUntil(window.isActiveWindow)
    for key in (QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")):
        window.new_layer_action.trigger()
        layers = len(doc.layers)
        window.undo()
        assert len(doc.layers) == layers - 1
        window.canvas.setFocus()
        QTest.keySequence(window.canvas, key)
        assert len(doc.layers) == layers, key.toString()


def test_strength_sliders_are_not_squeezed_in_the_default_dock(qtbot, window):
    from warpaint.gui.param_widgets import SLIDER_MIN_WIDTH

    for effect_id in ("fast-style", "arbitrary-style", "stylize"):
        panel = window.show_effect(effect_id)
        slider = panel.widgets["strength"].slider
        qtbot.waitUntil(lambda s=slider: s.isVisible() and s.width() > 0)
        assert slider.width() >= SLIDER_MIN_WIDTH >= 120, (effect_id, slider.width())


def test_the_preset_gallery_opens_at_its_top_with_whole_labels(qtbot, window):
    window.show_effect("stylize")
    panel = window.show_effect("fast-style")
    gallery = panel.widgets["preset"]
    qtbot.waitUntil(lambda: gallery.list.isVisible() and gallery.list.viewport().height() > 0)
    qtbot.wait(50)  # one event-loop turn: where a view scrolls to its current item
    assert gallery.value() == panel.spec.defaults()["preset"]
    assert gallery.list.verticalScrollBar().value() == 0
    first = gallery.list.visualItemRect(gallery.list.item(0))
    assert first.top() >= 0
    metrics = gallery.list.fontMetrics()
    cell = gallery.list.gridSize().width()
    for row in range(gallery.list.count()):
        text = gallery.list.item(row).text()
        assert metrics.horizontalAdvance(text) <= cell - 8, text


def test_the_loss_plot_comes_into_view_while_a_gatys_job_runs(qtbot, window):
    window.duplicate_layer()
    panel = window.show_effect("stylize")
    panel.set_values(
        {
            "size": 32,
            "iterations": 2000,
            "scales": 1,
            "network": "vgg19-random-slim",
            "style": ((window.doc.layers[0].id, 1.0),),
        }
    )
    panel.widgets["mask"].combo.setCurrentIndex(1)  # "None (whole layer)"
    scroll = window.effects_panel.scroll
    scroll.verticalScrollBar().setValue(0)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    job = window.bridge.long_jobs[0]
    try:
        qtbot.waitUntil(panel.loss_plot.isVisible, timeout=30_000)

        def in_view() -> bool:
            top = panel.loss_plot.mapTo(scroll.viewport(), QPoint(0, 0)).y()
            return top >= 0 and top + panel.loss_plot.height() <= scroll.viewport().height()

        qtbot.waitUntil(in_view, timeout=2000)
        assert job.state is JobState.RUNNING
    finally:
        window.cancel_jobs()
    wait_delivered(qtbot, window, job, timeout=20_000)


def test_the_default_layout_gives_the_effect_panel_more_height_than_the_layer_list(window):
    # Sliders, the preset gallery and the loss plot live in the effects dock;
    # a short layer list needs less.
    assert window.effects_dock.height() > 1.5 * window.layers_dock.height()
