"""What the canvas draws, compared with what the effect session says is shown."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QImage

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocState
from warpaint.gui.canvas import rgba_to_qimage
from warpaint.gui.main_window import MainWindow


def settle(qtbot: Any, window: MainWindow, timeout: int = 30_000) -> None:
    """Wait until no preview job of the session is pending and every visible tile is drawn."""
    qtbot.waitUntil(
        lambda: not window.session.pending and window.canvas.tiles_ready(), timeout=timeout
    )


def _rgba(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4).copy()


def drawn(window: MainWindow) -> np.ndarray:
    """(H, W, 4) uint8: the canvas's pre-overlay image (tiles only)."""
    image = window.canvas.rendered_image()
    assert image is not None, "the canvas is still drawing"
    return _rgba(image)


def expected(state: DocState) -> np.ndarray:
    """(H, W, 4) uint8: the compositor's flatten of `state`, through the same 8-bit
    premultiplied image the canvas keeps its tiles in."""
    return _rgba(rgba_to_qimage(flatten(state)))


def assert_canvas_shows(window: MainWindow, state: DocState | None = None) -> None:
    """The canvas draws exactly `state` (default: the state the session says is shown)."""
    shown = state if state is not None else window.session.shown_state()
    assert shown is not None
    assert window.canvas.state is shown, "the canvas shows another state than the session's"
    got, want = drawn(window), expected(shown)
    assert got.shape == want.shape
    if not np.array_equal(got, want):
        ys, xs = np.nonzero(np.any(got != want, axis=2))
        raise AssertionError(
            f"{len(ys)} pixels differ, e.g. at ({xs[0]}, {ys[0]}): "
            f"drawn {got[ys[0], xs[0]]}, flatten {want[ys[0], xs[0]]}"
        )
