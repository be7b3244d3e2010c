"""A small line chart of an optimisation's losses (style, content, total, ...).

Self-contained QPainter drawing, no plotting library: x is the job's progress
fraction (0..1), y is log10 of each loss, one coloured line per loss name
and a legend. Fed with the history the neural effects report as progress
data: `[(fraction, {name: value}), ...]` (see `engine/neural/effect_helpers.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QShowEvent,
)
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QWidget

# Fixed colours for the losses the engine reports; others take the fallbacks in turn.
SERIES_COLOURS: dict[str, str] = {
    "style": "#d1495b",
    "content": "#2e86de",
    "total": "#27a060",
    "feature": "#2e86de",
    "tv": "#e1a100",
}
_FALLBACK_COLOURS = ("#8e44ad", "#16a085", "#c0392b", "#7f6000")

History = Iterable[tuple[float, Mapping[str, float]]]


class LossPlotWidget(QWidget):
    """Log-scale line chart of named loss series over progress (0..1)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LossPlot")
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Losses during the optimisation (log scale)")
        # name -> [(fraction, value)], in the order the names first arrived
        self.series: dict[str, list[tuple[float, float]]] = {}

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(240, 140)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        # The plot appears under the panel's buttons when a job starts, often
        # below the fold of a long panel: bring it into view once laid out.
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll_into_view)

    def _scroll_into_view(self) -> None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None and self.isVisible():
            parent.ensureWidgetVisible(self, 0, 0)

    # -- data -----------------------------------------------------------------
    def set_history(self, history: History) -> None:
        """Replace the curves with `history` ([(fraction, {name: value}), ...]).

        Non-finite and non-positive values cannot sit on a log axis: they
        are left out (the line joins their neighbours)."""
        series: dict[str, list[tuple[float, float]]] = {}
        for fraction, losses in history:
            for name, value in losses.items():
                v = float(value)
                points = series.setdefault(name, [])
                if math.isfinite(v) and v > 0:
                    points.append((float(fraction), v))
        self.series = series
        self.update()

    def clear(self) -> None:
        self.series = {}
        self.update()

    def colour(self, name: str) -> QColor:
        if name in SERIES_COLOURS:
            return QColor(SERIES_COLOURS[name])
        others = [n for n in self.series if n not in SERIES_COLOURS]
        index = others.index(name) if name in others else 0
        return QColor(_FALLBACK_COLOURS[index % len(_FALLBACK_COLOURS)])

    def y_range(self) -> tuple[float, float]:
        """(low, high) in log10 units, widened to whole decades."""
        logs = [math.log10(v) for points in self.series.values() for _, v in points]
        if not logs:
            return 0.0, 1.0
        low, high = math.floor(min(logs)), math.ceil(max(logs))
        return (low, high) if high > low else (low, low + 1)

    # -- drawing --------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        metrics = QFontMetrics(self.font())
        left = metrics.horizontalAdvance("1e-10") + 8
        plot = QRectF(left, 6, self.width() - left - 8, self.height() - 12 - metrics.height())
        if plot.width() < 10 or plot.height() < 10:
            return
        text = palette.text().color()
        grid = QColor(text)
        grid.setAlpha(50)
        low, high = self.y_range()
        step = max(1, math.ceil((high - low) / 5))

        def to_point(fraction: float, value: float) -> QPointF:
            y = (math.log10(value) - low) / (high - low)
            return QPointF(
                plot.left() + min(max(fraction, 0.0), 1.0) * plot.width(),
                plot.bottom() - y * plot.height(),
            )

        painter.setPen(QPen(grid, 1))
        for decade in range(int(low), int(high) + 1, step):
            y = plot.bottom() - (decade - low) / (high - low) * plot.height()
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, left - 4, metrics.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"1e{decade}",
            )
            painter.setPen(QPen(grid, 1))
        painter.setPen(QPen(text, 1))
        painter.drawRect(plot)
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), metrics.height()),
            int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
            "progress",
        )
        if not self.series:
            return
        for name, points in self.series.items():
            painter.setPen(QPen(self.colour(name), 2))
            if not points:
                continue
            if len(points) == 1:
                painter.drawEllipse(to_point(*points[0]), 2.5, 2.5)
                continue
            path = QPainterPath(to_point(*points[0]))
            for point in points[1:]:
                path.lineTo(to_point(*point))
            painter.drawPath(path)
        self._draw_legend(painter, plot, metrics)

    def _draw_legend(self, painter: QPainter, plot: QRectF, metrics: QFontMetrics) -> None:
        names = list(self.series)
        width = max(metrics.horizontalAdvance(n) for n in names) + 26
        height = len(names) * metrics.height() + 6
        box = QRectF(plot.right() - width - 4, plot.top() + 4, width, height)
        background = QColor(self.palette().base().color())
        background.setAlpha(220)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRect(box)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for i, name in enumerate(names):
            y = box.top() + 3 + (i + 0.5) * metrics.height()
            painter.setPen(QPen(self.colour(name), 2))
            painter.drawLine(QPointF(box.left() + 4, y), QPointF(box.left() + 18, y))
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(box.left() + 22, y - metrics.height() / 2, width - 22, metrics.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                name,
            )
