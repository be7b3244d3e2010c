"""Saving never waits behind compute: file writes have their own lane."""

from __future__ import annotations

import threading

import numpy as np
from gui_helpers import needs_io, wait_delivered
from PIL import Image

from warpaint.engine import io as wio
from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document
from warpaint.engine.runtime.jobs import JobState

pytestmark = needs_io


def _hold_long_lane(window) -> tuple[threading.Event, threading.Event, object]:
    """A long job (as a training run or a full-size effect would be) that runs
    until the returned release event is set."""
    started, release = threading.Event(), threading.Event()

    def training(ctx):
        started.set()
        while not release.wait(0.01):
            ctx.check()
        return "trained"

    job = window.bridge.submit(training, "Training")
    assert started.wait(10)
    return started, release, job


def test_save_export_and_autosave_complete_while_a_long_job_runs(qtbot, window, tmp_path):
    window.new_layer()
    expected = flatten(window.doc.state)
    _, release, long_job = _hold_long_lane(window)
    try:
        path = tmp_path / "while-training.ora"
        window.prompter.save_path_answers.append(str(path))
        save = wait_delivered(qtbot, window, window.save_as(), timeout=10_000)
        assert save.state is JobState.DONE and path.is_file()
        assert not window.doc.dirty and not window.isWindowModified()
        reopened = open_document(path)
        assert len(reopened.layers) == len(window.doc.layers)
        np.testing.assert_array_equal(flatten(reopened.state), expected)

        png = tmp_path / "while-training.png"
        export = wait_delivered(qtbot, window, window.export_to(str(png)), timeout=10_000)
        assert export.state is JobState.DONE
        pixels = np.asarray(Image.open(png).convert("RGBA"))
        np.testing.assert_array_equal(pixels, expected)

        window.new_layer()
        autosave = wait_delivered(qtbot, window, window.autosave(force=True), timeout=10_000)
        assert autosave.state is JobState.DONE
        assert len(wio.list_recoveries(include_running=True)) == 1

        # All of it happened while the long job was still running.
        assert long_job.state is JobState.RUNNING
    finally:
        release.set()
    wait_delivered(qtbot, window, long_job)
    assert long_job.state is JobState.DONE and long_job.result == "trained"


def test_a_save_shows_in_the_status_bar_beside_the_running_job(qtbot, window, tmp_path):
    _, release, long_job = _hold_long_lane(window)
    try:
        window.prompter.save_path_answers.append(str(tmp_path / "x.ora"))
        save = window.save_as()
        assert save is not None and save.lane == "files"
        # Running beside the long job, not queued behind it.
        assert window.job_label.text() == "Training · Saving x.ora"
        wait_delivered(qtbot, window, save, timeout=10_000)
        assert window.job_label.text() == "Training"
    finally:
        release.set()
    wait_delivered(qtbot, window, long_job)
    assert not window.job_label.isVisible()
