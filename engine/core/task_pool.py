"""A few single-threaded torch workers that pull independent tasks from a queue.

torch splits each operation statically between its OpenMP threads, and every
thread waits for the others at the end of the operation. When another program
keeps one of two cores busy, the thread that shares its core holds the other
up at every operation, so two threads finish no sooner than one. Work cut into
many small independent tasks and pulled by workers that run one torch thread
each balances itself instead: the worker on the free core simply takes more
tasks, and nothing waits until the end of a batch. torch operations release
the GIL, so Python threads are enough. `warpaint bench contention` measures
what this buys (`engine.runtime.cpu_threads.pool_workers` says when it is used).

The calling thread is one of the workers: it takes tasks from the same queue
and reports progress between them, so no thread wakes up only to count.

A torch thread count is a per-thread setting (OpenMP's `nthreads-var`), so a
worker's one thread leaves other threads alone. torch also takes the last
count set as the default for threads it has not seen yet: while a pool runs
that is 1, and the pool puts the caller's count back, there and on the caller,
when it ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from types import TracebackType

Task = Callable[[], object]


class TaskPool:
    """The calling thread and `workers - 1` more, each running torch on one
    thread, for the batches given to `run`. Use as a context manager: the
    threads start on entering and end (joined) on leaving, even when a task
    or the caller raised."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a task pool needs at least one worker, got {workers}")
        self.workers = workers
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._threads: list[threading.Thread] = []
        self._one_thread: ExitStack | None = None  # holds the caller's pinned thread count
        # The caller's grad and inference modes, which are per-thread in torch.
        self._modes = (False, False)

    def __enter__(self) -> TaskPool:
        ready = threading.Barrier(self.workers)
        for i in range(1, self.workers):
            thread = threading.Thread(
                target=self._work, args=(ready,), name=f"task-pool-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        # One thread on the caller too, pinned: a job's periodic choice of
        # threads (`cpu_threads.revisit`, from a progress callback between
        # tasks) must not give the caller's tasks more while the pool runs.
        from warpaint.engine.runtime.cpu_threads import torch_threads

        self._one_thread = ExitStack()
        self._one_thread.enter_context(torch_threads(1))
        ready.wait()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._cancelled.set()
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._one_thread is not None:
            self._one_thread.close()  # the caller's count back
            self._one_thread = None

    def run(self, tasks: Sequence[Task], done: Callable[[int], None] | None = None) -> None:
        """Run `tasks` (in any order, on any worker) and return when all have
        finished. `done(count)` is called on the calling thread as tasks
        finish (count: how many have); when it or a task raises, the tasks not
        yet started are skipped, the running ones finish, and the first
        exception is raised."""
        import torch

        if self._one_thread is None:
            raise RuntimeError("the task pool is not running (use it in a with block)")
        if self._cancelled.is_set():
            raise RuntimeError("the task pool was cancelled")
        self._modes = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
        for task in tasks:
            self._tasks.put(task)
        failure: BaseException | None = None
        finished = 0
        while finished < len(tasks):
            try:
                mine = self._tasks.get_nowait()
            except queue.Empty:
                outcome = self._done.get()  # the last tasks run on other workers
            else:
                outcome = self._call(mine)
            finished += 1
            while True:
                if outcome is not None and failure is None:
                    failure = outcome
                    self._cancelled.set()
                try:
                    outcome = self._done.get_nowait()
                except queue.Empty:
                    break
                finished += 1
            if done is not None and failure is None:
                try:
                    done(finished)
                except BaseException as exc:  # noqa: BLE001 - raised below
                    failure = exc
                    self._cancelled.set()
        if failure is not None:
            raise failure

    def _call(self, task: Task | None) -> BaseException | None:
        """Run one task unless the pool was cancelled; the exception it raised."""
        import torch

        if task is None or self._cancelled.is_set():
            return None
        grad, inference = self._modes
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                task()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            return exc
        return None

    def _work(self, ready: threading.Barrier) -> None:
        import torch

        torch.get_num_threads()  # torch's lazy per-thread set-up first, so 1 sticks
        torch.set_num_threads(1)
        ready.wait()
        while True:
            task = self._tasks.get()
            if task is None:
                return
            self._done.put(self._call(task))
