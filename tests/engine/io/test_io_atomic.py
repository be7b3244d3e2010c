"""Atomic saves: a failed or killed save never damages the previous file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import io_corpus as corpus
import pytest

from warpaint.engine.core.document import Document
from warpaint.engine.io import atomic_write, read_ora, save_document
from warpaint.engine.io.atomic import TEMP_SUFFIX, stale_temp_files, temp_prefix
from warpaint.engine.runtime.errors import BadInputError


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_atomic_write_replaces_the_file_only_when_the_block_completes(tmp_path):
    target = tmp_path / "doc.txt"
    target.write_text("old")
    with atomic_write(target, "w") as fh:
        fh.write("new")
        assert target.read_text() == "old"  # not visible until the block ends
        assert len(_temps(tmp_path)) == 1
    assert target.read_text() == "new"
    assert _temps(tmp_path) == []


def test_an_exception_inside_the_block_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "doc.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("encoder crashed")
    assert target.read_bytes() == b"old"
    assert _temps(tmp_path) == []


def test_a_new_file_that_fails_is_not_created(tmp_path):
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_existing_permissions_are_kept(tmp_path):
    target = tmp_path / "shared.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert target.stat().st_mode & 0o777 == 0o640


def test_writing_over_a_folder_is_refused(tmp_path):
    (tmp_path / "dir.ora").mkdir()
    with pytest.raises(BadInputError, match="is a folder"), atomic_write(tmp_path / "dir.ora"):
        pass


def test_leftovers_of_dead_writers_are_cleaned_but_live_ones_kept(tmp_path):
    target = tmp_path / "doc.ora"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"{temp_prefix(target)}{dead_pid}.abcd{TEMP_SUFFIX}"
    live = tmp_path / f"{temp_prefix(target)}{os.getppid()}.ef01{TEMP_SUFFIX}"
    stale.write_bytes(b"junk")
    live.write_bytes(b"in progress elsewhere")
    assert stale_temp_files(target) == [stale]
    with atomic_write(target) as fh:
        fh.write(b"ok")
    assert not stale.exists() and live.exists()


KILLED_SAVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from warpaint.engine.core.document import Document
    from warpaint.engine.io import save_document

    rng = np.random.default_rng(0)
    # Noise does not compress: encoding takes long enough to be killed midway.
    doc = Document.from_array(rng.integers(0, 256, (2048, 2048, 4), dtype=np.uint8))
    print("ready", flush=True)
    save_document(doc, sys.argv[1])
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_a_save_killed_midway_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "precious.ora"
    first = Document.from_array(corpus.rgba_pattern(16, 16))
    save_document(first, target)
    before = target.read_bytes()

    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        partial: list[Path] = []
        # Kill once the temporary file holds real data (the big layer), i.e. midway.
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in _temps(tmp_path) if p.stat().st_size > 1_000_000]
            if partial:
                break
            time.sleep(0.005)
        assert partial, "the save never reached the middle of its write"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == before  # byte-identical
    assert read_ora(target).layers[0].pixels.equals(first.layers[0].pixels)
    leftovers = _temps(tmp_path)
    assert leftovers  # the killed writer could not clean up after itself...
    second = Document.from_array(corpus.rgba_pattern(8, 8))
    save_document(second, target)  # ...and the next save is not tripped by it
    assert _temps(tmp_path) == []
    assert read_ora(target).width == 8


def test_a_save_failing_midway_keeps_the_previous_document(tmp_path, monkeypatch):
    target = tmp_path / "doc.ora"
    first = Document.from_array(corpus.rgba_pattern(8, 8))
    save_document(first, target)
    before = target.read_bytes()
    calls = []

    def failing_png(array, level):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError
        return b"\x89PNG fake"

    monkeypatch.setattr("warpaint.engine.io.ora._png_bytes", failing_png)
    second = Document.from_array(corpus.rgba_pattern(8, 8))
    second.add_layer(second.layers[0].with_(name="two", id=12345))
    second_dirty = second.dirty
    with pytest.raises(MemoryError):
        save_document(second, target)
    assert target.read_bytes() == before
    assert _temps(tmp_path) == []
    assert second.dirty == second_dirty  # not marked saved


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def test_a_folder_sweep_removes_only_our_leftovers_of_dead_writers(tmp_path):
    from warpaint.engine.io.atomic import remove_stale_temp_files

    dead, live = _dead_pid(), os.getppid()
    ours_dead = [
        tmp_path / f".a.ora.{dead}.0123abcd{TEMP_SUFFIX}",
        tmp_path / f".{'n' * 200}.png.{dead}.89abcdef{TEMP_SUFFIX}",
    ]
    kept = [
        tmp_path / f".a.ora.{live}.0123abcd{TEMP_SUFFIX}",  # its writer still runs
        tmp_path / f".a.ora.{dead}.NOTHEX12{TEMP_SUFFIX}",  # not our pattern
        tmp_path / f"a.ora.{dead}.0123abcd{TEMP_SUFFIX}",  # no leading dot
        tmp_path / f".a.ora.{dead}.0123abcd.tmp",
        tmp_path / "a.ora",
    ]
    for path in ours_dead + kept:
        path.write_bytes(b"x")
    (tmp_path / f".d.{dead}.0123abcd{TEMP_SUFFIX}").mkdir()  # a folder is never removed
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(ours_dead)
    assert all(p.exists() for p in kept)
    assert (tmp_path / f".d.{dead}.0123abcd{TEMP_SUFFIX}").is_dir()


def test_opening_a_document_removes_leftovers_of_a_killed_save_to_it(tmp_path):
    from warpaint.engine.io import open_document

    target = tmp_path / "doc.ora"
    save_document(Document.from_array(corpus.rgba_pattern(4, 4)), target)
    dead = _dead_pid()
    leftover = tmp_path / f"{temp_prefix(target)}{dead}.0123abcd{TEMP_SUFFIX}"
    other = tmp_path / f"{temp_prefix(tmp_path / 'b.ora')}{dead}.0123abcd{TEMP_SUFFIX}"
    leftover.write_bytes(b"partial")
    other.write_bytes(b"partial")
    open_document(target)
    assert not leftover.exists() and other.exists()


@pytest.mark.parametrize("length", [200, 244, 255])
def test_temporary_names_fit_in_255_bytes_and_stay_tied_to_their_target(tmp_path, length):
    name = "é" * ((length - 4) // 2) + "x" * ((length - 4) % 2) + ".ora"
    assert len(name.encode()) == length
    target = tmp_path / name
    full = f"{temp_prefix(target)}{2**32}.0123abcd{TEMP_SUFFIX}"
    assert len(full.encode()) <= 255
    assert temp_prefix(target) != temp_prefix(tmp_path / ("é" + name[1:-5] + "y.ora"))
    with atomic_write(target) as fh:
        fh.write(b"ok")
        assert [p.name.startswith(temp_prefix(target)) for p in _temps(tmp_path)] == [True]
    assert target.read_bytes() == b"ok"
