"""The task pool: single-threaded torch workers pulling tasks from one queue."""

from __future__ import annotations

import threading

import pytest
import torch

from warpaint.engine.core.task_pool import TaskPool


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("task-pool-")]


def test_every_worker_runs_torch_on_one_thread_and_the_threads_end_with_the_pool():
    before = torch.get_num_threads()
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()
    started = threading.Barrier(2)

    def task() -> None:
        # Two tasks meet here, so they are on two different workers.
        started.wait(timeout=10)
        with lock:
            seen.append((threading.get_ident(), torch.get_num_threads()))

    with TaskPool(2) as pool:
        assert len(pool_threads()) == 1, "the caller is the other worker"
        pool.run([task, task])
    fresh: list[int] = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert sorted(count for _, count in seen) == [1, 1]
    assert len({ident for ident, _ in seen}) == 2
    assert pool_threads() == []
    assert torch.get_num_threads() == before, "the caller's count comes back"
    assert fresh == [before], "threads torch has not seen yet keep its default"


def test_each_task_runs_once_and_done_counts_them_on_the_calling_thread():
    results: list[int] = []
    counts: list[int] = []
    callers: set[int] = set()
    with TaskPool(3) as pool:

        def done(count: int) -> None:
            counts.append(count)
            callers.add(threading.get_ident())

        pool.run([lambda i=i: results.append(i) for i in range(50)], done)
    assert sorted(results) == list(range(50))
    assert counts == sorted(counts) and counts[-1] == 50
    assert callers == {threading.get_ident()}


def test_tasks_run_in_the_callers_inference_mode():
    modes: list[bool] = []
    with TaskPool(2) as pool, torch.inference_mode():
        out = torch.zeros(8)

        def task(i: int) -> None:
            modes.append(torch.is_inference_mode_enabled())
            out[i] = i  # an in-place write to an inference tensor needs the mode

        pool.run([lambda i=i: task(i) for i in range(8)])
    assert modes == [True] * 8
    assert out.tolist() == list(range(8))


def test_a_failing_task_or_progress_stops_the_batch_and_raises():
    ran: list[int] = []

    def task(i: int) -> None:
        ran.append(i)
        if i == 3:
            raise ValueError("bad tile")

    with pytest.raises(ValueError, match="bad tile"), TaskPool(2) as pool:
        pool.run([lambda i=i: task(i) for i in range(1000)])
    assert len(ran) < 1000, "the tasks not yet started are skipped"
    assert pool_threads() == []

    ran.clear()

    def progress(count: int) -> None:
        if count >= 5:
            raise KeyboardInterrupt  # what a cancelled job's report raises is just as final

    with pytest.raises(KeyboardInterrupt), TaskPool(2) as pool:
        pool.run([lambda i=i: ran.append(i) for i in range(1000)], progress)
    assert len(ran) < 1000
    assert pool_threads() == []


def test_a_pool_is_used_inside_its_with_block_only():
    pool = TaskPool(2)
    with pytest.raises(RuntimeError):
        pool.run([lambda: None])
    with pytest.raises(ValueError):
        TaskPool(0)
