"""Long jobs: progress and Cancel in the status bar, and a GUI thread that never blocks."""

from __future__ import annotations

import threading
import time

import numpy as np
from gui_helpers import Heartbeat, wait_canvas, wait_delivered
from PySide6.QtCore import Qt

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.runtime.jobs import JobContext, JobState


def test_bridge_delivers_callbacks_on_the_gui_thread(qtbot, window):
    threads = []

    def work(ctx: JobContext) -> int:
        ctx.report(0.5)
        return 7

    job = window.bridge.submit(
        work,
        "threads",
        on_progress=lambda j, f, p: threads.append(threading.current_thread()),
        on_done=lambda j: threads.append(threading.current_thread()),
    )
    wait_delivered(qtbot, window, job)
    assert job.result == 7
    assert threads == [threading.main_thread(), threading.main_thread()]


def _slow_job(ctx: JobContext) -> str:
    """A long optimisation stand-in: numpy work in bounded chunks with progress,
    for 30 s of wall time (a fixed amount of work ended early on a quiet, fast
    machine, before the tests that need it running were done with it)."""
    seconds = 30.0
    a = np.random.default_rng(0).random((300, 300), np.float32)
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        ctx.report(elapsed / seconds)
        a = np.tanh(a @ a.T / 300)
    return "finished"


def test_cancel_button_stops_a_long_job(qtbot, window):
    job = window.bridge.submit(_slow_job, "Long optimisation")
    qtbot.waitUntil(
        lambda: job.state is JobState.RUNNING and window.progress_bar.value() > 0, timeout=5000
    )
    assert window.cancel_button.isVisible() and window.progress_bar.isVisible()
    assert "Long optimisation" in window.job_label.text()
    started = time.perf_counter()
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    wait_delivered(qtbot, window, job, timeout=20_000)
    assert job.state is JobState.CANCELLED and job.result is None
    # Uncancelled, the job runs 30 s; 15 s is a margin a loaded 2-core CI
    # machine cannot break. How fast Cancel acts is `warpaint bench cancel`.
    assert time.perf_counter() - started < 15.0
    assert not window.cancel_button.isVisible() and not window.progress_bar.isVisible()


def test_cancel_a_running_gaussian_blur_adds_no_layer(qtbot, make_window):
    pixels = np.random.default_rng(1).integers(0, 256, (2400, 2400, 4), dtype=np.uint8)
    window = make_window(Document.from_array(pixels))
    panel = window.show_effect("gaussian-blur")
    panel.widgets["sigma"].spin.setValue(30.0)
    job = window.apply_effect(panel)
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    qtbot.wait(100)
    window.cancel_jobs_action.trigger()
    wait_delivered(qtbot, window, job, timeout=10_000)
    assert job.state is JobState.CANCELLED
    assert len(window.doc.layers) == 1 and not window.doc.history.can_undo
    assert panel.apply_button.isEnabled()


def test_gui_stays_responsive_and_canvas_updates_during_a_long_job(qtbot, make_window):
    base = np.zeros((1024, 1024, 4), np.uint8)
    base[..., 3] = 255
    base[..., 0] = 200
    doc = Document.from_array(base, name="Red")
    doc.add_layer(Layer.from_array("Blue", np.full((1024, 1024, 4), (0, 0, 255, 255), np.uint8)))
    window = make_window(doc)
    wait_canvas(qtbot, window)
    blue = doc.layers[1].id
    window.layers_panel.set_current_layer(blue)

    heartbeat = Heartbeat()
    job = window.bridge.submit(_slow_job, "Long optimisation")
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    heartbeat.start()
    qtbot.wait(300)

    # The user changes the top layer's opacity while the long job runs.
    window.layers_panel.opacity_spin.setValue(50)
    changed_at = time.perf_counter()
    assert not window.canvas.shows_current_state()
    qtbot.waitUntil(window.canvas.shows_current_state, timeout=2000)
    update_ms = (time.perf_counter() - changed_at) * 1000
    qtbot.waitUntil(window.canvas.tiles_ready, timeout=5000)  # then the sharp tiles
    qtbot.wait(200)
    heartbeat.stop()
    assert job.state is JobState.RUNNING  # the long job was running the whole time
    window.bridge.cancel(job)

    image = window.canvas.grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert 90 <= centre.red() <= 110 and 118 <= centre.blue() <= 138  # half blue over red
    heartbeat.assert_responsive(limit_ms=50, min_beats=30)
    assert update_ms < 100, f"the canvas took {update_ms:.0f} ms to show the opacity change"
