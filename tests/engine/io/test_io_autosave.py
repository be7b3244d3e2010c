"""Autosave and crash recovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import io_corpus as corpus
import numpy as np
import pytest

from warpaint.engine.core.document import Document
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io import (
    Autosaver,
    discard_recovery,
    list_recoveries,
    recovery_dir,
    restore_recovery,
    save_document,
    write_recovery,
)
from warpaint.engine.runtime.errors import BadInputError


@pytest.fixture(autouse=True)
def recovery_folder(tmp_path, monkeypatch):
    folder = tmp_path / "recovery"
    monkeypatch.setenv("WARPAINT_RECOVERY_DIR", str(folder))
    return folder


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _edited_doc() -> Document:
    doc = Document.from_array(corpus.rgba_pattern(12, 14))
    layer = doc.layers[0]
    doc.set_layer_pixels(
        layer.id, TiledImage.from_array(corpus.rgba_pattern(12, 14)[::-1].copy()), "Flip"
    )
    return doc


def test_recovery_dir_honours_the_override_and_xdg(monkeypatch, tmp_path, recovery_folder):
    assert recovery_dir() == recovery_folder
    monkeypatch.delenv("WARPAINT_RECOVERY_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if sys.platform.startswith("linux"):
        assert recovery_dir() == tmp_path / "state" / "warpaint" / "recovery"
    else:
        assert recovery_dir().name.lower() == "recovery"


def test_autosaver_writes_only_dirty_changed_documents_at_the_interval(recovery_folder):
    clock = FakeClock()
    saver = Autosaver(interval_s=30, clock=clock)
    doc = Document.from_array(corpus.rgba_pattern(4, 4))
    assert not saver.maybe_save(doc)  # clean: nothing to protect
    doc.rename_layer(doc.layers[0].id, "edited")
    assert saver.maybe_save(doc)
    assert sorted(p.name for p in recovery_folder.iterdir()) == [
        f"{saver.key}.json",
        f"{saver.key}.ora",
    ]
    assert not saver.maybe_save(doc)  # unchanged since the last autosave
    doc.rename_layer(doc.layers[0].id, "edited again")
    assert not saver.maybe_save(doc)  # changed, but the interval has not passed
    clock.now += 31
    assert saver.maybe_save(doc)
    doc.rename_layer(doc.layers[0].id, "after a job")
    assert saver.save_now(doc)  # job completion ignores the interval
    assert not saver.save_now(doc)


def test_a_crashed_session_leaves_a_record_that_the_next_start_restores(tmp_path, recovery_folder):
    crashed = textwrap.dedent(
        """
        import os, signal, sys
        sys.path.insert(0, sys.argv[2])
        import io_corpus as corpus
        from warpaint.engine.core.document import Document
        from warpaint.engine.io import Autosaver, save_document
        from warpaint.engine.core.tiles import TiledImage

        doc = Document.from_array(corpus.rgba_pattern(12, 14))
        save_document(doc, sys.argv[1])
        layer = doc.layers[0]
        flipped = TiledImage.from_array(corpus.rgba_pattern(12, 14)[::-1].copy())
        doc.set_layer_pixels(layer.id, flipped, "Flip")
        doc.rename_layer(layer.id, "Flipped")
        Autosaver(interval_s=0).maybe_save(doc)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    original = tmp_path / "work.ora"
    proc = subprocess.run(
        [sys.executable, "-c", crashed, str(original), os.path.dirname(corpus.__file__)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    records = list_recoveries()
    assert len(records) == 1
    record = records[0]
    assert record.original_path == str(original) and record.name == "work.ora"
    assert "work.ora" in str(record)
    doc = restore_recovery(record)
    assert doc.dirty  # recovered work is unsaved work
    assert doc.path == str(original)
    assert doc.layers[0].name == "Flipped"
    np.testing.assert_array_equal(
        doc.layers[0].pixels.to_array(), corpus.rgba_pattern(12, 14)[::-1]
    )
    save_document(doc, original)
    discard_recovery(record)
    assert list_recoveries() == []
    assert list(recovery_folder.iterdir()) == []


def test_records_of_running_sessions_are_not_offered(recovery_folder):
    saver = Autosaver(interval_s=0)
    saver.save_now(_edited_doc())
    assert list_recoveries() == []  # this process is alive: its autosave is not a crash
    assert [r.key for r in list_recoveries(include_running=True)] == [saver.key]


def test_a_clean_save_discards_the_recovery_copy(tmp_path, recovery_folder):
    doc = _edited_doc()
    saver = Autosaver(interval_s=0)
    assert saver.maybe_save(doc)
    save_document(doc, tmp_path / "saved.ora")
    saver.discard()
    assert list(recovery_folder.iterdir()) == []
    assert not saver.maybe_save(doc)  # clean now


def test_damaged_or_orphaned_records_are_skipped(recovery_folder):
    recovery_folder.mkdir(parents=True)
    (recovery_folder / "aaaa.json").write_text("{not json")
    (recovery_folder / "bbbb.json").write_text(json.dumps({"key": "bbbb", "pid": 1}))  # no .ora
    assert list_recoveries(include_running=True) == []


def test_write_recovery_works_from_a_background_thread(recovery_folder):
    doc = _edited_doc()
    state = doc.state
    results = []
    worker = threading.Thread(
        target=lambda: results.append(write_recovery(state, "worker01", None, "Untitled"))
    )
    worker.start()
    worker.join(30)
    assert results and results[0].ora_path.is_file()
    record = list_recoveries(include_running=True)[0]
    restored = restore_recovery(record)
    assert restored.path is None and restored.dirty
    assert restored.layers[0].pixels.equals(state.layers[0].pixels)


def test_recovery_from_a_previous_boot_is_offered_even_if_the_pid_is_reused(recovery_folder):
    saver = Autosaver(interval_s=0)
    saver.save_now(_edited_doc())
    record_path = recovery_folder / f"{saver.key}.json"
    data = json.loads(record_path.read_text())
    data["boot_id"] = "an-earlier-boot"
    record_path.write_text(json.dumps(data))
    assert [r.key for r in list_recoveries()] == [saver.key]


# -- hostile records, reused pids, leftovers ----------------------------------------------


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _crashed_record(recovery_folder, **changes) -> str:
    """A record as a crashed Warpaint leaves it (its writer gone), with `changes`."""
    saver = Autosaver(interval_s=0)
    saver.save_now(_edited_doc())
    path = recovery_folder / f"{saver.key}.json"
    data = json.loads(path.read_text())
    data.update({"pid": _dead_pid(), **changes})
    path.write_text(json.dumps(data))
    return saver.key


@pytest.mark.parametrize(
    "changes",
    [
        {"saved_at": 1e300},
        {"saved_at": -5.0},
        {"saved_at": "nan"},
        {"pid": 1e400},
        {"width": "wide"},
        {"started": [1]},
    ],
)
def test_one_damaged_record_is_skipped_and_the_others_listed(recovery_folder, changes):
    good = _crashed_record(recovery_folder)
    _crashed_record(recovery_folder, **changes)
    (recovery_folder / "cccc.json").write_text("[1, 2]")
    (recovery_folder / "cccc.ora").write_bytes(b"")
    records = list_recoveries()
    assert [r.key for r in records] == [good]
    assert "autosaved" in str(records[0])


def test_a_record_whose_pid_now_belongs_to_another_process_is_offered(recovery_folder):
    # The writer crashed and its pid went to an unrelated live process (the
    # parent of this test run stands in for it): the start time tells them apart.
    key = _crashed_record(recovery_folder, pid=os.getppid(), started=1)
    assert [r.key for r in list_recoveries()] == [key]


def test_the_live_writer_is_still_recognised_by_its_start_time(recovery_folder):
    saver = Autosaver(interval_s=0)
    record = saver.save_now(_edited_doc()) and saver.record
    assert record is not None and record.started > 0
    assert list_recoveries() == []


def test_stale_temp_files_of_dead_writers_are_removed_when_listing(tmp_path, recovery_folder):
    from warpaint.engine.io.atomic import TEMP_SUFFIX, temp_prefix

    key = _crashed_record(recovery_folder, original_path=str(tmp_path / "work.ora"))
    dead, live = _dead_pid(), os.getppid()
    stale = [
        recovery_folder / f".{key}.ora.{dead}.0badc0de{TEMP_SUFFIX}",
        tmp_path / f"{temp_prefix(tmp_path / 'work.ora')}{dead}.12345678{TEMP_SUFFIX}",
    ]
    kept = [
        recovery_folder / f".{key}.ora.{live}.0badc0de{TEMP_SUFFIX}",  # a running writer's
        recovery_folder / f".notes.txt.{dead}.xyz{TEMP_SUFFIX}",  # not our pattern
        recovery_folder / "unrelated.txt",
        tmp_path / f"{temp_prefix(tmp_path / 'other.ora')}{dead}.12345678{TEMP_SUFFIX}",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    assert [r.key for r in list_recoveries()] == [key]
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


def test_restoring_into_the_recovery_folder_is_refused_and_keeps_the_record(recovery_folder):
    from warpaint.engine.io.autosave import check_restore_target

    key = _crashed_record(recovery_folder)
    for target in (recovery_folder / f"{key}.ora", recovery_folder / "copy.ora"):
        with pytest.raises(BadInputError, match="inside the recovery folder"):
            check_restore_target(target)
    check_restore_target(recovery_folder.parent / "elsewhere.ora")
    assert [r.key for r in list_recoveries()] == [key]
