"""The canvas: zoom around the cursor, fit, 100 %, panning, checkerboard, level of detail."""

from __future__ import annotations

import time

import numpy as np
from gui_helpers import small_document, wait_canvas
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from warpaint.engine.document import Document, Layer
from warpaint.engine.lod import level_for_scale
from warpaint.engine.tiles import TiledImage
from warpaint.gui.canvas import changed_region


def _wheel(canvas, pos: QPointF, delta: int) -> None:
    event = QWheelEvent(
        pos, canvas.mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(canvas, event)


def test_wheel_zooms_around_the_cursor(window):
    canvas = window.canvas
    cursor = QPointF(canvas.width() * 0.3, canvas.height() * 0.6)
    under = canvas.to_image(cursor)
    before = canvas.zoom
    _wheel(canvas, cursor, 240)
    assert canvas.zoom > before * 1.3
    after = canvas.to_image(cursor)
    assert abs(after.x() - under.x()) < 1e-6 and abs(after.y() - under.y()) < 1e-6
    _wheel(canvas, cursor, -240)
    assert abs(canvas.zoom - before) < 1e-6
    assert window.zoom_label.text() == f"{canvas.zoom * 100:.0f} %"


def test_fit_and_actual_size_shortcuts(qtbot, window):
    canvas = window.canvas
    window.activateWindow()
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0 and window.zoom_label.text() == "100 %"
    QTest.keyClick(canvas, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.5
    QTest.keyClick(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0
    QTest.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    rect = canvas.image_rect_in_widget()
    assert canvas.rect().toRectF().contains(rect)
    assert (
        abs(rect.center().x() - canvas.width() / 2) < 1
        and abs(rect.center().y() - canvas.height() / 2) < 1
    )
    assert max(rect.width() / (canvas.width() - 48), rect.height() / (canvas.height() - 48)) > 0.99


def test_pan_with_middle_button_and_space_drag(window):
    canvas = window.canvas
    start = canvas.to_widget(QPointF(0, 0))
    QTest.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    QTest.mouseMove(canvas, QPoint(130, 90))
    QTest.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(130, 90))
    moved = canvas.to_widget(QPointF(0, 0))
    assert (moved.x() - start.x(), moved.y() - start.y()) == (30, -10)
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    QTest.mouseMove(canvas, QPoint(80, 100))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(80, 100))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.to_widget(QPointF(0, 0)).x() - moved.x() == -20
    assert window.selection is None  # a space-drag pans, it does not select


def test_checkerboard_shows_under_transparent_pixels(qtbot, make_window):
    doc = Document.new(64, 64, background=None)
    window = make_window(doc)
    wait_canvas(qtbot, window)
    window.canvas.actual_size()
    wait_canvas(qtbot, window)
    image = window.canvas.grab().toImage()
    origin = window.canvas.to_widget(QPointF(0, 0))
    greys = {image.pixelColor(int(origin.x()) + dx, int(origin.y()) + 4).red() for dx in (4, 12)}
    assert greys == {153, 204}


def test_canvas_shows_the_composite_and_updates_after_an_edit(qtbot, window):
    wait_canvas(qtbot, window)
    canvas = window.canvas
    inside = canvas.to_widget(QPointF(16, 16)).toPoint()
    red_before = canvas.grab().toImage().pixelColor(inside).red()
    square = window.doc.layers[1].id
    window.doc.set_layer_props(square, visible=False)
    wait_canvas(qtbot, window)
    red_after = canvas.grab().toImage().pixelColor(inside).red()
    assert red_before > red_after + 40  # the half-transparent red square is gone


def test_changed_region_covers_only_edited_layers():
    doc = small_document()
    before = doc.state
    doc.set_layer_props(doc.layers[1].id, opacity=0.5)
    region = changed_region(before, doc.state)
    assert (region.x, region.y, region.w, region.h) == (8, 8, 16, 16)
    doc.move_layer(doc.layers[1].id, 0)
    assert changed_region(before, doc.state) is None


def test_big_image_renders_at_reduced_resolution_when_zoomed_out(qtbot, make_window):
    big = Layer(
        "Big", TiledImage.filled(8000, 8000, (0.2, 0.4, 0.6, 1.0), np.uint8)
    )  # shared tiles: cheap to build
    from warpaint.engine.document import DocState

    doc = Document(DocState(8000, 8000, (big,)))
    window = make_window(doc)
    canvas = window.canvas
    assert canvas.zoom < 0.1 and canvas.level >= 3
    started = time.perf_counter()
    wait_canvas(qtbot, window, timeout=15_000)
    elapsed = time.perf_counter() - started
    assert elapsed < 10
    levels = {key[0] for key in canvas._tiles}
    assert levels <= {canvas.level, canvas.level + 1}  # sharp tiles after a quick coarse pass
    assert len([k for k in canvas._tiles if k[0] == canvas.level]) <= 16  # not 1024 full-size ones
    colour = canvas.grab().toImage().pixelColor(canvas.rect().center())
    assert max(abs(colour.red() - 51), abs(colour.green() - 102), abs(colour.blue() - 153)) < 3
    # Zooming in to 100 % draws only the tiles in view.
    canvas.actual_size()
    wait_canvas(qtbot, window, timeout=15_000)
    in_view = (canvas.width() // 256 + 2) * (canvas.height() // 256 + 2)
    assert 0 < len([k for k in canvas._tiles if k[0] == 0]) <= in_view


def test_level_of_detail_is_never_coarser_than_the_screen():
    assert level_for_scale(1.0) == 0 and level_for_scale(0.6) == 0
    assert level_for_scale(0.5) == 1 and level_for_scale(0.3) == 1 and level_for_scale(0.1) == 3


def test_status_bar_shows_pixel_position_and_colour(window):
    canvas = window.canvas
    pos = canvas.to_widget(QPointF(10.5, 12.5)).toPoint()
    QTest.mouseMove(canvas, pos)
    assert window.position_label.text() == "10, 12 px"
    # Background gradient at (10, 12) with the half-transparent red square over it.
    assert window.colour_label.text().startswith("R ") and "A 255" in window.colour_label.text()
    QTest.mouseMove(canvas, canvas.to_widget(QPointF(-20, -20)).toPoint())
    assert window.position_label.text() == ""


def test_a_moved_preview_repaints_where_it_was_and_where_it_is_not_the_whole_canvas(
    qtbot, window, monkeypatch
):
    from PySide6.QtCore import QRect, QRectF
    from PySide6.QtGui import QImage

    wait_canvas(qtbot, window)
    canvas = window.canvas
    repainted: list[QRect] = []
    monkeypatch.setattr(canvas, "update", lambda *a: repainted.append(a[0] if a else canvas.rect()))
    patch = QImage(4, 4, QImage.Format.Format_RGBA8888)
    patch.fill(Qt.GlobalColor.green)
    canvas.set_preview(patch, QRectF(2, 2, 4, 4))
    canvas.set_preview(patch, QRectF(20, 20, 4, 4))
    canvas.set_preview(None)
    old = QRectF(canvas.to_widget(QPointF(2, 2)), canvas.to_widget(QPointF(6, 6))).toRect()
    new = QRectF(canvas.to_widget(QPointF(20, 20)), canvas.to_widget(QPointF(24, 24))).toRect()
    first, moved, cleared = repainted
    assert first.contains(old) and not first.contains(new)
    assert moved.contains(old) and moved.contains(new), "the old place is cleaned up"
    assert cleared.contains(new)
    assert moved.width() < canvas.width() / 2 and moved.height() < canvas.height() / 2
