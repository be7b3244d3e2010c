"""How many CPU threads torch should use for the next job, given how busy the machine is.

torch parallelises each operation with OpenMP, whose threads spin at every
barrier waiting for each other. On an idle machine that is fastest. When
other processes already keep the cores busy, a spinning thread burns the
time slice its partner needs, and every operation crawls: measured on the
2-core development machine with two other jobs running, a 72 px fast-style
thumbnail took 0.31-1.4 s with torch's 2 threads and 16 ms with one, and a
512 px frame 2.6 s (0.18 s idle). So each job runs with one thread while the
machine is busy with other work and with torch's default otherwise.

"Busy with other work": the one-minute load average minus this process's
own recent CPU use is at least half the cores (at least one core), i.e.
other programs keep the CPU occupied. The setting is per thread (OpenMP's
thread count is a per-thread setting), so the lanes decide independently.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Our own CPU use, smoothed over about a minute like the load average.
_WINDOW_S = 60.0
_lock = threading.Lock()
_last: tuple[float, float] | None = None  # (wall, process CPU seconds)
_own = 0.0


def own_cpu_use() -> float:
    """This process's CPU use in cores, exponentially smoothed over ~60 s."""
    global _last, _own
    now, cpu = time.monotonic(), time.process_time()
    with _lock:
        if _last is not None:
            dt = now - _last[0]
            if dt > 0.05:
                rate = max(0.0, (cpu - _last[1]) / dt)
                keep = math.exp(-dt / _WINDOW_S)
                _own = keep * _own + (1 - keep) * rate
                _last = (now, cpu)
        else:
            _last = (now, cpu)
        return _own


def threads_for(load: float, own: float, cores: int) -> int | None:
    """1 when other programs keep at least half the cores (and at least one)
    busy, else None (torch's default)."""
    if cores <= 1:
        return None
    others = load - own
    return 1 if others >= max(1.0, cores / 2) else None


def job_threads() -> int | None:
    """The thread count for a job starting now (None: torch's default)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return None
    return threads_for(load, own_cpu_use(), os.cpu_count() or 1)


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
    with torch_threads(wanted):
        yield wanted
