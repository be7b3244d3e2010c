"""Layer masks in the window: the mask commands, the brush options and the overlay toggle.

Every command is one undoable step (`Document.set_layer_mask`); the masks
themselves are made by the engine (`warpaint.engine.core.selection`,
`warpaint.engine.core.brush`), at the layer's storage dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLabel, QSpinBox, QToolBar

from warpaint.engine.core.selection import (
    inverted_mask,
    layer_mask_from_selection,
    mask_from_alpha,
    mask_from_image,
)
from warpaint.engine.core.tiles import TiledImage
from warpaint.gui.mask_tools import BrushTool, MoveTool, full_mask

if TYPE_CHECKING:
    from warpaint.engine.core.document import Document, Layer
    from warpaint.gui.main_window import MainWindow


class MaskActions(QObject):
    """The window's mask actions, the brush and move tools, and the brush toolbar."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        a = window._action  # noqa: SLF001 - the window's one way of making actions
        self.brush_tool = BrushTool(self._target, self)
        self.move_tool = MoveTool(self._target, self)
        self.add_action = a(
            "Add Layer &Mask",
            self.add_mask,
            None,
            "mask-add",
            "Add a mask that shows the whole layer",
        )
        self.remove_action = a("&Delete Layer Mask", self.remove_mask, None, "mask-delete")
        self.invert_action = a("&Invert Mask", self.invert_mask, "Ctrl+Shift+I", "mask-invert")
        self.from_selection_action = a("Mask from &Selection", self.mask_from_selection)
        self.from_alpha_action = a("Mask from &Alpha", self.mask_from_alpha)
        self.from_file_action = a("Mask from &File…", self.mask_from_file_dialog)
        self.show_action = a(
            "Show Mask &Overlay",
            self._update_overlay,
            "Ctrl+Shift+O",
            "mask-show",
            "Tint what the current layer's mask hides",
        )
        self.show_action.setCheckable(True)
        self.brush_action = a(
            "Mask &Brush", self.choose_brush, "B", "tool-brush", "Paint the current layer's mask"
        )
        self.move_action = a(
            "&Move Layer", self.choose_move, "V", "tool-move", "Drag the current layer to place it"
        )
        for action in (self.brush_action, self.move_action):
            action.setCheckable(True)

    # -- the layer the tools and commands work on ---------------------------------------
    def _target(self) -> tuple[Document, int] | None:
        found = self._layer()
        return None if found is None else (found[0], found[1].id)

    def _layer(self) -> tuple[Document, Layer] | None:
        """The current layer, unless there is none or it is locked (then the
        status bar says why nothing happens)."""
        doc, layer = self._window.doc, self._window.current_layer()
        if doc is None or layer is None:
            return None
        if doc.state.is_locked(layer.id):
            self._window.statusBar().showMessage(
                f"'{layer.name}' is locked: unlock it in the Layers panel to edit its mask "
                "or move it",
                5000,
            )
            return None
        return doc, layer

    # -- commands (each one undoable step) -------------------------------------------
    def add_mask(self) -> None:
        if (found := self._layer()) is not None and found[1].mask is None:
            doc, layer = found
            doc.set_layer_mask(layer.id, full_mask(layer), "Add layer mask")

    def remove_mask(self) -> None:
        if (found := self._layer()) is not None and found[1].mask is not None:
            doc, layer = found
            doc.set_layer_mask(layer.id, None, "Delete layer mask")

    def invert_mask(self) -> None:
        if (found := self._layer()) is not None:
            doc, layer = found
            mask = layer.mask if layer.mask is not None else full_mask(layer)
            doc.set_layer_mask(layer.id, inverted_mask(mask), "Invert mask")

    def mask_from_selection(self) -> None:
        selection = self._window.selection
        if (found := self._layer()) is not None and selection is not None:
            doc, layer = found
            mask = layer_mask_from_selection(selection, layer.bounds, layer.pixels.dtype)
            doc.set_layer_mask(layer.id, mask, "Mask from selection")

    def mask_from_alpha(self) -> None:
        if (found := self._layer()) is not None:
            doc, layer = found
            doc.set_layer_mask(layer.id, mask_from_alpha(layer.pixels), "Mask from alpha")

    def mask_from_file_dialog(self) -> None:
        path = self._window.ask_file("Mask from File")
        if path:
            self.mask_from_file(path)

    def mask_from_file(self, path: str) -> bool:
        """The image's luminance (times its alpha), resized to the layer, as its mask."""
        found = self._layer()
        if found is None:
            return False
        doc, layer = found
        from warpaint.engine.io import read_image_array

        try:
            image = read_image_array(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
            self._window._error("Could not use the file as a mask", exc, path)  # noqa: SLF001
            return False
        w, h = layer.pixels.width, layer.pixels.height
        mask: TiledImage = mask_from_image(image, w, h, layer.pixels.dtype)
        doc.set_layer_mask(layer.id, mask, "Mask from file")
        return True

    # -- tools -------------------------------------------------------------------------
    def choose_brush(self) -> None:
        self._window.activate_tool(self.brush_tool, None)
        if not self.show_action.isChecked():
            self.show_action.setChecked(True)  # painting a mask unseen is guesswork
            self._update_overlay()

    def choose_move(self) -> None:
        self._window.activate_tool(self.move_tool, None)

    def make_toolbar(self) -> QToolBar:
        bar = QToolBar("Mask Brush")
        bar.setObjectName("MaskBrushToolBar")
        bar.setIconSize(QSize(20, 20))
        bar.addActions([self.brush_action, self.move_action, self.show_action])
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(round(self.brush_tool.size))
        self.size_spin.setToolTip("Brush diameter in image pixels")
        self.hardness_spin = QSpinBox()
        self.hardness_spin.setRange(0, 100)
        self.hardness_spin.setSuffix(" %")
        self.hardness_spin.setValue(round(self.brush_tool.hardness * 100))
        self.hardness_spin.setToolTip("How much of the brush is solid before its edge fades")
        self.opacity_spin = QDoubleSpinBox()
        self.opacity_spin.setRange(1, 100)
        self.opacity_spin.setDecimals(0)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setValue(self.brush_tool.opacity * 100)
        self.opacity_spin.setToolTip("The most one stroke changes the mask")
        self.erase_check = QCheckBox("Erase")
        self.erase_check.setToolTip("Hide the layer where you paint (X toggles)")
        for label, widget in (
            ("  Size: ", self.size_spin),
            (" Hardness: ", self.hardness_spin),
            (" Opacity: ", self.opacity_spin),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(self.erase_check)
        self.size_spin.valueChanged.connect(self._on_brush_settings_changed)
        self.hardness_spin.valueChanged.connect(self._on_brush_settings_changed)
        self.opacity_spin.valueChanged.connect(self._on_brush_settings_changed)
        self.erase_check.toggled.connect(self._on_brush_settings_changed)
        swap = QAction("Toggle Eraser", bar)
        swap.setShortcut("X")
        swap.triggered.connect(lambda _c=False: self.erase_check.toggle())
        self._window.addAction(swap)
        return bar

    def _on_brush_settings_changed(self) -> None:
        tool = self.brush_tool
        tool.size = float(self.size_spin.value())
        tool.hardness = self.hardness_spin.value() / 100
        tool.opacity = self.opacity_spin.value() / 100
        tool.erase = self.erase_check.isChecked()
        self._window.canvas.update()

    # -- state -------------------------------------------------------------------------
    def _update_overlay(self) -> None:
        layer = self._window.current_layer()
        shown = self.show_action.isChecked() and layer is not None
        self._window.canvas.set_mask_overlay(layer.id if shown and layer else None)

    def update(self) -> None:
        """Enable what applies to the current layer; the overlay follows it."""
        layer = self._window.current_layer()
        doc = self._window.doc
        locked = layer is not None and doc is not None and doc.state.is_locked(layer.id)
        has_layer = layer is not None and not locked
        has_mask = has_layer and layer is not None and layer.mask is not None
        self.add_action.setEnabled(has_layer and not has_mask)
        self.remove_action.setEnabled(has_mask)
        self.invert_action.setEnabled(has_layer)
        self.from_selection_action.setEnabled(has_layer and self._window.selection is not None)
        self.from_alpha_action.setEnabled(has_layer)
        self.from_file_action.setEnabled(has_layer)
        self.brush_action.setEnabled(has_layer)
        self.move_action.setEnabled(has_layer)
        overlay = layer.id if self.show_action.isChecked() and layer is not None else None
        if overlay != self._window.canvas.mask_overlay:
            self._window.canvas.set_mask_overlay(overlay)
