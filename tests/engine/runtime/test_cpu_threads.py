"""Jobs run torch on one thread while other programs keep the CPU busy."""

from __future__ import annotations

import time

import torch

from warpaint.engine.runtime import cpu_threads
from warpaint.engine.runtime.cpu_threads import threads_for
from warpaint.engine.runtime.jobs import JobRunner


def test_one_thread_only_when_other_programs_occupy_half_the_cores():
    assert threads_for(load=3.0, own=0.0, cores=2) == 1, "two other jobs on two cores"
    assert threads_for(load=1.0, own=0.0, cores=2) == 1, "one core taken by another program"
    assert threads_for(load=2.2, own=2.0, cores=2) is None, "the load is our own work"
    assert threads_for(load=0.4, own=0.0, cores=2) is None
    assert threads_for(load=3.0, own=0.0, cores=16) is None, "plenty of idle cores"
    assert threads_for(load=9.0, own=0.5, cores=16) == 1
    assert threads_for(load=5.0, own=0.0, cores=1) is None, "nothing to reduce"


def test_a_job_on_a_busy_machine_runs_on_one_thread_and_the_lane_gets_its_count_back(
    monkeypatch,
):
    runner = JobRunner("cpu")
    seen = []
    try:
        for busy in (True, False):
            monkeypatch.setattr(cpu_threads, "job_threads", lambda busy=busy: 1 if busy else None)
            job = runner.preview("t", lambda ctx: seen.append(torch.get_num_threads()))
            job.wait()
            job = runner.submit(lambda ctx: seen.append(torch.get_num_threads()))
            job.wait()
    finally:
        runner.shutdown()
    default = torch.get_num_threads()
    assert seen == [1, 1, default, default]


def test_own_cpu_use_follows_what_this_process_burns():
    cpu_threads.own_cpu_use()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert cpu_threads.own_cpu_use() > 0.0
