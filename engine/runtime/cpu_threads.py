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
- **Threads for the cores that are free.** `job_threads` measures the CPU
  time other processes used over the last second (`/proc/stat`'s busy time
  minus this process's own CPU time, sampled by a small daemon thread) and
  gives a job as many threads as cores are left free, at least one; torch's
  default when nothing else runs. Measured live, not from the one-minute load
  average, which lags by a minute and counts this process's own work.

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
    """Threads for a job when other processes use `others` cores of `cores`:
    None (torch's default) when they use next to none, else one per core they
    leave free, at least one."""
    if cores <= 1 or others < IDLE_OTHERS:
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
    """Samples the machine's busy time and this process's CPU time every
    `PERIOD_S` on a daemon thread (reading one line of /proc/stat) and keeps
    the last few seconds."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path
        self.cpus = os.cpu_count() or 1
        self._samples: deque[Sample] = deque(maxlen=int(3 * WINDOW_S / PERIOD_S))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0  # a forked child has no sampling thread: it starts its own

    def sample(self) -> Sample | None:
        now, own = time.monotonic(), time.process_time()
        stat = read_proc_stat(self.path)
        return None if stat is None else Sample(now, stat[0], stat[1], own)

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
        """Cores other processes used over about the last `WINDOW_S` (None
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
        return others_between(first, last, self.cpus)


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


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the calling thread's torch operations on `count` threads, restoring
    its previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def threads_for_job() -> Iterator[int | None]:
    """Run the calling thread's torch operations with `job_threads()` threads.
    Does nothing before torch is imported (a job that imports it runs with its
    default)."""
    wanted = job_threads() if "torch" in sys.modules else None
    if wanted is None:
        yield None
        return
    import torch

    if wanted >= torch.get_num_threads():
        yield None
        return
    with torch_threads(wanted):
        yield wanted
