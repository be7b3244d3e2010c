"""The one bridge between the engine's job lanes and Qt.

Job callbacks run on the lanes' worker threads. `JobBridge` re-emits them as
Qt signals of a QObject that lives on the GUI thread, so with Qt's automatic
(queued) connections every `on_progress` / `on_done` handed to the bridge runs
on the GUI thread, never on a worker. Widgets only submit jobs and react to
these signals; nothing on the GUI thread waits for a job.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from PySide6.QtCore import QObject, Signal

from warpaint.engine.runtime.jobs import Job, JobFn, JobRunner, JobState

GuiProgress = Callable[[Job, float, Any], None]
GuiDone = Callable[[Job], None]


class JobBridge(QObject):
    """Submits jobs to a `JobRunner` and delivers their callbacks on the GUI thread."""

    # Emitted on the GUI thread.
    job_progress = Signal(object, float, object)  # job, fraction, preview
    job_finished = Signal(object)  # job (state DONE, FAILED or CANCELLED)
    long_jobs_changed = Signal()  # a long job was queued or ended

    # Emitted from worker threads; connected (queued) to the slots below.
    _progress_from_worker = Signal(object, float, object)
    _done_from_worker = Signal(object)

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._handlers: dict[int, tuple[GuiProgress | None, GuiDone | None]] = {}
        self._long: list[Job] = []
        self._by_target: dict[Hashable, int] = {}
        self._busy: set[int] = set()
        self._progress_from_worker.connect(self._on_worker_progress)
        self._done_from_worker.connect(self._on_worker_done)

    # -- submitting -----------------------------------------------------
    def preview(
        self,
        target: Hashable,
        fn: JobFn,
        label: str = "",
        on_progress: GuiProgress | None = None,
        on_done: GuiDone | None = None,
        scale: float = 1.0,
        background: bool = False,
    ) -> Job:
        """A job on the interactive lane; a newer one for `target` supersedes it.
        `background` work waits while other interactive jobs are queued."""
        job = self.runner.preview(
            target,
            fn,
            label,
            self._emit_progress,
            self._emit_done,
            scale=scale,
            background=background,
        )
        # The older job for this target is superseded: its queued reports and
        # result must never reach the GUI (the engine does not call its on_done).
        older = self._by_target.get(target)
        if older is not None:
            self._handlers.pop(older, None)
        self._by_target[target] = job.id
        self._handlers[job.id] = (on_progress, on_done)
        return job

    def submit(
        self,
        fn: JobFn,
        label: str = "",
        on_progress: GuiProgress | None = None,
        on_done: GuiDone | None = None,
        quiet: bool = False,
        busy: bool = False,
        lane: str = "long",
    ) -> Job:
        """A job on the long lane (full-resolution effects, optimisations), or
        with `lane="files"` on the lane of file writes, which never waits for them.

        A `quiet` job (autosave) is not listed in `long_jobs`, so it shows no
        progress bar and Cancel leaves it alone. A `busy` job reports no
        fractions (a file write), so its progress is shown as activity.
        """
        job = self.runner.submit(fn, label, self._emit_progress, self._emit_done, lane)
        self._handlers[job.id] = (on_progress, on_done)
        if busy:
            self._busy.add(job.id)
        if not quiet:
            self._long.append(job)
            self.long_jobs_changed.emit()
        return job

    def cancel(self, job: Job) -> None:
        self.runner.cancel(job)

    def cancel_long_jobs(self) -> None:
        for job in list(self._long):
            self.runner.cancel(job)

    def is_busy(self, job: Job) -> bool:
        """True for a long job submitted as `busy` (no progress fractions)."""
        return job.id in self._busy

    def is_pending(self, job: Job) -> bool:
        """True until the job's end has been delivered on the GUI thread (or dropped)."""
        return job.id in self._handlers

    @property
    def long_jobs(self) -> list[Job]:
        """Long jobs submitted through the bridge that have not been delivered as finished."""
        return list(self._long)

    def shutdown(self) -> None:
        self.runner.shutdown()
        self._handlers.clear()
        self._long.clear()
        self._busy.clear()

    # -- worker threads -> GUI thread ------------------------------------
    def _emit_progress(self, job: Job, fraction: float, preview: Any) -> None:
        self._progress_from_worker.emit(job, fraction, preview)

    def _emit_done(self, job: Job) -> None:
        self._done_from_worker.emit(job)

    def _on_worker_progress(self, job: Job, fraction: float, preview: Any) -> None:
        handlers = self._handlers.get(job.id)
        if handlers is None or job.state is JobState.SUPERSEDED:
            return  # superseded: its late reports are dropped
        self.job_progress.emit(job, fraction, preview)
        if handlers[0] is not None:
            handlers[0](job, fraction, preview)

    def _on_worker_done(self, job: Job) -> None:
        handlers = self._handlers.pop(job.id, None)
        self._busy.discard(job.id)
        if job.target is not None and self._by_target.get(job.target) == job.id:
            del self._by_target[job.target]
        if job in self._long:
            self._long.remove(job)
            self.long_jobs_changed.emit()
        if handlers is None or job.state is JobState.SUPERSEDED:
            return
        self.job_finished.emit(job)
        if handlers[1] is not None:
            handlers[1](job)
