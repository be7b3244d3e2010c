"""The history panel: every undoable step by name; click one to go back to it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from warpaint.engine.core.document import Document


class HistoryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("HistoryPanel")
        self.list = QListWidget()
        self.list.setObjectName("HistoryList")
        self.list.itemClicked.connect(self._on_item_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.list)
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
