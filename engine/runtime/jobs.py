"""Three job lanes: interactive previews, long jobs and file writes, each on its own worker thread.

- The interactive lane runs previews and compositing. Jobs carry a *target*
  (layer id + effect id); a newer request for the same target supersedes an
  older one: a pending one is dropped, a running one is cancelled, and a late
  result of a superseded job is never delivered.
- The long lane is a FIFO queue for full-resolution effects, optimisations and
  training, with progress and preview images.
- The files lane is a FIFO queue for saves, exports and autosaves. A write
  never waits behind a long job (a full-size effect or a training run can
  take minutes), and being one serial queue, two writes to one path never
  interleave.

Jobs are plain callables `fn(ctx) -> result`. They call `ctx.report(...)` or
`ctx.check()` between bounded chunks of work; both raise `JobCancelled` once
the job is cancelled, which is how Cancel takes effect within one chunk. A long
job also *yields* at those points while the interactive lane has work, so a
long job never delays a preview by more than one of its chunks.

Callbacks (`on_progress`, `on_done`) run on the worker thread; the GUI's
bridge re-emits them as Qt signals on the GUI thread.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from enum import StrEnum
from typing import Any

from warpaint.engine.runtime.cpu_threads import revisit, start_monitor, threads_for_job
from warpaint.engine.runtime.errors import JobCancelled, WarpaintError


class Lane(StrEnum):
    """Which worker runs a job; each lane is its own thread and queue."""

    INTERACTIVE = "interactive"
    LONG = "long"
    FILES = "files"


QUEUED_LANES = (Lane.LONG, Lane.FILES)


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def finished(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


ProgressCallback = Callable[["Job", float, Any], None]
DoneCallback = Callable[["Job"], None]
JobFn = Callable[["JobContext"], Any]

_job_ids = itertools.count(1)


class JobContext:
    """What a running job sees: progress reporting, cancellation, settings."""

    def __init__(self, job: Job, yield_to: threading.Event | None = None) -> None:
        self._job = job
        self._yield_to = yield_to
        self.device: str = job.device
        self.scale: float = job.scale

    @property
    def cancelled(self) -> bool:
        return self._job._cancel.is_set()

    def check(self) -> None:
        """Raise `JobCancelled` if the job was cancelled; wait while previews run.
        Every few seconds also chooses the job's CPU threads again (`revisit`)."""
        revisit()
        if self._yield_to is not None:
            while not self._yield_to.wait(0.05):
                if self._job._cancel.is_set():
                    break
        if self._job._cancel.is_set():
            raise JobCancelled(self._job.label)

    def report(self, fraction: float, preview: Any = None, data: Any = None) -> None:
        """Progress in [0, 1], an optional preview image and optional extra
        `data` (e.g. the current losses of an optimisation, which the GUI
        plots); also a cancellation point. `data` is kept in `job.data`."""
        self.check()
        if data is not None:
            self._job.data = data
        self._job.progress = max(0.0, min(1.0, float(fraction)))
        if self._job.on_progress is not None:
            self._job.on_progress(self._job, self._job.progress, preview)

    @property
    def messages(self) -> list[str]:
        return self._job.messages

    def message(self, text: str) -> None:
        """A note for the user (e.g. 'GPU out of memory: finished on the CPU')."""
        self._job.messages.append(text)


class Job:
    """A handle on submitted work: state, progress, result or error, cancel, wait."""

    def __init__(
        self,
        fn: JobFn,
        label: str = "",
        lane: Lane = Lane.LONG,
        target: Hashable | None = None,
        on_progress: ProgressCallback | None = None,
        on_done: DoneCallback | None = None,
        device: str = "cpu",
        scale: float = 1.0,
        background: bool = False,
    ) -> None:
        self.id = next(_job_ids)
        # Background work on the interactive lane (thumbnails, detection) waits
        # while previews and canvas tiles are queued.
        self.background = background
        self.fn = fn
        self.label = label
        self.lane = lane
        self.target = target
        self.on_progress = on_progress
        self.on_done = on_done
        self.device = device
        self.scale = scale
        self.state = JobState.PENDING
        self.progress = 0.0
        self.data: Any = None  # the latest `data` a job reported with its progress
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_details = ""
        self.messages: list[str] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._superseded = False

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def error_message(self) -> str:
        """One line for the user: the reason for a WarpaintError, else a generic note."""
        if self.error is None:
            return ""
        if isinstance(self.error, WarpaintError):
            return str(self.error)
        return f"internal error in {self.label or 'job'}: {type(self.error).__name__}: {self.error}"

    def cancel(self) -> None:
        """Ask the job to stop; it ends at its next cancellation point."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; True if it did within `timeout`."""
        return self._finished.wait(timeout)

    def _run(self, ctx: JobContext) -> None:
        self.state = JobState.RUNNING
        self.started_at = time.perf_counter()
        try:
            if self._cancel.is_set():
                raise JobCancelled(self.label)
            result = self.fn(ctx)
            if self._superseded:
                self.state = JobState.SUPERSEDED
            elif self._cancel.is_set():
                # Cancelled after its last check: the result is not wanted any more.
                self.state = JobState.CANCELLED
            else:
                self.result = result
                self.progress = 1.0
                self.state = JobState.DONE
        except JobCancelled:
            self.state = JobState.SUPERSEDED if self._superseded else JobState.CANCELLED
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none kills the lane
            self.error = exc
            self.error_details = traceback.format_exc()
            self.state = JobState.SUPERSEDED if self._superseded else JobState.FAILED
        self._finish()

    def _finish(self) -> None:
        self.finished_at = time.perf_counter()
        self._finished.set()
        if self.on_done is not None and self.state is not JobState.SUPERSEDED:
            self.on_done(self)


class _LaneWorker:
    """One worker thread over a queue; subclasses say how jobs queue and which runs next."""

    def __init__(self, lane: Lane, yield_to: threading.Event | None = None) -> None:
        self.lane = lane
        # Set while the interactive lane is idle: a job here waits at its
        # cancellation points until it is, so previews never wait behind it.
        self._yield_to = yield_to
        self._cond = threading.Condition()
        self.current: Job | None = None
        self._stopped = False
        self.idle = threading.Event()
        self.idle.set()
        self._thread = threading.Thread(target=self._loop, name=f"warpaint-{lane}", daemon=True)
        self._thread.start()

    def _enqueue(self, job: Job) -> None:
        raise NotImplementedError

    def _discard(self, job: Job) -> bool:
        raise NotImplementedError

    def _take(self) -> Job:
        raise NotImplementedError

    def _queued(self) -> list[Job]:
        raise NotImplementedError

    def put(self, job: Job) -> None:
        with self._cond:
            if self._stopped:
                raise RuntimeError("the job runner was shut down")
            self._enqueue(job)
            self.idle.clear()
            self._cond.notify()

    def remove_pending(self, job: Job) -> bool:
        with self._cond:
            found = self._discard(job)
            if not self._queued() and self.current is None:
                self.idle.set()
            return found

    def pending(self) -> list[Job]:
        with self._cond:
            return self._queued()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def join(self, timeout: float | None) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queued() and not self._stopped:
                    self.current = None
                    self.idle.set()
                    self._cond.wait()
                if self._stopped:
                    self.current = None
                    self.idle.set()
                    return
                job = self._take()
                self.current = job
            # One torch thread per core other programs leave free (see cpu_threads).
            with threads_for_job():
                job._run(JobContext(job, self._yield_to))
            with self._cond:
                self.current = None


class SupersedingLane(_LaneWorker):
    """Jobs keyed by target: a newer job for a target drops the queued one and
    cancels the running one. Background jobs run only when nothing else waits."""

    def __init__(self, lane: Lane) -> None:
        self._queue: OrderedDict[Hashable, Job] = OrderedDict()
        super().__init__(lane)

    def _enqueue(self, job: Job) -> None:
        old = self._queue.pop(job.target, None)
        if old is not None:
            old._superseded = True
            old.state = JobState.SUPERSEDED
            old._finish()
        if self.current is not None and self.current.target == job.target:
            self.current._superseded = True
            self.current.cancel()
        self._queue[job.target] = job

    def _discard(self, job: Job) -> bool:
        found = self._queue.get(job.target) is job
        if found:
            del self._queue[job.target]
        return found

    def _take(self) -> Job:
        first = next(iter(self._queue))
        key = next((k for k, j in self._queue.items() if not j.background), first)
        return self._queue.pop(key)

    def _queued(self) -> list[Job]:
        return list(self._queue.values())


class FifoLane(_LaneWorker):
    """Jobs run one at a time in the order submitted."""

    def __init__(self, lane: Lane, yield_to: threading.Event | None = None) -> None:
        self._queue: deque[Job] = deque()
        super().__init__(lane, yield_to)

    def _enqueue(self, job: Job) -> None:
        self._queue.append(job)

    def _discard(self, job: Job) -> bool:
        found = job in self._queue
        if found:
            self._queue.remove(job)
        return found

    def _take(self) -> Job:
        return self._queue.popleft()

    def _queued(self) -> list[Job]:
        return list(self._queue)


class JobRunner:
    """The engine's three lanes. One runner per application (or per CLI command)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        start_monitor()  # so the first job already sees a second of the machine's load
        self._interactive = SupersedingLane(Lane.INTERACTIVE)
        # Long jobs yield to previews; file writes do not, being short and
        # never to be held up by a slider being dragged.
        self._long = FifoLane(Lane.LONG, yield_to=self._interactive.idle)
        self._files = FifoLane(Lane.FILES)
        self._lanes: dict[Lane, _LaneWorker] = {
            lane.lane: lane for lane in (self._interactive, self._long, self._files)
        }

    def preview(
        self,
        target: Hashable,
        fn: JobFn,
        label: str = "",
        on_progress: ProgressCallback | None = None,
        on_done: DoneCallback | None = None,
        scale: float = 1.0,
        background: bool = False,
    ) -> Job:
        """Run `fn` on the interactive lane; supersedes any job for the same target.
        A `background` job runs only when no other interactive job is waiting."""
        job = Job(
            fn,
            label,
            Lane.INTERACTIVE,
            target,
            on_progress,
            on_done,
            self.device,
            scale,
            background,
        )
        self._interactive.put(job)
        return job

    def submit(
        self,
        fn: JobFn,
        label: str = "",
        on_progress: ProgressCallback | None = None,
        on_done: DoneCallback | None = None,
        lane: Lane | str = Lane.LONG,
    ) -> Job:
        """Queue `fn` on the long-job lane, or with `lane="files"` on the file-writing lane."""
        if lane not in QUEUED_LANES:
            raise ValueError(f"jobs are queued on one of {', '.join(QUEUED_LANES)}, not {lane!r}")
        job = Job(fn, label, Lane(lane), None, on_progress, on_done, self.device)
        self._lanes[job.lane].put(job)
        return job

    def cancel(self, job: Job) -> None:
        """Cancel a job: dropped if still queued, stopped at its next check if running."""
        job.cancel()
        if self._lanes[job.lane].remove_pending(job):
            job.state = JobState.CANCELLED
            job._finish()

    def cancel_all(self) -> None:
        for lane in self._lanes.values():
            for job in lane.pending():
                self.cancel(job)
            current = lane.current
            if current is not None:
                current.cancel()

    @property
    def long_jobs(self) -> list[Job]:
        """The running long job (if any) followed by the queued ones."""
        current = self._long.current
        return ([current] if current is not None else []) + self._long.pending()

    def shutdown(self, wait: float | None = 5.0) -> None:
        self.cancel_all()
        for lane in self._lanes.values():
            lane.stop()
        if wait:
            for lane in self._lanes.values():
                lane.join(wait)
