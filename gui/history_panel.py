"""The history panel: every undoable step by name; click one to go back to it.
"Save steps as recipe…" writes the effect steps up to the current one as a
recipe (`warpaint.engine.runtime.recipes`) to apply to other pictures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.core.document import Document
from warpaint.engine.runtime.errors import WarpaintError


class HistoryPanel(QWidget):
    # The path of a recipe just saved.
    recipe_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("HistoryPanel")
        self.list = QListWidget()
        self.list.setObjectName("HistoryList")
        self.list.itemClicked.connect(self._on_item_clicked)
        self.save_recipe_button = QPushButton("Save steps as recipe…")
        self.save_recipe_button.setObjectName("SaveRecipeButton")
        self.save_recipe_button.setToolTip(
            "Save the effects applied so far, with their settings, to apply them to "
            "other pictures (warpaint apply --recipe)"
        )
        self.save_recipe_button.clicked.connect(self._on_save_recipe_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.list)
        layout.addWidget(self.save_recipe_button)
        self._doc: Document | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def set_document(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._doc = doc
        if doc is not None:
            self._unsubscribe = doc.subscribe(lambda _doc: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        self.save_recipe_button.setEnabled(
            self._doc is not None and bool(self._doc.history.effect_steps())
        )
        if self._doc is None:
            return
        history = self._doc.history
        for i, label in enumerate(history.labels):
            item = QListWidgetItem(label)
            if i > history.index:
                # Undone steps: still reachable by redo, shown greyed and italic.
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(self.palette().placeholderText())
            self.list.addItem(item)
        self.list.setCurrentRow(history.index)
        self.list.scrollToItem(self.list.currentItem())

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        if self._doc is not None:
            row = self.list.row(item)
            if row != self._doc.history.index:
                self._doc.jump_to(row)

    def _on_save_recipe_clicked(self) -> None:
        doc = self._doc
        if doc is None:
            return
        suggested = str(Path(doc.path).with_suffix(".recipe.json")) if doc.path else "recipe.json"
        path, _filter = QFileDialog.getSaveFileName(
            self, "Save steps as recipe", suggested, "Warpaint recipes (*.json)"
        )
        if not path:
            return
        if not path.lower().endswith(".json"):
            path += ".json"
        from warpaint.engine.runtime.recipes import save_recipe

        try:
            save_recipe(path, doc.history)
        except WarpaintError as exc:
            QMessageBox.warning(self, "Could not save the recipe", str(exc))
            return
        self.recipe_saved.emit(path)
