"""The face picker offers "All faces" beside each face found; choosing it makes
the effect edit every face (its face index becomes ALL_FACES)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gui_helpers import astronaut_document
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from warpaint.engine.core.document import Document
from warpaint.engine.features.eyes.faces import ALL_FACES
from warpaint.gui.face_picker import ALL_FACES_TEXT, FacePickerWidget


def _group_photo() -> Document:
    """Two portraits side by side with a white gap (1152 x 512): faces left of
    x = 576 and right of it."""
    single = astronaut_document().layers[0].pixels.read()
    gap = np.full((512, 128, 4), 255, np.uint8)
    doc = Document.from_array(np.concatenate([single, gap, single], axis=1), name="Group")
    doc.mark_saved()
    return doc


def test_all_faces_is_listed_after_the_faces_and_choosing_it_emits_all(qtbot: Any) -> None:
    picker = FacePickerWidget()
    qtbot.addWidget(picker)
    picker.set_faces(2, 0)
    items = [picker.combo.itemText(i) for i in range(picker.combo.count())]
    assert items == ["Face 1 of 2 (left)", "Face 2 of 2", ALL_FACES_TEXT]
    with qtbot.waitSignal(picker.face_chosen) as chosen:
        QTest.keyClick(picker.combo, Qt.Key.Key_End)  # the user moves to the last entry
    assert chosen.args == [ALL_FACES] and picker.chosen == ALL_FACES
    picker.set_faces(2, ALL_FACES)
    assert picker.combo.currentText() == ALL_FACES_TEXT, "shown when it is the choice"
    with qtbot.waitSignal(picker.face_chosen) as chosen:
        QTest.keyClick(picker.combo, Qt.Key.Key_Home)
    assert chosen.args == [0]
    picker.set_faces(1, 0)
    assert picker.combo.count() == 1, "one face: nothing to choose between"


@pytest.mark.parametrize(
    ("effect_id", "found", "slider", "value"),
    [("gaze", "eyes", "horizontal", 12.0), ("attributes", "region", "pupil", 1.0)],
)
def test_choosing_all_faces_makes_the_effect_edit_every_face(
    qtbot: Any, make_window: Any, effect_id: str, found: str, slider: str, value: float
) -> None:
    window = make_window(_group_photo())
    panel = window.show_effect(effect_id)
    picker = window.face_pickers[panel]
    qtbot.waitUntil(lambda: len(window.session.faces) == 2, timeout=30_000)
    qtbot.waitUntil(lambda: panel.values()[found] not in (None, ()), timeout=30_000)
    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    panel.widgets[slider].set_value(value)

    QTest.keyClick(picker.combo, Qt.Key.Key_End)  # the user picks "All faces"
    assert picker.combo.currentText() == ALL_FACES_TEXT
    assert window.session.face == ALL_FACES

    def preview_of_all() -> Any:
        return next(
            (
                j.result[0]
                for j in finished
                if j.label.startswith("Preview")
                and j.result is not None
                and j.result[0].params["face"] == ALL_FACES
            ),
            None,
        )

    qtbot.waitUntil(lambda: preview_of_all() is not None, timeout=30_000)
    result = preview_of_all()
    # What the effect received: every face, and not one face's eyes or region.
    assert result.params["face"] == ALL_FACES and result.params[found] in (None, ())
    assert result.params[slider] == value
    assert result.origin is None, "the whole layer: the effect finds the faces in it"
