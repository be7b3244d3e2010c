"""Jobs run torch on one thread while other programs keep the CPU busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from warpaint.engine.runtime import cpu_threads
from warpaint.engine.runtime.cpu_threads import threads_for
from warpaint.engine.runtime.jobs import JobRunner


def test_a_job_gets_one_thread_per_core_other_programs_leave_free():
    assert threads_for(others=0.1, cores=2) is None, "an idle machine: torch's default"
    assert threads_for(others=1.0, cores=2) == 1, "one core taken by another program"
    assert threads_for(others=0.6, cores=2) == 1, "a half-busy program still takes a core"
    assert threads_for(others=1.5, cores=2) == 1, "never fewer than one"
    assert threads_for(others=1.0, cores=16) == 15
    assert threads_for(others=3.9, cores=16) == 12
    assert threads_for(others=5.0, cores=1) is None, "nothing to reduce"


def test_when_other_programs_want_every_core_a_job_takes_all_of_them_for_a_fair_share():
    # Every core shared alike: each of our threads gets the same slice, so n threads get n.
    assert threads_for(others=2.0, cores=2) is None
    assert threads_for(others=1.8, cores=2) is None
    assert threads_for(others=3.0, cores=2) is None
    assert threads_for(others=16.0, cores=16) is None


def test_loadavg_running_count_and_our_own_running_threads_are_read(tmp_path):
    from warpaint.engine.runtime.cpu_threads import own_running, read_running

    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.52 0.91 0.98 3/412 20207\n")
    assert read_running(str(loadavg)) == 3
    assert read_running(str(tmp_path / "missing")) is None
    tasks = tmp_path / "task"
    # A thread named with a parenthesis and a space must not confuse the state field.
    for tid, line in {
        "10": "10 (python) R 1 10",
        "11": "11 (pool) x) S 1 10",
        "12": "12 (OMP worker) R 1 10",
    }.items():
        (tasks / tid).mkdir(parents=True)
        (tasks / tid / "stat").write_text(line + " 0 0 0\n")
    assert own_running(str(tasks)) == 2
    assert own_running(str(tmp_path / "none")) is None


def test_other_programs_wanting_more_than_they_get_counts_their_runnable_threads():
    from warpaint.engine.runtime.cpu_threads import Sample, others_running_between

    # On 2 busy cores the CPU time others got is capped by what we use; the
    # runnable threads say how many cores they want.
    window = [
        Sample(wall=10.0 + i / 10, busy=0, total=0, own=0.0, others_running=n)
        for i, n in enumerate([2, 2, 1, 2, 3])
    ]
    assert others_running_between(window) == pytest.approx(2.0)
    unknown = [Sample(wall=10.0, busy=0, total=0, own=0.0)]
    assert others_running_between(unknown) is None


def test_other_programs_cpu_use_is_the_machines_busy_time_minus_our_own():
    from warpaint.engine.runtime.cpu_threads import Sample, others_between

    # 2 CPUs, 1 s: 200 jiffies in all, 150 of them busy = 1.5 cores busy, 0.5 ours.
    first = Sample(wall=10.0, busy=1000, total=4000, own=3.0)
    last = Sample(wall=11.0, busy=1150, total=4200, own=3.5)
    assert others_between(first, last, cpus=2) == pytest.approx(1.0)
    # Our own threads alone keep the machine busy: nobody else.
    ours = Sample(wall=11.0, busy=1200, total=4200, own=5.0)
    assert others_between(first, ours, cpus=2) == 0.0
    assert others_between(first, first, cpus=2) is None


def test_proc_stat_busy_time_excludes_idle_and_iowait(tmp_path):
    from warpaint.engine.runtime.cpu_threads import read_proc_stat

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n")
    assert read_proc_stat(str(stat)) == (160, 1000)
    assert read_proc_stat(str(tmp_path / "missing")) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_a_busy_loop_in_another_process_is_measured_as_about_one_core():
    from warpaint.engine.runtime.cpu_threads import CpuMonitor

    monitor = CpuMonitor()
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        monitor.start()
        deadline = time.monotonic() + 10
        seen = 0.0
        while time.monotonic() < deadline:  # bounded polling, not a timing assertion
            time.sleep(0.3)
            seen = max(seen, monitor.others() or 0.0)
            if seen > 0.7:
                break
    finally:
        loop.kill()
        loop.wait()
    assert seen > 0.7


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux's /proc/loadavg")
def test_two_busy_loops_are_measured_as_wanting_about_two_cores_while_we_run_too():
    from warpaint.engine.runtime.cpu_threads import CpuMonitor

    monitor = CpuMonitor()
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        monitor.start()
        deadline = time.monotonic() + 10
        seen = 0.0
        while time.monotonic() < deadline:  # bounded polling, not a timing assertion
            busy_until = time.monotonic() + 0.3
            while time.monotonic() < busy_until:  # our own work competes for the cores
                pass
            seen = max(seen, monitor.others() or 0.0)
            if seen > 1.7:
                break
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert seen > 1.7


def test_openmp_spin_count_is_bounded_unless_the_user_chose_a_policy():
    from warpaint.engine.runtime.cpu_threads import SPIN_COUNT, configure_openmp

    env: dict[str, str] = {}
    configure_openmp(env)
    assert env == {"GOMP_SPINCOUNT": str(SPIN_COUNT)}
    mine = {"OMP_WAIT_POLICY": "ACTIVE"}
    configure_openmp(mine)
    assert mine == {"OMP_WAIT_POLICY": "ACTIVE"}
    theirs = {"GOMP_SPINCOUNT": "5"}
    configure_openmp(theirs)
    assert theirs == {"GOMP_SPINCOUNT": "5"}


def test_importing_warpaint_bounds_the_spin_count_of_a_fresh_process():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = "import os, warpaint; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    from warpaint.engine.runtime.cpu_threads import SPIN_COUNT

    assert out.stdout.strip() == str(SPIN_COUNT)


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


def test_task_pools_get_torchs_thread_count_or_the_width_set_for_them():
    assert cpu_threads.pool_workers() == torch.get_num_threads()
    with cpu_threads.pool_width(5):
        assert cpu_threads.pool_workers() == 5
        with cpu_threads.pool_width(1):
            assert cpu_threads.pool_workers() == 1
        assert cpu_threads.pool_workers() == 5
        assert cpu_threads.pool_workers(default=1) == 5
    assert cpu_threads.pool_workers() == torch.get_num_threads()
    # A path that pools only where a job chose a width passes its own default.
    assert cpu_threads.pool_workers(default=1) == 1


def test_a_job_on_a_busy_machine_gets_a_task_pool_a_worker_wider_per_core_others_want(
    monkeypatch,
):
    default = torch.get_num_threads()
    seen = []
    for others in (1.0, 2.0, 5.0, 0.0):
        monkeypatch.setattr(cpu_threads, "other_processes_cores", lambda others=others: others)
        monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
        with cpu_threads.threads_for_job():
            seen.append((torch.get_num_threads(), cpu_threads.pool_workers()))
    one_core_free = min(1, default)
    assert seen == [
        (one_core_free, default + 1),  # one thread for torch's own split, a wider pool
        (default, default + min(2, default)),
        (default, 2 * default),  # never more than twice torch's width
        (default, 1),  # a quiet machine: torch's threads, no pool
    ]


@pytest.fixture
def one_busy_core(monkeypatch):
    """A 2-core machine where other programs want one core: the list's one
    value is what the monitor reports, for a test to change as it goes."""
    others = [1.0]
    monkeypatch.setattr(cpu_threads, "other_processes_cores", lambda: others[0])
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
    return others


def test_a_running_job_chooses_its_threads_again_after_the_machine_quiets(
    monkeypatch, one_busy_core
):
    default = torch.get_num_threads()
    others = one_busy_core
    monkeypatch.setattr(cpu_threads, "REVISIT_S", 0.0)
    seen = []
    with cpu_threads.threads_for_job():
        seen.append((torch.get_num_threads(), cpu_threads.pool_workers()))
        others[0] = 0.0  # the other program ended
        cpu_threads.revisit()
        seen.append((torch.get_num_threads(), cpu_threads.pool_workers()))
        others[0] = 1.0
        with cpu_threads.torch_threads(default):  # an explicit count stands
            cpu_threads.revisit()
            seen.append((torch.get_num_threads(), cpu_threads.pool_workers()))
    seen.append((torch.get_num_threads(), cpu_threads.pool_workers()))
    assert seen == [(min(1, default), default + 1), (default, 1), (default, 1), (default, default)]


def test_revisit_waits_its_interval_and_does_nothing_outside_a_job(one_busy_core):
    default = torch.get_num_threads()
    others = one_busy_core
    cpu_threads.revisit()  # not in a job: torch's count untouched
    assert torch.get_num_threads() == default
    with cpu_threads.threads_for_job():
        others[0] = 0.0
        cpu_threads.revisit()  # chosen a moment ago: kept until REVISIT_S has passed
        assert torch.get_num_threads() == min(1, default)
    assert torch.get_num_threads() == default


def test_a_lane_job_gets_torchs_threads_back_at_its_next_check_once_the_machine_quiets(
    monkeypatch, one_busy_core
):
    default = torch.get_num_threads()
    others = one_busy_core
    monkeypatch.setattr(cpu_threads, "REVISIT_S", 0.0)
    runner = JobRunner("cpu")

    def job(ctx):
        counts = [torch.get_num_threads()]
        others[0] = 0.0
        ctx.check()
        counts.append(torch.get_num_threads())
        return counts

    try:
        done = runner.submit(job)
        done.wait()
    finally:
        runner.shutdown()
    assert done.result == [min(1, default), default]


def test_a_task_pool_keeps_its_callers_one_thread_when_the_job_chooses_again(
    monkeypatch, one_busy_core
):
    # The caller reports progress between its tasks; a job's periodic choice
    # of threads made there must wait until the pool ends.
    from warpaint.engine.core.task_pool import TaskPool

    default = torch.get_num_threads()
    others = one_busy_core
    monkeypatch.setattr(cpu_threads, "REVISIT_S", 0.0)
    seen = []

    def done(count: int) -> None:
        others[0] = 0.0  # the machine quiets: the job would take torch's threads again
        cpu_threads.revisit()
        seen.append(torch.get_num_threads())

    with cpu_threads.threads_for_job():
        with TaskPool(2) as pool:
            pool.run([lambda: None] * 4, done=done)
        cpu_threads.revisit()
        after = torch.get_num_threads()
    assert seen and set(seen) == {1}
    assert after == default
