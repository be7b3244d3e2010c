"""Save, Save As, Export and autosave run on the files lane; the GUI thread never writes files."""

from __future__ import annotations

import threading
import time

import numpy as np
from gui_helpers import Heartbeat, needs_io, wait_canvas, wait_delivered

from warpaint.engine import io as wio
from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import Document
from warpaint.engine.io import open_document
from warpaint.engine.runtime.jobs import JobState

pytestmark = needs_io


def _hold_files_lane(window) -> threading.Event:
    """Keep the files lane busy until the returned event is set (writes queue behind it)."""
    release = threading.Event()
    window.bridge.submit(lambda ctx: release.wait(20), "Hold", quiet=True, lane="files")
    return release


def test_saving_a_large_document_keeps_the_gui_responsive(
    qtbot, make_window, tmp_path, monkeypatch
):
    noise = np.random.default_rng(3).integers(0, 256, (3000, 3000, 4), dtype=np.uint8)
    window = make_window(Document.from_array(noise, name="Noise"))
    wait_canvas(qtbot, window, timeout=20_000)
    window.new_layer()
    path = tmp_path / "big.ora"
    window.prompter.save_path_answers.append(str(path))
    writers: list[threading.Thread] = []
    write_ora = wio.write_ora

    def recording_write_ora(*args, **kw):
        writers.append(threading.current_thread())
        return write_ora(*args, **kw)

    monkeypatch.setattr(wio, "write_ora", recording_write_ora)

    heartbeat = Heartbeat()
    heartbeat.start()
    started = time.perf_counter()
    job = window.save_as()
    returned_ms = (time.perf_counter() - started) * 1000
    assert job is not None and job.lane == "files"
    # While it writes, the status bar shows the save as a busy job.
    assert window.progress_bar.isVisible() and window.progress_bar.maximum() == 0
    assert window.job_label.text() == "Saving big.ora"
    assert window.isWindowModified()
    wait_delivered(qtbot, window, job, timeout=30_000)
    heartbeat.stop()

    assert job.state is JobState.DONE
    assert writers and threading.main_thread() not in writers
    assert returned_ms < 50, f"save_as took {returned_ms:.0f} ms on the GUI thread"
    heartbeat.assert_responsive(limit_ms=50)
    assert not window.isWindowModified() and window.windowTitle().startswith("big.ora")
    assert not window.progress_bar.isVisible()
    assert len(open_document(path).layers) == 2


def test_an_edit_during_the_save_keeps_the_document_dirty_under_its_new_name(
    qtbot, window, tmp_path
):
    release = _hold_files_lane(window)
    saved = window.doc.state
    path = tmp_path / "while.ora"
    window.prompter.save_path_answers.append(str(path))
    job = window.save_as()
    window.new_layer()  # the user goes on editing while the save waits and runs
    release.set()
    wait_delivered(qtbot, window, job)
    assert job.state is JobState.DONE
    assert window.doc.dirty and window.isWindowModified()
    assert window.doc.path == str(path)
    assert window.windowTitle().startswith("while.ora[*]")
    # The file holds the state the save started from, not the later edit.
    reopened = open_document(path)
    assert len(reopened.layers) == len(saved.layers) == len(window.doc.layers) - 1
    np.testing.assert_array_equal(flatten(reopened.state), flatten(saved))


def test_a_failed_save_shows_the_plain_reason_and_keeps_the_changes(qtbot, window, tmp_path):
    window.new_layer()
    window.prompter.save_path_answers.append(str(tmp_path / "missing" / "x.ora"))
    wait_delivered(qtbot, window, window.save_as())
    title, reason = window.prompter.errors[-1]
    assert title == "Could not save the file"
    assert "no such folder" in reason and "Traceback" not in reason
    assert window.doc.dirty and window.doc.path is None
    assert window.windowTitle().startswith("Untitled")


def test_close_then_save_waits_for_the_save_before_closing(qtbot, window, tmp_path):
    window.new_layer()
    path = tmp_path / "closing.ora"
    window.prompter.save_answers.append("save")
    window.prompter.save_path_answers.append(str(path))
    release = _hold_files_lane(window)
    assert not window.close()  # the save is queued: the window stays until it is done
    assert window.isVisible() and not path.exists()
    assert not window.close()  # asking again while it saves does not ask twice
    assert window.prompter.asked_save == ["Untitled"]
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert path.is_file() and not window.doc.dirty


def test_close_then_a_failed_save_keeps_the_window_open(qtbot, window, tmp_path):
    window.new_layer()
    window.prompter.save_answers.append("save")
    window.prompter.save_path_answers.append(str(tmp_path / "missing" / "x.ora"))
    assert not window.close()
    qtbot.waitUntil(lambda: bool(window.prompter.errors), timeout=10_000)
    qtbot.wait(50)
    assert window.isVisible() and window.doc.dirty
    assert window.prompter.errors[-1][0] == "Could not save the file"
    window.prompter.save_answers.append("discard")
    assert window.close()  # nothing left waiting: the next close asks again


def test_export_runs_on_the_files_lane_and_reports_errors_plainly(qtbot, window, tmp_path):
    state = window.doc.state
    job = window.export_to(str(tmp_path / "deep.jpg"), bit_depth=16)
    assert job.lane == "files" and window.job_label.text() == "Exporting deep.jpg"
    wait_delivered(qtbot, window, job)
    assert job.state is JobState.FAILED
    title, reason = window.prompter.errors[-1]
    assert title == "Could not export the image" and "16-bit" in reason
    assert "internal error" not in reason
    assert not (tmp_path / "deep.jpg").exists()
    assert window.doc.state is state and not window.doc.dirty


def test_discarding_an_autosave_in_flight_never_waits_for_the_write(qtbot, window, monkeypatch):
    window.new_layer()
    saver = window._autosaver
    writing, finish = threading.Event(), threading.Event()
    original = saver.save_state

    def slow_save_state(*args):
        writing.set()
        finish.wait(20)
        return original(*args)

    monkeypatch.setattr(saver, "save_state", slow_save_state)
    job = window.autosave(force=True)
    assert writing.wait(10)
    started = time.perf_counter()
    window._discard_autosave()  # what a successful save or a clean close does
    # A discard that waited for the write would block until the 20 s wait above
    # runs out; 5 s is far from both, even on a loaded 2-core CI machine.
    assert time.perf_counter() - started < 5.0
    assert not job.finished, "the write is still in flight: nothing waited for it"
    finish.set()
    wait_delivered(qtbot, window, job)
    assert job.state is JobState.DONE
    assert wio.list_recoveries(include_running=True) == []  # written, then removed


def test_an_autosave_discarded_while_queued_writes_nothing(qtbot, window):
    window.new_layer()
    release = _hold_files_lane(window)
    job = window.autosave(force=True)
    window._discard_autosave()
    release.set()
    wait_delivered(qtbot, window, job)
    assert job.result is None
    assert wio.list_recoveries(include_running=True) == []
