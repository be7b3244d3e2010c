"""Batches: listing inputs, naming outputs, settling shared names, the journal."""

import json
import os
import signal
import threading

import numpy as np
import pytest
from PIL import Image

from warpaint.engine.runtime import batch
from warpaint.engine.runtime.batch import Journal, OutputSettings, Task
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.recipes import load_recipe


def image(path, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    return path


def names(paths):
    return [p.name for p in paths]


def test_a_folder_gives_its_images_and_counts_other_files_as_skipped(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png"):
        image(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    files, skipped = batch.collect_inputs([str(tmp_path)])
    assert names(files) == ["a.jpg", "b.png"]
    assert len(skipped) == 1 and "notes.txt" in skipped[0]


def test_recursive_takes_sub_folders_but_not_the_output_folder(tmp_path):
    for name in ("a.png", "sub/c.png", "out/old.png"):
        image(tmp_path / name)
    files, _ = batch.collect_inputs([str(tmp_path)], recursive=True, exclude=tmp_path / "out")
    assert names(files) == ["a.png", "c.png"]


def test_globs_are_expanded_and_each_file_is_taken_once(tmp_path):
    for name in ("a.png", "b.png", "c.jpg"):
        image(tmp_path / name)
    files, _ = batch.collect_inputs([str(tmp_path / "*.png"), str(tmp_path / "a.png")])
    assert names(files) == ["a.png", "b.png"]


@pytest.mark.parametrize("name", ["missing.png", "*.nothing"])
def test_an_input_that_names_nothing_is_refused(tmp_path, name):
    with pytest.raises(BadInputError, match="no such file|no file matches"):
        batch.collect_inputs([str(tmp_path / name)])


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("{stem}_{size}.png", "unknown field {size}"),
        ("sub/{stem}.png", "not a path"),
        ("", "must name a file"),
    ],
)
def test_bad_name_patterns_are_refused(pattern, fragment):
    with pytest.raises(BadInputError, match=fragment):
        batch.check_name_pattern(pattern)


def test_name_fields_and_format_specs():
    from pathlib import Path

    assert batch.output_name("{index:03d}-{stem}.{ext}", Path("in/pic.jpeg"), 7, "png") == (
        "007-pic.png"
    )


def test_without_format_ext_is_the_inputs_own_when_writable(tmp_path):
    from pathlib import Path

    assert batch.default_ext(Path("a.JPG")) == "JPG"
    assert batch.default_ext(Path("a.ora")) == "ora"
    assert batch.default_ext(Path("a.dib")) == "png"


def plan(tmp_path, files, existing, resume=False, journal=None):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    settings = OutputSettings(format="png", existing=existing)
    return batch.plan_batch(files, out, settings, "r", journal or Journal(out), resume)


@pytest.fixture
def shared(tmp_path):
    """Two inputs that both map to out/a.png, and a third whose name exists."""
    files = [image(tmp_path / "a.png", 1), image(tmp_path / "x" / "a.jpg", 2)]
    files.append(image(tmp_path / "b.png", 3))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.png").write_bytes(b"old")
    return files


def test_skip_keeps_the_first_claim_and_existing_files(tmp_path, shared):
    p = plan(tmp_path, shared, "skip")
    assert [(t.source.name, t.output.name) for t in p.tasks] == [("a.png", "a.png")]
    assert len(p.skipped) == 2
    assert "also the output of" in p.skipped[0] and "exists" in p.skipped[1]


def test_rename_gives_the_first_free_numbered_name(tmp_path, shared):
    (tmp_path / "out" / "b (2).png").write_bytes(b"old")
    p = plan(tmp_path, shared, "rename")
    assert [t.output.name for t in p.tasks] == ["a.png", "a (2).png", "b (3).png"]
    assert p.skipped == []


def test_overwrite_says_when_two_inputs_share_a_name(tmp_path, shared):
    p = plan(tmp_path, shared, "overwrite")
    assert [t.output.name for t in p.tasks] == ["a.png", "a.png", "b.png"]
    assert len(p.notes) == 1 and "a.jpg" in p.notes[0] and "a.png" in p.notes[0]


def test_resume_skips_only_journaled_outputs_that_exist(tmp_path):
    files = [image(tmp_path / f"{n}.png", i) for i, n in enumerate("abc")]
    first = plan(tmp_path, files, "skip")
    journal = Journal(tmp_path / "out")
    journal.open()
    for task in first.tasks[:2]:
        task.output.write_bytes(b"done")
        journal.record(task)
    journal.close()
    first.tasks[1].output.unlink()
    again = plan(tmp_path, files, "skip", resume=True, journal=Journal(tmp_path / "out"))
    assert again.resumed == 1
    assert [t.source.name for t in again.tasks] == ["b.png", "c.png"]


def test_a_changed_input_runs_again_over_its_old_output(tmp_path):
    files = [image(tmp_path / "a.png", 0)]
    first = plan(tmp_path, files, "skip")
    journal = Journal(tmp_path / "out")
    journal.open()
    first.tasks[0].output.write_bytes(b"done")
    journal.record(first.tasks[0])
    journal.close()
    image(tmp_path / "a.png", 5)
    again = plan(tmp_path, files, "skip", resume=True, journal=Journal(tmp_path / "out"))
    assert again.resumed == 0 and again.skipped == []
    assert [t.output.name for t in again.tasks] == ["a.png"]
    assert again.tasks[0].key != first.tasks[0].key


def test_resume_leaves_outputs_it_did_not_write_to_the_policy(tmp_path):
    files = [image(tmp_path / "a.png", 0)]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"someone else's")
    again = plan(tmp_path, files, "skip", resume=True)
    assert again.tasks == [] and "exists" in again.skipped[0]


def test_the_journal_keeps_the_latest_key_and_drops_a_torn_line(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"x")
    journal = Journal(out)
    journal.open()
    journal.record(Task(1, tmp_path / "a.png", out / "a.png", "old"))
    journal.record(Task(1, tmp_path / "a.png", out / "a.png", "new"))
    journal.close()
    with open(out / batch.JOURNAL_NAME, "a") as fh:
        fh.write('{"v": 1, "key": "cut')
    reread = Journal(out)
    assert reread.done("new", out / "a.png") and not reread.done("old", out / "a.png")
    reread.open()
    reread.close()
    lines = (out / batch.JOURNAL_NAME).read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["new"]


def test_the_recipe_hash_follows_the_files_it_names(tmp_path):
    style = image(tmp_path / "style.png", 1)
    path = tmp_path / "r.json"
    steps = [{"effect": "arbitrary-style", "params": {"style": "style.png"}}]
    path.write_text(json.dumps({"warpaint_recipe": 1, "steps": steps}))
    before = batch.recipe_hash(path, load_recipe(path))
    image(style, 2)
    assert batch.recipe_hash(path, load_recipe(path)) != before


def test_a_batch_without_jobs_uses_a_worker_per_core_only_when_the_files_pay_for_them():
    assert batch.auto_jobs("cpu", files=200, cores=2) == 2
    assert batch.auto_jobs("cpu", files=200, cores=16) == batch.AUTO_JOBS_MAX
    assert batch.auto_jobs("cpu", files=3, cores=2) == 1, "a few files: no worker start to pay"
    assert batch.auto_jobs("cpu", files=16, cores=16) == 2
    assert batch.auto_jobs("cuda", files=200, cores=16) == 1, "one GPU, one process"


def test_worker_threads_share_out_the_cores():
    assert batch.worker_threads(1, cores=2) == 2
    assert batch.worker_threads(2, cores=2) == 1
    assert batch.worker_threads(4, cores=2) == 1


def test_progress_redraws_one_bar_on_a_terminal(tmp_path):
    import io

    stream = io.StringIO()
    progress = batch.Progress(stream, 2, tty=True)
    task = Task(1, tmp_path / "a.png", tmp_path / "out" / "a.png", "k")
    progress.finished(task)
    progress.finished(task, "b.png: damaged")
    progress.end(batch.Summary(done=1, failed=1))
    text = stream.getvalue()
    # The bar is cleared before a line of its own, then drawn again below it.
    assert "\r\x1b[Kwarpaint: failed: b.png: damaged\n\r[" in text
    assert "\r[###############---------------] 1/2" in text and "images/s ETA" in text
    assert text.endswith("\r\x1b[Kdone 1, failed 1, skipped 0\n")


def test_progress_elsewhere_is_plain_lines(tmp_path):
    import io

    stream = io.StringIO()
    progress = batch.Progress(stream, 2, tty=False)
    task = Task(1, tmp_path / "a.png", tmp_path / "out" / "a.png", "k")
    progress.show()
    progress.finished(task)
    progress.end(batch.Summary(done=1))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("[1/2 ") and lines[0].endswith(f"{task.source} -> {task.output}")
    assert lines[1] == "done 1, failed 0, skipped 0"


# -- staging and committing ----------------------------------------------------


def test_ctrl_c_between_an_outputs_rename_and_its_journal_line_waits_for_the_line(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    journal = Journal(out)
    journal.open()
    task = Task(1, tmp_path / "a.png", out / "a.png", "k")
    staged = batch.staging_path(task.output)
    staged.write_bytes(b"result")
    rename = os.replace

    def rename_then_ctrl_c(src, dst):
        rename(src, dst)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(batch.os, "replace", rename_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        batch.commit(task, staged, journal)
    journal.close()
    assert task.output.read_bytes() == b"result" and not staged.exists()
    assert Journal(out).done("k", task.output)


def test_a_failed_rename_is_one_line_and_leaves_no_staged_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    task = Task(1, tmp_path / "a.png", out / "a.png", "k")
    task.output.mkdir()
    staged = batch.staging_path(task.output)
    staged.write_bytes(b"result")
    with pytest.raises(BadInputError, match="could not be written"):
        batch.commit(task, staged, Journal(out))
    assert not staged.exists() and not Journal(out).knows("a.png")


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """This process set up as a batch worker for a two-step blur recipe."""
    path = tmp_path / "r.json"
    steps = [{"effect": "gaussian-blur", "params": {"sigma": 1.0}}] * 2
    path.write_text(json.dumps({"warpaint_recipe": 1, "steps": steps}))
    cancel = threading.Event()
    state = {"recipe": load_recipe(path), "device": "cpu", "quality": 92, "cancel": cancel}
    monkeypatch.setattr(batch, "_worker", state)
    (tmp_path / "out").mkdir()
    return Task(1, image(tmp_path / "a.png"), tmp_path / "out" / "a.png", "k"), cancel


def test_a_worker_stages_its_result_and_leaves_the_output_name_alone(worker):
    task, _ = worker
    outcome = batch._work(task)
    assert outcome.failure is None and outcome.staged is not None
    assert outcome.staged.parent == task.output.parent and outcome.staged.is_file()
    assert Image.open(outcome.staged).size == (8, 8)
    assert not task.output.exists()


def test_a_cancelled_worker_writes_nothing(worker):
    task, cancel = worker
    cancel.set()
    outcome = batch._work(task)
    assert (outcome.staged, outcome.failure) == (None, None)
    assert list(task.output.parent.iterdir()) == []
