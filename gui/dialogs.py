"""Dialogs, and `Prompter`: the one place that asks the user something.

Every question the main window asks (save changes?, which file?, recover?)
and every error it shows goes through a `Prompter`, so tests replace it with a
scripted one instead of clicking modal message boxes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.core.transform import ANCHORS

MAX_SIDE = 100_000


class Prompter:
    """Asks the user through standard dialogs; tests substitute a scripted one."""

    def ask_save_changes(self, parent: QWidget, name: str) -> str:
        """'save', 'discard' or 'cancel'."""
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"Save the changes to “{name}” before closing?")
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return "save"
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return "cancel"

    def ask_recover(self, parent: QWidget | None, description: str) -> str:
        """'restore', 'discard' or 'later' for one crash-recovery file."""
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work")
        box.setText("Warpaint did not close normally last time.")
        box.setInformativeText(f"Recover the autosaved copy of {description}?")
        restore = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"

    def error(self, parent: QWidget | None, title: str, reason: str) -> None:
        QMessageBox.critical(parent, title, reason)

    def open_paths(self, parent: QWidget, title: str, directory: str, filter: str) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(parent, title, directory, filter)
        return paths

    def save_path(self, parent: QWidget, title: str, path: str, filter: str) -> str | None:
        chosen, _ = QFileDialog.getSaveFileName(parent, title, path, filter)
        return chosen or None

    def run_dialog(self, dialog: QDialog) -> bool:
        return dialog.exec() == QDialog.DialogCode.Accepted


def _spin(value: int, maximum: int = MAX_SIDE, suffix: str = " px") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, maximum)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setAccelerated(True)
    spin.setMinimumWidth(110)
    return spin


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


BACKGROUNDS = {
    "White": (1.0, 1.0, 1.0, 1.0),
    "Black": (0.0, 0.0, 0.0, 1.0),
    "Transparent": None,
}


class NewDocumentDialog(QDialog):
    """Size and background of a new document."""

    def __init__(
        self, parent: QWidget | None = None, width: int = 1920, height: int = 1080
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Image")
        self.width_spin = _spin(width)
        self.height_spin = _spin(height)
        self.background_combo = QComboBox()
        self.background_combo.addItems([*BACKGROUNDS, "Custom…"])
        self._custom = QColor(128, 128, 128)
        self.colour_button = QPushButton("Choose…")
        self.colour_button.setEnabled(False)
        self.colour_button.clicked.connect(self._on_colour_clicked)
        self.background_combo.currentTextChanged.connect(
            lambda text: self.colour_button.setEnabled(text == "Custom…")
        )
        background = QHBoxLayout()
        background.addWidget(self.background_combo, 1)
        background.addWidget(self.colour_button)
        form = QFormLayout()
        form.addRow("&Width:", self.width_spin)
        form.addRow("&Height:", self.height_spin)
        background_label = QLabel("&Background:")  # a row holding a layout gets no buddy itself
        background_label.setBuddy(self.background_combo)
        form.addRow(background_label, background)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "Create"))

    def _on_colour_clicked(self) -> None:
        colour = QColorDialog.getColor(self._custom, self, "Background colour")
        if colour.isValid():
            self._custom = colour

    @property
    def size(self) -> tuple[int, int]:  # type: ignore[override]
        return self.width_spin.value(), self.height_spin.value()

    @property
    def background(self) -> tuple[float, float, float, float] | None:
        text = self.background_combo.currentText()
        if text in BACKGROUNDS:
            return BACKGROUNDS[text]
        c = self._custom
        return (c.redF(), c.greenF(), c.blueF(), 1.0)


class ResizeDialog(QDialog):
    """Resize image (with resampling method) or canvas (with anchor)."""

    METHODS = {
        "lanczos": "Lanczos (sharpest)",
        "bicubic": "Bicubic",
        "bilinear": "Bilinear (smoothest)",
        "nearest": "Nearest neighbour (hard pixels)",
    }

    def __init__(
        self, width: int, height: int, canvas: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Canvas Size" if canvas else "Resize Image")
        self._ratio = width / height
        self.width_spin = _spin(width)
        self.height_spin = _spin(height)
        self.keep_aspect = QCheckBox("Keep aspect ratio")
        self.keep_aspect.setChecked(not canvas)
        self.width_spin.valueChanged.connect(self._on_width_changed)
        self.height_spin.valueChanged.connect(self._on_height_changed)
        form = QFormLayout()
        form.addRow("&Width:", self.width_spin)
        form.addRow("&Height:", self.height_spin)
        form.addRow("", self.keep_aspect)
        self.method_combo = QComboBox()
        self.anchor_combo = QComboBox()
        if canvas:
            for anchor in ANCHORS:
                self.anchor_combo.addItem(anchor.replace("-", " ").capitalize(), anchor)
            self.anchor_combo.setCurrentIndex(self.anchor_combo.findData("center"))
            form.addRow("&Anchor:", self.anchor_combo)
        else:
            for method, text in self.METHODS.items():
                self.method_combo.addItem(text, method)
            form.addRow("&Resampling:", self.method_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Current size: {width} × {height} px"))
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "Resize"))
        self._syncing = False

    def _on_width_changed(self, value: int) -> None:
        if self.keep_aspect.isChecked() and not self._syncing:
            self._syncing = True
            self.height_spin.setValue(max(1, round(value / self._ratio)))
            self._syncing = False

    def _on_height_changed(self, value: int) -> None:
        if self.keep_aspect.isChecked() and not self._syncing:
            self._syncing = True
            self.width_spin.setValue(max(1, round(value * self._ratio)))
            self._syncing = False

    @property
    def size(self) -> tuple[int, int]:  # type: ignore[override]
        return self.width_spin.value(), self.height_spin.value()

    @property
    def method(self) -> str:
        """The engine's name of the chosen resampling method."""
        return str(self.method_combo.currentData())

    @property
    def anchor(self) -> str:
        """The engine's name of the chosen anchor ('top-left', 'center', ...)."""
        return str(self.anchor_combo.currentData())


@dataclass
class ExportChoice:
    path: str
    quality: int
    bit_depth: int | None
    keep_profile: bool


class ExportOptionsDialog(QDialog):
    """Options for exporting a flattened copy: quality, bit depth, colour profile."""

    def __init__(
        self,
        path: str,
        fmt: Any,
        source_bit_depth: int,
        has_profile: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """`fmt` is the engine's `ExportFormat` for the chosen file type."""
        super().__init__(parent)
        self.setWindowTitle(f"Export as {fmt.name}")
        self.path = path
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(92)
        self.quality_spin.setSuffix(" %")
        self.quality_spin.setEnabled(fmt.quality)
        self.depth_combo = QComboBox()
        names = {8: "8-bit", 16: "16-bit", 32: "32-bit float"}
        held = [b for b in fmt.bit_depths if b <= source_bit_depth] or [min(fmt.bit_depths)]
        if source_bit_depth in fmt.bit_depths:
            default = f"Same as the image ({source_bit_depth}-bit)"
        else:  # the engine reduces the depth (and says so): show what the file will hold
            reduced = names.get(max(held), f"{max(held)}-bit")
            default = f"{reduced} ({fmt.name} cannot hold the image's {source_bit_depth}-bit)"
        self.depth_combo.addItem(default, None)
        for bits in fmt.bit_depths:
            self.depth_combo.addItem(names.get(bits, f"{bits}-bit"), bits)
        self.depth_combo.setEnabled(len(fmt.bit_depths) > 1)
        self.profile_check = QCheckBox("Keep the image's own colour profile (else sRGB)")
        self.profile_check.setEnabled(fmt.icc and has_profile)
        form = QFormLayout()
        # Fields keep their natural width instead of stretching a 3-digit spin box.
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("File:", QLabel(os.path.basename(path)))
        form.addRow("&Quality:", self.quality_spin)
        form.addRow("&Bit depth:", self.depth_combo)
        form.addRow("", self.profile_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "Export"))
        self.setMinimumWidth(340)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)

    def choice(self) -> ExportChoice:
        return ExportChoice(
            self.path,
            self.quality_spin.value(),
            self.depth_combo.currentData(),
            self.profile_check.isChecked(),
        )
