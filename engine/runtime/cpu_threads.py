"""How many CPU threads torch should use, given what the rest of the machine is doing.

torch parallelises each operation with OpenMP (libgomp in the Linux wheels),
whose threads wait for each other at the end of every parallel region. On an
idle machine a waiting thread spins and the next region starts at once. When
another program keeps a core busy, a spinning thread burns the time slice
that the thread it waits for needs, and every operation crawls: on the 2-core
development machine a 4096^2 spline took 0.64-0.83 s quiet and 1.4-1.75 s
with one busy-loop process beside it, where OpenCV's blender barely noticed
(`warpaint bench contention` measures all of this).

Two remedies, both measured by that benchmark:

- **Bounded spinning.** `configure_openmp` (called when the `warpaint`
  package is imported, before torch loads) gives libgomp a spin count
  (`GOMP_SPINCOUNT`) that keeps an idle machine's speed but lets a waiting
  thread sleep after a few tens of microseconds instead of 300,000
  iterations. A user's own `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` wins.
- **Threads for the cores that are free.** `job_threads` measures how many
  cores other processes want over the last second, sampled by a small daemon
  thread: the CPU time they used (`/proc/stat`'s busy time minus this
  process's own) and, because that cannot exceed what this process leaves
  them, their runnable threads too (`/proc/loadavg`'s running count minus this
  process's running threads). A job gets one thread per core the others leave
  free, at least one; torch's default when nothing else runs, and again when
  the others want every core: then the scheduler shares each core alike
  between all runnable threads, every one of a job's threads gets the same
  share, and more threads are a larger share of the machine. Measured live,
  not from the one-minute load average, which lags by a minute and counts
  this process's own work.
- **Task pools while others use the CPU.** torch's static split makes each
  operation wait for the thread that shares its core, so two threads beside
  one busy program finish no sooner than one. Work that comes as many small
  independent tasks (a spline's row bands, `engine.core.task_pool`) runs on
  single-threaded workers, as many as torch has threads by default and one
  more for each core the others want (`job_pool_width`); a worker with a
  core to itself takes more of the tasks. The feed-forward style networks
  run their layers that way too, in row bands (`engine.neural.banded`).
  `threads_for_job` sets that width (`pool_workers`) whenever other programs
  use the CPU; on a quiet machine such work runs on torch's own threads, as
  fast as before.
- **Training sample by sample.** A training step whose loss is a mean over
  its samples runs each sample's forward and backward pass as a task
  (`engine.neural.sample_split`), on one worker per thread the job would
  have quietly (`default_threads`), busy machine or not.

Both are chosen again every `REVISIT_S` while a job runs (`revisit`, called
by the job contexts' `check()`): a half-hour training that began in a busy
moment (a command-line job has a tenth of a second of history at its start)
once kept one thread to the end, 1.2 s a step where two threads take 0.8.

The thread count is a per-thread setting (OpenMP's `nthreads-var` is per
thread), so the job lanes decide independently.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass

# libgomp's default is 300,000 iterations (about a millisecond of spinning);
# this many keeps an idle machine's speed within noise on the benchmarks of
# `warpaint bench contention` and stops burning a busy core's time after
# roughly 10-30 microseconds.
SPIN_COUNT = 10_000

# How often the monitor samples, and over how long it judges the machine.
PERIOD_S = 0.1
WINDOW_S = 1.0
# Another program's use below this many cores is noise (a shell, a clock tick).
IDLE_OTHERS = 0.3
# A running job chooses its threads again this often (`revisit`). The first
# choice of a command-line job rests on a tenth of a second of history.
REVISIT_S = 5.0


def configure_openmp(environ: MutableMapping[str, str] | None = None) -> None:
    """Set libgomp's spin count in `environ` (the process's by default) unless
    the user chose a wait policy or a spin count. Only effective before torch
    (and with it libgomp) is loaded."""
    env = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" in env or "GOMP_SPINCOUNT" in env:
        return
    env["GOMP_SPINCOUNT"] = str(SPIN_COUNT)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_for(others: float, cores: int) -> int | None:
    """Threads for a job when other processes want `others` cores of `cores`:
    None (torch's default) when they want next to none or every core, else one
    per core they leave free, at least one.

    Why all threads when every core is wanted: with one core left free, a
    second thread would share a core with a busy program and hold its partner
    up at every barrier; with none free, each of the job's threads gets the
    same slice of its core, so they keep pace with each other and n threads
    get n slices where one thread gets one."""
    if cores <= 1 or others < IDLE_OTHERS or others >= cores - IDLE_OTHERS:
        return None
    taken = math.ceil(others - IDLE_OTHERS)
    return max(1, min(cores, cores - taken))


# -- measuring other processes' CPU use --------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float  # time.monotonic()
    busy: int  # machine-wide busy jiffies (all CPUs)
    total: int  # machine-wide jiffies (all CPUs)
    own: float  # this process's CPU seconds (all its threads)
    # Other processes' runnable threads at that moment (None: unknown).
    others_running: int | None = None


def read_proc_stat(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs from the aggregate `cpu` line, or
    None where there is no such file. Busy excludes idle and iowait."""
    try:
        with open(path, "rb") as file:
            line = file.readline().split()
    except OSError:
        return None
    if not line or line[0] != b"cpu" or len(line) < 5:
        return None
    values = [int(v) for v in line[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return total - idle, total


def read_running(path: str = "/proc/loadavg") -> int | None:
    """The machine's runnable threads right now (`/proc/loadavg`'s fourth field,
    "running/total"), or None where there is no such file."""
    try:
        with open(path, "rb") as file:
            fields = file.read().split()
        return int(fields[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def own_running(task_dir: str = "/proc/self/task") -> int | None:
    """This process's threads that are running or runnable right now (state R
    in each thread's `stat`), or None where the folder cannot be read."""
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return None
    count = 0
    for task in tasks:
        try:
            with open(f"{task_dir}/{task}/stat", "rb") as file:
                text = file.read()
        except OSError:  # the thread ended meanwhile
            continue
        # The state follows the command name, which is in parentheses and may hold any byte.
        end = text.rfind(b")")
        if end >= 0 and text[end + 2 : end + 3] == b"R":
            count += 1
    return count


def others_running_between(samples: list[Sample]) -> float | None:
    """The mean of other processes' runnable threads over `samples` (None: unknown)."""
    counts = [s.others_running for s in samples if s.others_running is not None]
    return sum(counts) / len(counts) if counts else None


def others_between(first: Sample, last: Sample, cpus: int) -> float | None:
    """Cores other processes kept busy between two samples (never below 0)."""
    total = last.total - first.total
    wall = last.wall - first.wall
    if total <= 0 or wall <= 0:
        return None
    busy_cores = (last.busy - first.busy) / total * cpus
    own_cores = (last.own - first.own) / wall
    return max(0.0, busy_cores - own_cores)


class CpuMonitor:
    """Samples the machine's busy time, this process's CPU time and the runnable
    threads (ours and everyone's) every `PERIOD_S` on a daemon thread (one line
    of /proc/stat, /proc/loadavg, a line per own thread) and keeps the last few
    seconds."""

    def __init__(self, path: str = "/proc/stat", loadavg_path: str = "/proc/loadavg") -> None:
        self.path = path
        self.loadavg_path = loadavg_path
        self.cpus = os.cpu_count() or 1
        self._samples: deque[Sample] = deque(maxlen=int(3 * WINDOW_S / PERIOD_S))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0  # a forked child has no sampling thread: it starts its own

    def sample(self) -> Sample | None:
        now, own = time.monotonic(), time.process_time()
        stat = read_proc_stat(self.path)
        if stat is None:
            return None
        running, ours = read_running(self.loadavg_path), own_running()
        others = None if running is None or ours is None else max(0, running - ours)
        return Sample(now, stat[0], stat[1], own, others)

    def start(self) -> bool:
        """Start sampling (once); False where the machine cannot be measured."""
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return True
            first = self.sample()
            if first is None:
                return False
            self._samples.clear()
            self._samples.append(first)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="cpu-monitor", daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        while True:
            time.sleep(PERIOD_S)
            sample = self.sample()
            if sample is not None:
                with self._lock:
                    self._samples.append(sample)

    def others(self) -> float | None:
        """Cores other processes wanted over about the last `WINDOW_S`: the
        larger of the CPU time they got and their mean runnable threads (None
        where unknown). Right after the monitor starts, waits for one period."""
        if not self.start():
            return None
        with self._lock:
            samples = list(self._samples)
        if samples[-1].wall - samples[0].wall < PERIOD_S / 2:
            time.sleep(PERIOD_S)
            latest = self.sample()
            if latest is None:
                return None
            samples.append(latest)
        last = samples[-1]
        first = next(s for s in samples if s.wall >= last.wall - WINDOW_S)
        if first is last:
            first = samples[-2]
        used = others_between(first, last, self.cpus)
        if used is None:
            return None
        window = [s for s in samples if s.wall > first.wall]
        wanted = others_running_between(window)
        return used if wanted is None else max(used, wanted)


_monitor = CpuMonitor()


def start_monitor() -> None:
    """Begin measuring now, so the first job already has a second of history."""
    _monitor.start()


def other_processes_cores() -> float | None:
    """Cores other processes kept busy over the last second (None: unknown).
    Where /proc/stat is missing, the one-minute load average minus this
    process's use stands in."""
    found = _monitor.others()
    if found is not None:
        return found
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return None
    return max(0.0, load - _monitor_fallback_own())


# This process's CPU use for the load-average fallback: (wall, cpu) at the last call.
_fallback_last: list[float] = []


def _monitor_fallback_own() -> float:
    now, cpu = time.monotonic(), time.process_time()
    if not _fallback_last:
        _fallback_last[:] = [now, cpu]
        return 0.0
    wall = now - _fallback_last[0]
    used = (cpu - _fallback_last[1]) / wall if wall > 0 else 0.0
    _fallback_last[:] = [now, cpu]
    return used


def job_threads() -> int | None:
    """The thread count for a job starting now (None: torch's default)."""
    others = other_processes_cores()
    return None if others is None else threads_for(others, usable_cores())


_width = threading.local()
# The running job's choice (`threads_for_job`) and `torch_threads` blocks, per thread.
_job = threading.local()


def pool_workers(default: int | None = None) -> int:
    """Workers for a CPU path that runs its work as independent tasks on a
    `TaskPool` (1: run it on torch's own threads instead): the width set by
    `pool_width` on the calling thread, else `default`, else the calling
    thread's torch thread count."""
    count = getattr(_width, "count", None)
    if count is not None:
        return int(count)
    if default is not None:
        return default
    import torch

    return int(torch.get_num_threads())


def default_threads() -> int:
    """The calling thread's torch thread count before its job chose one
    (`threads_for_job`), else its count now: the threads the job would have
    on a quiet machine."""
    state = getattr(_job, "state", None)
    if state is not None:
        return int(state.default)
    import torch

    return int(torch.get_num_threads())


@contextmanager
def pool_width(count: int) -> Iterator[None]:
    """`pool_workers()` is `count` on the calling thread inside the block."""
    before = getattr(_width, "count", None)
    _width.count = max(1, count)
    try:
        yield
    finally:
        _width.count = before


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the calling thread's torch operations on `count` threads, restoring
    its previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    # `revisit` leaves a count set here alone until the block ends.
    _job.pinned = getattr(_job, "pinned", 0) + 1
    try:
        if before == count:
            yield
            return
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(before)
    finally:
        _job.pinned -= 1


def job_pool_width(default: int) -> int:
    """Task-pool workers for a job starting now: while other programs use the
    CPU, `default` (torch's thread count) and one more for each core they
    want, at most twice `default`; 1 on a quiet machine, where torch's own
    threads are as fast and measured.

    Why more workers than cores: the scheduler shares a core alike between
    runnable threads, so beside one busy program two workers get 4/3 of two
    cores and three get 3/2; a pool's workers balance their tasks, so the
    extra share is work done (`warpaint bench contention-pool`,
    docs/benchmarks.md)."""
    others = other_processes_cores()
    if others is None or others < IDLE_OTHERS:
        return 1
    wanted = math.ceil(others - IDLE_OTHERS)
    return default + max(0, min(default, wanted))


class _JobThreads:
    """A running job's choice of torch threads and task-pool width on its own
    thread, made when it starts and again by `revisit`."""

    def __init__(self, default: int) -> None:
        self.default = default  # torch's count on this thread before the job
        self.outer_pool = getattr(_width, "count", None)
        self.at = 0.0

    def choose(self) -> int | None:
        import torch

        wanted = job_threads()
        count = wanted if wanted is not None and wanted < self.default else self.default
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        _width.count = max(1, job_pool_width(self.default))
        self.at = time.monotonic()
        return count if count < self.default else None

    def restore(self) -> None:
        import torch

        if torch.get_num_threads() != self.default:
            torch.set_num_threads(self.default)
        _width.count = self.outer_pool


@contextmanager
def threads_for_job() -> Iterator[int | None]:
    """Run the calling thread's torch operations with `job_threads()` threads,
    and give the job's task pools (`pool_workers`) `job_pool_width` workers;
    `revisit` chooses both again while the job runs. Yields the thread count
    when it is below torch's default (None: the default). Does nothing before
    torch is imported (a job that imports it runs with its default)."""
    if "torch" not in sys.modules:
        yield None
        return
    import torch

    state = _JobThreads(torch.get_num_threads())
    outer = getattr(_job, "state", None)
    _job.state = state
    try:
        yield state.choose()
    finally:
        state.restore()
        _job.state = outer


def revisit() -> None:
    """Choose the calling thread's job threads and pool width again when
    `REVISIT_S` has passed since the last choice (a clock read otherwise).

    Job contexts call it from `check()`, on the job's own thread: a long job
    that started while something else was busy (a build, the previous
    command's last second) would otherwise keep one thread until it ends.
    Does nothing outside `threads_for_job` (a task pool's worker, say) and
    inside a `torch_threads` block, whose count stands until it ends."""
    state = getattr(_job, "state", None)
    if (
        state is not None
        and not getattr(_job, "pinned", 0)
        and time.monotonic() - state.at >= REVISIT_S
    ):
        state.choose()
