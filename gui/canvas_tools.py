"""One generic mechanism for editing things directly on the canvas.

A `CanvasTool` has draggable handles (points in image coordinates) and paints
an overlay. The base class does hit-testing and dragging; a tool says what its
handles are, what moving one means and what a press on empty canvas starts.
The selection tools, and every effect parameter of type points, rectangle or
mask, are tools of this kind, so later effects (eye points for gaze, regions
for attribute sliders) get on-canvas editing by declaring a parameter type.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen

from warpaint.engine.core.selection import Selection

if TYPE_CHECKING:
    from warpaint.gui.canvas import CanvasView

HANDLE_SIZE = 8.0  # logical pixels
HIT_SLOP = 4.0


class CanvasTool(QObject):
    """Handles, dragging and an overlay; subclasses define what the handles mean."""

    changed = Signal()  # the value changed (also during a drag)
    edited = Signal()  # a drag ended: a good moment to start a preview or commit

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._drag: int | None = None

    # -- what subclasses define ----------------------------------------------
    def handles(self) -> list[QPointF]:
        """Draggable points in image coordinates."""
        return []

    def start_drag(self, index: int, pos: QPointF) -> None:
        """A drag of handle `index` starts at image point `pos`."""

    def move_handle(self, index: int, pos: QPointF) -> None:
        """Handle `index` was dragged to image point `pos`."""

    def begin_new(self, pos: QPointF) -> int | None:
        """A press on empty canvas at `pos`; return the handle to drag, or None."""
        return None

    def remove_at(self, index: int) -> bool:
        """Alt+click on a handle; return True if something was removed."""
        return False

    def paint_overlay(self, painter: QPainter, canvas: CanvasView) -> None:
        """Draw the tool's shape (handles are drawn by the base class)."""

    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.CrossCursor)

    # -- the generic part ----------------------------------------------------
    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def handle_at(self, canvas: CanvasView, widget_pos: QPointF) -> int | None:
        reach = HANDLE_SIZE / 2 + HIT_SLOP
        best: tuple[float, int] | None = None
        for i, handle in enumerate(self.handles()):
            d = canvas.to_widget(handle) - widget_pos
            dist = math.hypot(d.x(), d.y())
            if dist <= reach and (best is None or dist < best[0]):
                best = (dist, i)
        return None if best is None else best[1]

    def press(
        self, canvas: CanvasView, widget_pos: QPointF, modifiers: Qt.KeyboardModifier
    ) -> bool:
        pos = canvas.to_image(widget_pos)
        index = self.handle_at(canvas, widget_pos)
        if index is not None and modifiers & Qt.KeyboardModifier.AltModifier:
            if self.remove_at(index):
                self.changed.emit()
                self.edited.emit()
            return True
        if index is None:
            index = self.begin_new(pos)
            if index is None:
                return False
        self._drag = index
        self.start_drag(index, pos)
        self.changed.emit()
        return True

    def move(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        if self._drag is None:
            return False
        self.move_handle(self._drag, canvas.to_image(widget_pos))
        self.changed.emit()
        return True

    def release(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        if self._drag is None:
            return False
        self.move_handle(self._drag, canvas.to_image(widget_pos))
        self._drag = None
        self.changed.emit()
        self.edited.emit()
        return True

    def paint(self, painter: QPainter, canvas: CanvasView) -> None:
        self.paint_overlay(painter, canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(QPen(QColor(20, 20, 20), 1.0))
        painter.setBrush(QColor(255, 255, 255))
        half = HANDLE_SIZE / 2
        for handle in self.handles():
            c = canvas.to_widget(handle)
            painter.drawRect(QRectF(c.x() - half, c.y() - half, HANDLE_SIZE, HANDLE_SIZE))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)


RectValue = tuple[float, float, float, float]


class RectTool(CanvasTool):
    """A rectangle (x, y, w, h) in image pixels: drag on empty canvas, corners, or the centre."""

    CORNERS = 4  # handles 0..3 are corners (tl, tr, br, bl); 4 moves the whole rectangle

    def __init__(self, value: RectValue | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.value: RectValue | None = value
        self._anchor = QPointF()
        self._grab = QPointF()

    def set_value(self, value: RectValue | None) -> None:
        self.value = value
        self.changed.emit()

    def handles(self) -> list[QPointF]:
        if self.value is None:
            return []
        x, y, w, h = self.value
        return [
            QPointF(x, y),
            QPointF(x + w, y),
            QPointF(x + w, y + h),
            QPointF(x, y + h),
            QPointF(x + w / 2, y + h / 2),
        ]

    def begin_new(self, pos: QPointF) -> int | None:
        p = _snap(pos)
        self.value = (p.x(), p.y(), 0.0, 0.0)
        return 2

    def start_drag(self, index: int, pos: QPointF) -> None:
        corners = self.handles()
        if index < self.CORNERS:
            self._anchor = corners[(index + 2) % 4]
        else:
            self._grab = pos - QPointF(self.value[0], self.value[1]) if self.value else QPointF()

    def move_handle(self, index: int, pos: QPointF) -> None:
        if self.value is None:
            return
        if index < self.CORNERS:
            p = _snap(pos)
            x0, x1 = sorted((self._anchor.x(), p.x()))
            y0, y1 = sorted((self._anchor.y(), p.y()))
            self.value = (x0, y0, x1 - x0, y1 - y0)
        else:
            top_left = _snap(pos - self._grab)
            self.value = (top_left.x(), top_left.y(), self.value[2], self.value[3])

    def paint_overlay(self, painter: QPainter, canvas: CanvasView) -> None:
        if self.value is not None:
            canvas.paint_outline(painter, "rectangle", self._widget_rect(canvas))

    def _widget_rect(self, canvas: CanvasView) -> QRectF:
        x, y, w, h = self.value or (0, 0, 0, 0)
        return QRectF(canvas.to_widget(QPointF(x, y)), canvas.to_widget(QPointF(x + w, y + h)))


class SelectionTool(RectTool):
    """Rectangle, ellipse or freehand (lasso, shape 'polygon') selection with feather.

    A click without a drag deselects. A lasso records the pointer's path while
    the button is down and closes it on release; it has no handles.
    """

    LASSO_STEP = 0.75  # image pixels between recorded lasso points

    def __init__(self, shape: str = "rectangle", parent: QObject | None = None) -> None:
        super().__init__(None, parent)
        self.shape = shape
        self.feather = 0.0
        self.inverted = False
        self.points: list[tuple[float, float]] = []  # the lasso outline, image coordinates

    @property
    def lasso(self) -> bool:
        return self.shape == "polygon"

    @property
    def selection(self) -> Selection | None:
        if self.value is None:
            return None
        if self.lasso:
            selection = Selection.polygon(self.points, self.feather, self.inverted)
            return None if selection.empty or len(self.points) < 3 else selection
        x, y, w, h = self.value
        selection = Selection(self.shape, x, y, w, h, self.feather, self.inverted)
        return None if selection.empty else selection

    def set_selection(self, selection: Selection | None) -> None:
        if selection is None:
            self.value = None
            self.points = []
        else:
            self.value = (selection.x, selection.y, selection.w, selection.h)
            self.shape, self.feather = selection.shape, selection.feather
            self.inverted = selection.inverted
            self.points = selection.outline()
        self.changed.emit()

    def handles(self) -> list[QPointF]:
        return [] if self.lasso else super().handles()

    def begin_new(self, pos: QPointF) -> int | None:
        if not self.lasso:
            return super().begin_new(pos)
        self.points = [(pos.x(), pos.y())]
        self.value = (pos.x(), pos.y(), 0.0, 0.0)
        return 0

    def start_drag(self, index: int, pos: QPointF) -> None:
        if not self.lasso:
            super().start_drag(index, pos)

    def move_handle(self, index: int, pos: QPointF) -> None:
        if not self.lasso:
            super().move_handle(index, pos)
            return
        last = self.points[-1]
        if math.hypot(pos.x() - last[0], pos.y() - last[1]) >= self.LASSO_STEP:
            self.points.append((pos.x(), pos.y()))
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        self.value = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    def release(self, canvas: CanvasView, widget_pos: QPointF) -> bool:
        done = super().release(canvas, widget_pos)
        if done and self.value is not None and (self.value[2] < 1 or self.value[3] < 1):
            self.value = None
            self.points = []
            self.changed.emit()
            self.edited.emit()
        return done

    def paint_overlay(self, painter: QPainter, canvas: CanvasView) -> None:
        # The canvas draws the committed selection itself; only a drag in progress here.
        if self.value is None or not self.dragging:
            return
        if self.lasso:
            canvas.paint_polygon(painter, self.points, closed=False)
        else:
            canvas.paint_outline(painter, self.shape, self._widget_rect(canvas))


PointsValue = tuple[tuple[float, float], ...]


class PointsTool(CanvasTool):
    """Up to `max_points` points: click to add, drag to move, Alt+click to remove."""

    def __init__(
        self, value: PointsValue = (), max_points: int | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.value: PointsValue = tuple(value)
        self.max_points = max_points

    def set_value(self, value: PointsValue) -> None:
        self.value = tuple(value)
        self.changed.emit()

    def handles(self) -> list[QPointF]:
        return [QPointF(x, y) for x, y in self.value]

    def begin_new(self, pos: QPointF) -> int | None:
        if self.max_points is not None and len(self.value) >= self.max_points:
            return None
        self.value = self.value + ((pos.x(), pos.y()),)
        return len(self.value) - 1

    def move_handle(self, index: int, pos: QPointF) -> None:
        points = list(self.value)
        points[index] = (round(pos.x(), 2), round(pos.y(), 2))
        self.value = tuple(points)

    def remove_at(self, index: int) -> bool:
        self.value = self.value[:index] + self.value[index + 1 :]
        return True

    def paint_overlay(self, painter: QPainter, canvas: CanvasView) -> None:
        for i, point in enumerate(self.handles()):
            c = canvas.to_widget(point)
            painter.setPen(QPen(QColor(0, 0, 0, 200), 3.0))
            painter.drawEllipse(c, 9.0, 9.0)
            painter.setPen(QPen(QColor(255, 210, 0), 1.5))
            painter.drawEllipse(c, 9.0, 9.0)
            painter.drawText(c + QPointF(11, -11), str(i + 1))


def _snap(pos: QPointF) -> QPointF:
    return QPointF(round(pos.x()), round(pos.y()))
