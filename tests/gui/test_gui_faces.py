"""Faces are things the user picks: the gaze and attribute panels say how many
faces the layer holds, mark them on the canvas, and move the eyes to the one
picked (in the list or by clicking it on the canvas)."""

from __future__ import annotations

import numpy as np
from gui_helpers import astronaut_document
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from warpaint.engine.core.document import Document


def _group_photo() -> Document:
    """Two portraits side by side with a white gap (1152 x 512): two faces, the
    second 640 px right of the first."""
    single = astronaut_document().layers[0].pixels.read()
    gap = np.full((512, 128, 4), 255, np.uint8)
    doc = Document.from_array(np.concatenate([single, gap, single], axis=1), name="Group")
    doc.mark_saved()
    return doc


def test_bug5_the_gaze_panel_counts_the_faces_marks_them_and_moves_the_eyes_to_the_one_clicked(
    qtbot, make_window
):
    window = make_window(_group_photo())
    panel = window.show_effect("gaze")
    picker = window.face_pickers[panel]
    qtbot.waitUntil(lambda: len(window.session.faces) == 2, timeout=30_000)
    qtbot.waitUntil(lambda: len(panel.values()["eyes"] or ()) == 4, timeout=30_000)
    assert picker.count_label.text().startswith("2 faces found")
    items = [picker.combo.itemText(i) for i in range(picker.combo.count())]
    assert items == ["Face 1 of 2 (left)", "Face 2 of 2", "All faces"], "the faces found, not 0-63"
    assert not panel.widgets["face"].isVisible(), "the list of faces replaces the 0-63 control"
    marks = window.canvas.marks
    assert len(marks) == 2 and marks[0].center().x() < 576 < marks[1].center().x()
    eyes_first = np.asarray(panel.values()["eyes"])
    assert (eyes_first[:, 0] < 576).all(), "the first face's eyes"

    centre = window.canvas.to_widget(marks[1].center()).toPoint()
    QTest.mouseClick(
        window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre
    )
    assert window.session.face == 1 and picker.combo.currentIndex() == 1
    qtbot.waitUntil(lambda: (np.asarray(panel.values()["eyes"])[:, 0] > 576).all(), timeout=30_000)
    eyes = np.asarray(panel.values()["eyes"])
    assert panel.values()["face"] == 1
    # The same portrait: the second face's eyes are the first's moved by 640 px.
    assert np.abs(eyes - [640, 0] - eyes_first).max() < 3
    qtbot.waitUntil(lambda: window.session.shown is not None, timeout=30_000)

    picker.combo.setCurrentIndex(0)
    picker.combo.activated.emit(0)  # as a user's choice in the list
    qtbot.waitUntil(lambda: (np.asarray(panel.values()["eyes"])[:, 0] < 576).all(), timeout=30_000)
    assert window.session.face == 0 and panel.values()["face"] == 0


def test_a_portrait_has_one_face_marked_and_another_effect_marks_none(qtbot, make_window):
    window = make_window(astronaut_document())
    panel = window.show_effect("attributes")
    qtbot.waitUntil(lambda: len(window.session.faces) == 1, timeout=30_000)
    assert window.face_pickers[panel].count_label.text().startswith("1 face found")
    assert len(window.canvas.marks) == 1
    window.show_effect("gaussian-blur")
    assert window.canvas.marks == []
