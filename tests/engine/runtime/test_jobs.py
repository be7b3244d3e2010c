"""Job lanes: progress, cancellation, supersession, stale results, errors, priority."""

import threading
import time

import pytest

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import JobRunner, JobState


@pytest.fixture
def runner():
    r = JobRunner("cpu")
    yield r
    r.shutdown()


def chunked(seconds_per_chunk, chunks, started=None):
    """A job doing `chunks` bounded chunks of busy work with progress in between."""

    def fn(ctx):
        if started is not None:
            started.set()
        for i in range(chunks):
            end = time.perf_counter() + seconds_per_chunk
            while time.perf_counter() < end:
                pass
            ctx.report((i + 1) / chunks)
        return "finished"

    return fn


def test_long_job_reports_progress_and_result(runner):
    seen = []
    done = []
    job = runner.submit(chunked(0.001, 5), "work", lambda j, f, p: seen.append(f), done.append)
    assert job.wait(10)
    assert job.state is JobState.DONE and job.result == "finished"
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert done == [job]


def test_progress_carries_preview_images(runner):
    previews = []
    runner.submit(
        lambda ctx: ctx.report(0.5, preview="img"), "p", lambda j, f, p: previews.append(p)
    ).wait(5)
    assert previews == ["img"]


def test_cancel_stops_a_running_job_between_chunks(runner):
    started = threading.Event()
    job = runner.submit(chunked(0.02, 10_000, started))
    assert started.wait(5)
    time.sleep(0.1)
    t = time.perf_counter()
    runner.cancel(job)
    # Uncancelled, the job runs 200 s; 20 s is a margin a loaded 2-core CI
    # machine cannot break. The 0.5 s goal is measured by `warpaint bench cancel`.
    assert job.wait(20)
    assert time.perf_counter() - t < 20.0
    assert job.state is JobState.CANCELLED and job.result is None


def test_cancel_of_a_queued_job_drops_it_and_the_queue_goes_on(runner):
    started = threading.Event()
    first = runner.submit(chunked(0.01, 20, started))
    second = runner.submit(chunked(0.001, 1))
    third = runner.submit(chunked(0.001, 1))
    started.wait(5)
    runner.cancel(second)
    assert second.wait(1) and second.state is JobState.CANCELLED
    assert third.wait(10) and third.state is JobState.DONE
    assert first.state is JobState.DONE
    assert second.started_at is None, "a cancelled queued job never runs"


def test_newer_preview_for_the_same_target_supersedes_pending_and_running(runner):
    started = threading.Event()
    delivered = []
    first = runner.preview("layer1/blur", chunked(0.01, 500, started), on_done=delivered.append)
    started.wait(5)
    pending = runner.preview("layer1/blur", chunked(0.01, 1), on_done=delivered.append)
    newest = runner.preview("layer1/blur", lambda ctx: "newest", on_done=delivered.append)
    assert newest.wait(5)
    assert first.wait(5)
    assert first.state is JobState.SUPERSEDED
    assert pending.state is JobState.SUPERSEDED and pending.started_at is None
    assert newest.result == "newest"
    assert delivered == [newest], "only the newest result is delivered"


def test_late_result_of_a_superseded_job_is_dropped(runner):
    release = threading.Event()
    running = threading.Event()
    delivered = []

    def stubborn(ctx):  # never checks for cancellation
        running.set()
        release.wait(5)
        return "stale"

    old = runner.preview("t", stubborn, on_done=delivered.append)
    running.wait(5)
    new = runner.preview("t", lambda ctx: "fresh", on_done=delivered.append)
    release.set()
    assert new.wait(5) and old.wait(5)
    assert old.state is JobState.SUPERSEDED and old.result is None
    assert [j.result for j in delivered] == ["fresh"]


def test_previews_for_different_targets_all_run(runner):
    jobs = [runner.preview(("layer", i), lambda ctx, i=i: i) for i in range(3)]
    assert all(j.wait(5) for j in jobs)
    assert [j.result for j in jobs] == [0, 1, 2]


def test_a_failing_job_reports_its_error_and_the_lane_keeps_working(runner):
    def bad_input(ctx):
        raise BadInputError("the style image is empty")

    def bug(ctx):
        raise ZeroDivisionError("oops")

    a = runner.submit(bad_input)
    b = runner.submit(bug, "Blur")
    c = runner.submit(lambda ctx: 42)
    assert c.wait(5)
    assert a.state is JobState.FAILED and a.error_message == "the style image is empty"
    assert b.state is JobState.FAILED and "ZeroDivisionError" in b.error_message
    assert "Traceback" in b.error_details
    assert c.result == 42


def test_long_job_does_not_delay_a_preview_by_more_than_the_preview_itself(runner):
    preview_seconds = 0.15

    def preview(ctx):
        end = time.perf_counter() + preview_seconds
        while time.perf_counter() < end:
            time.sleep(0.001)  # stands for work that releases the GIL, as numpy/torch do
        return True

    started = threading.Event()
    long_job = runner.submit(chunked(0.02, 100_000, started))
    started.wait(5)
    time.sleep(0.05)
    t = time.perf_counter()
    job = runner.preview("target", preview)
    assert job.wait(5)
    latency = time.perf_counter() - t
    runner.cancel(long_job)
    long_job.wait(5)
    assert latency < 2 * preview_seconds, f"preview took {latency:.3f} s beside a long job"


def test_long_job_yields_to_previews_at_its_checkpoints(runner):
    # While the interactive lane is busy, the long job waits at ctx.check(),
    # so it makes no progress during a preview.
    progress_during = []
    started = threading.Event()
    long_job = runner.submit(chunked(0.005, 100_000, started))
    started.wait(5)

    def preview(ctx):
        before = long_job.progress
        time.sleep(0.3)
        progress_during.append(long_job.progress - before)

    runner.preview("t", preview).wait(5)
    runner.cancel(long_job)
    long_job.wait(5)
    assert progress_during and progress_during[0] < 0.0001


def test_shutdown_cancels_running_work():
    r = JobRunner("cpu")
    started = threading.Event()
    job = r.submit(chunked(0.01, 100_000, started))
    started.wait(5)
    r.shutdown(wait=2)
    assert job.state is JobState.CANCELLED
    with pytest.raises(RuntimeError):
        r.submit(lambda ctx: 1)


def test_progress_can_carry_extra_data_for_the_gui(runner):
    seen = []
    job = runner.submit(
        lambda ctx: ctx.report(0.5, data={"style": 1.5, "content": 0.2}),
        on_progress=lambda j, f, p: seen.append(j.data),
    )
    assert job.wait(5)
    assert seen == [{"style": 1.5, "content": 0.2}]
    assert job.data == {"style": 1.5, "content": 0.2}


def test_background_work_waits_behind_previews_queued_after_it():
    runner = JobRunner("cpu")
    gate, order = threading.Event(), []
    try:
        runner.preview("busy", lambda ctx: gate.wait(5))
        runner.preview("thumb", lambda ctx: order.append("thumbnail"), background=True)
        runner.preview("tiles", lambda ctx: order.append("tiles"))
        last = runner.preview("thumb2", lambda ctx: order.append("thumbnail 2"), background=True)
        gate.set()
        assert last.wait(5)
    finally:
        runner.shutdown()
    assert order == ["tiles", "thumbnail", "thumbnail 2"]


def test_a_file_write_runs_while_a_long_job_holds_the_long_lane(runner):
    release, started = threading.Event(), threading.Event()

    def long_job(ctx):
        started.set()
        while not release.wait(0.01):
            ctx.check()
        return "long"

    held = runner.submit(long_job, "training")
    assert started.wait(5)
    write = runner.submit(lambda ctx: "written", "save", lane="files")
    assert write.wait(5), "the write waited behind the long job"
    assert write.state is JobState.DONE and write.result == "written" and write.lane == "files"
    assert held.state is JobState.RUNNING
    release.set()
    assert held.wait(5) and held.result == "long"


def test_file_writes_run_one_at_a_time_in_the_order_submitted(runner):
    events = []
    lock = threading.Lock()

    def write(name):
        def fn(ctx):
            with lock:
                events.append(("start", name))
            time.sleep(0.02)
            with lock:
                events.append(("end", name))

        return fn

    jobs = [runner.submit(write(n), n, lane="files") for n in ("a", "b", "c")]
    assert all(job.wait(5) for job in jobs)
    assert events == [(edge, n) for n in "abc" for edge in ("start", "end")]


def test_a_queued_file_write_can_be_cancelled(runner):
    gate = threading.Event()
    first = runner.submit(lambda ctx: gate.wait(5), "first save", lane="files")
    second = runner.submit(lambda ctx: "written", "second save", lane="files")
    runner.cancel(second)
    gate.set()
    assert first.wait(5) and second.wait(5)
    assert second.state is JobState.CANCELLED and second.started_at is None


def test_jobs_queue_only_on_the_long_or_files_lane(runner):
    with pytest.raises(ValueError, match="long, files"):
        runner.submit(lambda ctx: 1, lane="interactive")
