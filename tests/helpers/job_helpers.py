"""Run one job function on a fresh runner, as the GUI and CLI do, and return its result."""

from __future__ import annotations

from typing import Any

from warpaint.engine.runtime.jobs import JobFn, JobRunner


def run_job(fn: JobFn, label: str = "job") -> Any:
    runner = JobRunner("cpu")
    try:
        job = runner.submit(fn, label)
        job.wait()
        assert job.error is None, job.error_message
        return job.result
    finally:
        runner.shutdown()
