"""Canvas tools that edit the current layer directly: the mask brush and the move tool.

Both follow the canvas-tool mechanism of `canvas_tools` (press, move,
release, an overlay) but have no handles. A brush stroke is shown live in
whatever the canvas shows, an effect preview included (the document is
untouched during the stroke), and committed on release as one undoable step;
the dab maths is the engine's (`warpaint.engine.core.brush`). A move drag
merges into one step, sealed on release.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen

from warpaint.engine.core.brush import MaskStroke
from warpaint.engine.core.document import Document, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.gui.canvas_tools import CanvasTool

if TYPE_CHECKING:
    from warpaint.gui.canvas import CanvasView

# Which layer a tool works on: (document, layer id), or None when there is none.
Target = Callable[[], "tuple[Document, int] | None"]


def full_mask(layer: Layer) -> TiledImage:
    """A mask that shows the whole layer, at the layer's storage dtype."""
    return TiledImage.filled(layer.pixels.width, layer.pixels.height, (1.0,), layer.pixels.dtype)


class BrushTool(CanvasTool):
    """Paints the current layer's mask with a round soft brush (or erases it).

    Painting reveals the layer (towards 1), erasing hides it (towards 0). A
    layer without a mask gets one that shows everything, as part of the stroke.
    """

    stroke_committed = Signal()

    def __init__(self, target: Target, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._target = target
        self.size = 40.0  # diameter in image pixels
        self.hardness = 0.5
        self.opacity = 1.0
        self.erase = False
        self._stroke: MaskStroke | None = None
        self._stroke_target: tuple[Document, Layer] | None = None
        self._hover: QPointF | None = None

    @property
    def painting(self) -> bool:
        return self._stroke is not None

    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.CrossCursor)

    def press(
        self, canvas: CanvasView, widget_pos: QPointF, modifiers: Qt.KeyboardModifier
    ) -> bool:
        target = self._target()
        if target is None:
            return False
        doc, layer_id = target
        layer = doc.layer(layer_id)
        base = layer.mask if layer.mask is not None else full_mask(layer)
        self._stroke = MaskStroke(base, self.size, self.hardness, self.opacity, self.erase)
        self._stroke_target = (doc, layer)
        self._drag = 0
        self._add(canvas, widget_pos)
        return True

    def move(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        self._hover = canvas.to_image(widget_pos)
        if self._stroke is None:
            canvas.update()  # the brush outline follows the pointer
            return False
        self._add(canvas, widget_pos)
        return True

    def release(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        if self._stroke is None or self._stroke_target is None:
            return False
        self._add(canvas, widget_pos)
        stroke, (doc, layer) = self._stroke, self._stroke_target
        self._stroke, self._stroke_target, self._drag = None, None, None
        if stroke.changed is None:
            canvas.set_stroke_mask(None)
            return True
        label = "Erase mask" if stroke.erase else "Paint mask"
        if doc.state.layers and layer.id in {lay.id for lay in doc.layers}:
            doc.set_layer_mask(layer.id, stroke.mask, label)
        canvas.set_stroke_mask(None)
        self.stroke_committed.emit()
        self.edited.emit()
        return True

    def cancel(self, canvas: CanvasView) -> None:
        """Drop a stroke in progress (e.g. the tool was switched mid-stroke)."""
        if self._stroke is not None:
            self._stroke, self._stroke_target, self._drag = None, None, None
            canvas.set_stroke_mask(None)

    def _add(self, canvas: CanvasView, widget_pos: QPointF) -> None:
        assert self._stroke is not None and self._stroke_target is not None
        layer = self._stroke_target[1]
        p = canvas.to_image(widget_pos)
        if self._stroke.add(p.x() - layer.x, p.y() - layer.y) is not None:
            canvas.set_stroke_mask(layer.id, self._stroke.mask)
        self.changed.emit()

    def paint_overlay(self, painter: QPainter, canvas: CanvasView) -> None:
        if self._hover is None:
            return
        centre = canvas.to_widget(self._hover)
        radius = max(1.5, self.size / 2 * canvas.zoom)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 1.0))
        painter.drawEllipse(centre, radius + 1, radius + 1)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1.0))
        painter.drawEllipse(centre, radius, radius)
        if self.hardness < 1.0:
            inner = radius * self.hardness
            if inner > 2:
                painter.setPen(QPen(QColor(255, 255, 255, 120), 1.0, Qt.PenStyle.DotLine))
                painter.drawEllipse(centre, inner, inner)


class MoveTool(CanvasTool):
    """Drags the current layer: its offset changes live, one undo step per drag."""

    def __init__(self, target: Target, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._target = target
        self._start: tuple[Document, int, QPointF, int, int] | None = None

    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.SizeAllCursor)

    def press(
        self, canvas: CanvasView, widget_pos: QPointF, modifiers: Qt.KeyboardModifier
    ) -> bool:
        target = self._target()
        if target is None:
            return False
        doc, layer_id = target
        layer = doc.layer(layer_id)
        doc.history.seal()  # a new drag never merges into the previous one
        self._start = (doc, layer_id, canvas.to_image(widget_pos), layer.x, layer.y)
        self._drag = 0
        return True

    def move(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        if self._start is None:
            return False
        doc, layer_id, origin, x0, y0 = self._start
        delta = canvas.to_image(widget_pos) - origin
        x, y = x0 + int(np.round(delta.x())), y0 + int(np.round(delta.y()))
        if layer_id in {lay.id for lay in doc.layers}:
            doc.set_layer_props(layer_id, x=x, y=y)
        return True

    def release(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        if self._start is None:
            return False
        self.move(canvas, widget_pos)
        self._start[0].history.seal()
        self._start, self._drag = None, None
        self.edited.emit()
        return True
