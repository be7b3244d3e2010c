"""The layers panel: thumbnails, visibility, name, opacity, blend mode, reordering.

The list shows the top layer first. Every edit goes straight to the document
as one undoable step (opacity drags merge into one step, sealed when the
slider is released). Thumbnails are reduced by the engine on the interactive
lane and arrive through the bridge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.core.compositing import blend_mode_label, blend_mode_names
from warpaint.engine.core.document import Document, Layer
from warpaint.engine.core.lod import LevelOfDetail, shared_lod
from warpaint.engine.core.resample import fit_scale, resize
from warpaint.engine.core.tiles import TiledImage, from_float
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.gui.bridge import JobBridge
from warpaint.gui.canvas import checker_brush, rgba_to_qimage

THUMB = 40
ID_ROLE = Qt.ItemDataRole.UserRole


def _thumbnail(lod: LevelOfDetail, pixels: TiledImage, side: int = THUMB) -> np.ndarray:
    """(h, w, 4) uint8 fitting side x side device pixels, reduced by the engine."""
    level = 0
    while level < 8 and max(pixels.width, pixels.height) / 2 ** (level + 1) >= side * 2:
        level += 1
    reduced = lod.image_at(pixels, level) if level else pixels
    scale = fit_scale(reduced.width, reduced.height, side)
    w, h = max(1, round(reduced.width * scale)), max(1, round(reduced.height * scale))
    return from_float(resize(reduced.read_float(), w, h, method="box"), np.uint8)


class LayersPanel(QWidget):
    current_layer_changed = Signal(object)  # layer id or None

    def __init__(self, bridge: JobBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LayersPanel")
        self._bridge = bridge
        self._lod = shared_lod()
        self._doc: Document | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._current: int | None = None
        self._thumbs: dict[int, tuple[TiledImage, QIcon]] = {}
        self._syncing = False

        self.list = QListWidget()
        self.list.setObjectName("LayerList")
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(1)
        # Long names are elided in the middle (a name's end often tells
        # layers apart: "… copy 2"); the full name is in the tooltip.
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setWordWrap(False)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setItemDelegate(_FitWidthDelegate(self.list))
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.currentItemChanged.connect(self._on_list_current_changed)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.model().rowsMoved.connect(self._on_rows_moved)

        self.blend_combo = QComboBox()
        for mode in blend_mode_names():
            self.blend_combo.addItem(blend_mode_label(mode), mode)
        self.blend_combo.activated.connect(self._on_blend_activated)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setRange(0, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setKeyboardTracking(False)
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider_changed)
        self.opacity_slider.sliderReleased.connect(self._seal)
        self.opacity_spin.valueChanged.connect(self._on_opacity_spin_changed)
        opacity = QHBoxLayout()
        opacity.addWidget(self.opacity_slider, 1)
        opacity.addWidget(self.opacity_spin)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Blend:", self.blend_combo)
        form.addRow("Opacity:", opacity)

        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.list, 1)
        layout.addLayout(self.buttons)
        self._update_controls()

    def set_actions(self, actions: Sequence[QAction]) -> None:
        """Tool buttons under the list for the window's layer actions."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(20, 20))
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)

    def set_mask_actions(self, actions: Sequence[QAction]) -> None:
        """A second row of buttons, for the current layer's mask."""
        row = QHBoxLayout()
        row.setSpacing(2)
        label = QLabel("Mask:")
        label.setObjectName("MaskButtonsLabel")
        row.addWidget(label)
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(20, 20))
            row.addWidget(button)
        row.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.addLayout(row)

    # -- document ---------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._doc = doc
        self._thumbs.clear()
        self._current = doc.layers[-1].id if doc is not None and doc.layers else None
        if doc is not None:
            self._unsubscribe = doc.subscribe(lambda _doc: self.refresh())
        self.list.clear()
        self.refresh()
        self.current_layer_changed.emit(self._current)

    @property
    def current_layer_id(self) -> int | None:
        return self._current

    def set_current_layer(self, layer_id: int | None) -> None:
        if layer_id == self._current:
            return
        self._current = layer_id
        self._select_current()
        self._update_controls()
        self.current_layer_changed.emit(layer_id)

    def refresh(self) -> None:
        doc = self._doc
        layers = list(reversed(doc.layers)) if doc is not None else []
        ids = [layer.id for layer in layers]
        shown = [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]
        previous_current = self._current
        if ids != shown:
            new_ids = [i for i in ids if i not in shown]
            if new_ids and shown:
                self._current = new_ids[0]  # a layer was added: work on it next
            elif self._current not in ids:
                old_row = shown.index(self._current) if self._current in shown else 0
                self._current = ids[min(old_row, len(ids) - 1)] if ids else None
            self._syncing = True
            self.list.clear()
            for layer in layers:
                item = QListWidgetItem()
                item.setData(ID_ROLE, layer.id)
                item.setFlags(
                    Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsEditable
                    | Qt.ItemFlag.ItemIsUserCheckable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                self.list.addItem(item)
            self._syncing = False
        self._syncing = True
        for row, layer in enumerate(layers):
            item = self.list.item(row)
            if item.text() != layer.name:
                item.setText(layer.name)
            check = Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked
            # A new item reads as Unchecked but has no check box until its
            # check-state role is set: a hidden layer's row must set it too.
            if item.data(Qt.ItemDataRole.CheckStateRole) is None or item.checkState() != check:
                item.setCheckState(check)
            item.setToolTip(
                f"{layer.name}\n{layer.pixels.width} × {layer.pixels.height} px"
                f" at {layer.x}, {layer.y}"
                f"\n{blend_mode_label(layer.blend_mode)}, {layer.opacity:.0%}"
                + ("\nhas a mask" if layer.mask is not None else "")
            )
            cached = self._thumbs.get(layer.id)
            if cached is not None and cached[0] is layer.pixels:
                item.setIcon(cached[1])
        self._syncing = False
        self._select_current()
        self._update_controls()
        self._request_thumbnails(layers)
        if self._current != previous_current:
            self.current_layer_changed.emit(self._current)

    def _select_current(self) -> None:
        self._syncing = True
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == self._current:
                self.list.setCurrentRow(row)
                break
        self._syncing = False

    def _current_layer(self) -> Layer | None:
        if self._doc is None or self._current is None:
            return None
        try:
            return self._doc.layer(self._current)
        except KeyError:
            return None

    def _update_controls(self) -> None:
        layer = self._current_layer()
        for widget in (self.blend_combo, self.opacity_slider, self.opacity_spin):
            widget.setEnabled(layer is not None)
        if layer is None:
            return
        self._syncing = True
        self.blend_combo.setCurrentIndex(self.blend_combo.findData(layer.blend_mode))
        percent = round(layer.opacity * 100)
        if not self.opacity_slider.isSliderDown():
            self.opacity_slider.setValue(percent)
        self.opacity_spin.setValue(percent)
        self._syncing = False

    # -- thumbnails -----------------------------------------------------------------
    def thumbnails_ready(self) -> bool:
        if self._doc is None:
            return True
        return all(
            (c := self._thumbs.get(layer.id)) is not None and c[0] is layer.pixels
            for layer in self._doc.layers
        )

    def _request_thumbnails(self, layers: list[Layer]) -> None:
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in {lay.id for lay in layers}}
        todo = [
            (layer.id, layer.pixels)
            for layer in layers
            if (c := self._thumbs.get(layer.id)) is None or c[0] is not layer.pixels
        ]
        if not todo:
            return
        lod = self._lod
        # Made for the screen's device pixels, so thumbnails stay sharp on high-DPI screens.
        dpr = self.devicePixelRatioF()
        side = round(THUMB * dpr)

        def job(ctx: JobContext) -> None:
            for i, (layer_id, pixels) in enumerate(todo):
                ctx.report(i / len(todo), (layer_id, pixels, _thumbnail(lod, pixels, side), dpr))

        self._bridge.preview(
            ("thumbnails", id(self)), job, "Layer thumbnails", on_progress=self._on_thumbnail
        )

    def _on_thumbnail(self, job: Job, fraction: float, preview: object) -> None:
        layer_id, pixels, rgba, dpr = cast(tuple[int, TiledImage, np.ndarray, float], preview)
        icon = QIcon(_thumbnail_pixmap(rgba_to_qimage(rgba), dpr))
        self._thumbs[layer_id] = (pixels, icon)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == layer_id:
                self._syncing = True
                item.setIcon(icon)
                self._syncing = False

    # -- user edits -------------------------------------------------------------------
    def _on_list_current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if self._syncing or item is None:
            return
        self.set_current_layer(item.data(ID_ROLE))

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._syncing or self._doc is None:
            return
        layer_id = item.data(ID_ROLE)
        try:
            layer = self._doc.layer(layer_id)
        except KeyError:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        if visible != layer.visible:
            self._doc.set_layer_props(layer_id, visible=visible)
            self._seal()
        name = item.text().strip()
        if name and name != layer.name:
            self._doc.rename_layer(layer_id, name)
        elif not name:
            self.refresh()

    def _on_rows_moved(
        self, _parent: QModelIndex, start: int, _end: int, _dest: QModelIndex, _row: int
    ) -> None:
        if self._syncing or self._doc is None:
            return
        ids = [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]
        moved = None
        for candidate in ids:
            order = [i for i in ids if i != candidate]
            stack = [lay.id for lay in reversed(self._doc.layers) if lay.id != candidate]
            if order == stack:
                moved = candidate
                break
        if moved is None:
            self.refresh()
            return
        self._current = moved
        self._doc.move_layer(moved, len(ids) - 1 - ids.index(moved))

    def _on_blend_activated(self, index: int) -> None:
        if self._doc is not None and self._current is not None:
            self._doc.set_layer_props(self._current, blend_mode=self.blend_combo.itemData(index))
            self._seal()

    def _on_opacity_slider_changed(self, value: int) -> None:
        if self._syncing or self._doc is None or self._current is None:
            return
        self._doc.set_layer_props(self._current, opacity=value / 100)
        if not self.opacity_slider.isSliderDown():
            self._seal()

    def _on_opacity_spin_changed(self, value: int) -> None:
        if self._syncing or self._doc is None or self._current is None:
            return
        self._doc.set_layer_props(self._current, opacity=value / 100)
        self._seal()

    def _seal(self) -> None:
        if self._doc is not None:
            self._doc.history.seal()


class _FitWidthDelegate(QStyledItemDelegate):
    """Rows no wider than the list, so a long name is elided instead of
    widening its row past the viewport (which clips it under a scrollbar)."""

    def __init__(self, view: QListWidget) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint(option, index)
        room = self._view.viewport().width() - 2 * self._view.spacing()
        return QSize(max(1, min(hint.width(), room)), hint.height())


def _thumbnail_pixmap(image: QImage, dpr: float) -> QPixmap:
    """The thumbnail (made at `dpr` device pixels per point) centred on a checkerboard."""
    side = round(THUMB * dpr)
    pixmap = QPixmap(side, side)
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(QColor(0, 0, 0, 0))
    image.setDevicePixelRatio(dpr)
    w, h = image.width() / dpr, image.height() / dpr
    x, y = round((THUMB - w) / 2), round((THUMB - h) / 2)
    painter = QPainter(pixmap)
    painter.fillRect(QRectF(x, y, w, h), checker_brush(dpr, 4))
    painter.drawImage(QPointF(x, y), image)
    painter.setPen(QColor(0, 0, 0, 90))
    painter.drawRect(QRectF(x + 0.5, y + 0.5, w - 1, h - 1))
    painter.end()
    return pixmap
