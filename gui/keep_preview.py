"""Asking whether a cancelled long effect's last preview should be kept."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

KEEP_PREVIEW_QUESTION = "Keep the last preview as a new layer?"


class KeepPreviewDialog(QDialog):
    """Yes accepts (keep the preview), No rejects; shown through the window's `Prompter`."""

    def __init__(self, effect_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{effect_title} cancelled")
        self.question = QLabel(KEEP_PREVIEW_QUESTION)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Yes | QDialogButtonBox.StandardButton.No
        )
        buttons.button(QDialogButtonBox.StandardButton.Yes).setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addWidget(buttons)
