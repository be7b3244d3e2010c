"""Helpers shared by the GUI tests (scripted prompts, sample documents, waiting for jobs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from warpaint.engine import io as wio
from warpaint.engine.core.document import Document, Layer
from warpaint.engine.runtime.jobs import Job
from warpaint.gui.dialogs import Prompter
from warpaint.gui.main_window import MainWindow

needs_io = pytest.mark.skipif(
    not all(hasattr(wio, n) for n in ("open_document", "save_document", "export_image")),
    reason="warpaint.engine.io does not export open/save/export yet",
)


class ScriptedPrompter(Prompter):
    """Answers the window's questions from lists and records what was asked."""

    def __init__(self) -> None:
        self.save_answers: list[str] = []
        self.recover_answers: list[str] = []
        self.open_answers: list[list[str]] = []
        self.save_path_answers: list[str | None] = []
        self.asked_save: list[str] = []
        self.asked_recover: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self.dialog_setup: Callable[[Any], bool] | None = None
        self.dialogs: list[Any] = []

    def ask_save_changes(self, parent: Any, name: str) -> str:
        self.asked_save.append(name)
        return self.save_answers.pop(0) if self.save_answers else "discard"

    def ask_recover(self, parent: Any, description: str) -> str:
        self.asked_recover.append(description)
        return self.recover_answers.pop(0) if self.recover_answers else "later"

    def error(self, parent: Any, title: str, reason: str) -> None:
        self.errors.append((title, reason))

    def open_paths(self, parent: Any, title: str, directory: str, filter: str) -> list[str]:
        return self.open_answers.pop(0) if self.open_answers else []

    def save_path(self, parent: Any, title: str, path: str, filter: str) -> str | None:
        return self.save_path_answers.pop(0) if self.save_path_answers else None

    def run_dialog(self, dialog: Any) -> bool:
        self.dialogs.append(dialog)
        return self.dialog_setup(dialog) if self.dialog_setup is not None else False


def small_document(width: int = 64, height: int = 48) -> Document:
    """Opaque gradient background plus a half-transparent red square on top."""
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack(
        [xs * 255 // width, ys * 255 // height, np.full_like(xs, 128), np.full_like(xs, 255)], 2
    )
    doc = Document.from_array(base.astype(np.uint8), name="Background")
    square = np.zeros((16, 16, 4), np.uint8)
    square[...] = (255, 0, 0, 128)
    doc.add_layer(Layer.from_array("Square", square, x=8, y=8))
    doc.mark_saved()
    return doc


def astronaut_document() -> Document:
    """The 512x512 astronaut portrait (a real face: eye detection finds both eyes), saved."""
    from skimage import data

    rgba = np.concatenate([data.astronaut(), np.full((512, 512, 1), 255, np.uint8)], axis=2)
    doc = Document.from_array(rgba, name="Astronaut")
    doc.mark_saved()
    return doc


def wait_delivered(qtbot: Any, window: MainWindow, job: Job | None, timeout: int = 20_000) -> Job:
    """Wait until `job` ended and its result was handled on the GUI thread."""
    assert job is not None
    qtbot.waitUntil(lambda: job.finished and not window.bridge.is_pending(job), timeout=timeout)
    return job


def wait_canvas(qtbot: Any, window: MainWindow, timeout: int = 10_000) -> None:
    qtbot.waitUntil(window.canvas.tiles_ready, timeout=timeout)


class Heartbeat:
    """A 10 ms timer on the GUI thread that records how late each beat came.

    Each beat also records the GUI thread's own CPU time since the previous
    one. A late beat during which the GUI thread *worked* means our code
    blocked it; a late beat during which it only *waited* means the process
    was descheduled (the CI machine is busy) or another thread held the GIL.
    The second kind is tolerated only now and then, so load on a shared
    2-core machine does not fail the test while a GIL hog still would.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.gaps_ms: list[float] = []
        self.busy_ms: list[float] = []
        self._timer = QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._beat)

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _beat(self) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        self.gaps_ms.append((wall - self._wall) * 1000)
        self.busy_ms.append((cpu - self._cpu) * 1000)
        self._wall, self._cpu = wall, cpu

    def assert_responsive(self, limit_ms: float = 50, min_beats: int = 20) -> None:
        assert len(self.gaps_ms) >= min_beats, f"only {len(self.gaps_ms)} heartbeats"
        worked = max(self.busy_ms)
        assert worked < limit_ms, f"the GUI thread was busy for {worked:.0f} ms in one go"
        late = [g for g in self.gaps_ms if g >= limit_ms]
        assert len(late) <= max(1, len(self.gaps_ms) // 50), (
            f"{len(late)} of {len(self.gaps_ms)} heartbeats came {limit_ms} ms or more late "
            f"(worst {max(self.gaps_ms):.0f} ms)"
        )
