"""Faces as things the user picks: how many the layer holds, which one an effect edits.

Shown under the parameters of effects whose values are found in the layer (a
`prefill` hook: the eyes for gaze, the eye region for attribute sliders). The
effect session reports the faces it found; the picker lists them ("Face 1 of
2, from the left"), and choosing one, here or by clicking its mark on the
canvas, asks the session to find that face's values. An image-bound integer
parameter (the effect's own face index) is replaced by this list, so its range
is the faces found. With more than one face the list ends with "All faces"
(`ALL_FACES`, which the effects read as every face found): choosing it asks
the effect session to edit them all.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from warpaint.engine.features.eyes.faces import ALL_FACES

ALL_FACES_TEXT = "All faces"


class FacePickerWidget(QWidget):
    """'N faces found' and a list of them; `face_chosen(index)` when the user picks
    one, `face_chosen(ALL_FACES)` when they pick "All faces"."""

    face_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FacePicker")
        self.count_label = QLabel("No faces looked for yet")
        self.count_label.setWordWrap(True)
        self.combo = QComboBox()
        self.combo.setToolTip("The face the effect edits (click a face on the canvas to pick it)")
        self.combo.activated.connect(self._on_combo_activated)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Face:"))
        row.addWidget(self.combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.count_label)
        layout.addLayout(row)
        self.set_faces(0, None)

    def set_faces(self, count: int, chosen: int | None) -> None:
        """Show `count` faces found, `chosen` (an index, or `ALL_FACES`) as the current one."""
        self.combo.blockSignals(True)
        self.combo.clear()
        for i in range(count):
            self.combo.addItem(
                f"Face {i + 1} of {count}" + (" (left)" if i == 0 and count > 1 else ""), i
            )
        if count > 1:
            self.combo.addItem(ALL_FACES_TEXT, ALL_FACES)
        if chosen is not None:
            row = self.combo.findData(chosen)
            if row >= 0:
                self.combo.setCurrentIndex(row)
        self.combo.blockSignals(False)
        self.combo.setEnabled(count > 1)
        if count == 0:
            self.count_label.setText("No face found in the layer")
        elif count == 1:
            self.count_label.setText("1 face found (marked on the canvas)")
        else:
            self.count_label.setText(
                f"{count} faces found, counted from the left: "
                "pick one here or click it on the canvas"
            )

    @property
    def chosen(self) -> int | None:
        data = self.combo.currentData()
        return int(data) if data is not None else None

    def _on_combo_activated(self, row: int) -> None:
        self.face_chosen.emit(int(self.combo.itemData(row)))
