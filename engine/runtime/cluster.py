"""A batch's files run on the workers of a Dask cluster (`warpaint batch
--cluster ADDRESS`); docs/cluster.md says how to start one.

Only where the per-file work runs changes: each worker runs `batch.work` (open,
recipe, write a staged file beside the output) and this process, the client,
commits every staged result with its journal line (`batch.commit`), as the
local batch does. Inputs, the recipe's files and the output folder are read
and written by path, so every worker must see them under the same paths (a
shared filesystem); that is checked on the workers before anything runs.

- The recipe and the output settings reach each worker once, in a worker
  plugin (`BatchPlugin`); each file runs with the worker's cores shared out
  among its threads as torch threads (set in the thread that runs it: the
  OpenMP setting is per thread, and Dask's nanny starts workers with
  OMP_NUM_THREADS=1, which would leave a worker one core). The models a
  recipe loads stay in the worker process's model store, so each is loaded
  once per worker and kept for the batch. The plugin also gives glibc back
  its adaptive memory thresholds, which the nanny's MALLOC_TRIM_THRESHOLD_
  turns off (`_restore_malloc`).
- At most `in_flight` files are submitted at a time (two per worker thread,
  counted again as workers come and go), so a batch of 100k files holds a few
  futures, not 100k.
- A worker that dies loses only what it had in hand: the scheduler runs those
  files again on the others (up to its `allowed-failures`, 3 by default; a
  file that kills a worker every time then fails on its own line). The
  summary names the files run again, read from the scheduler's count of lost
  workers per task.
- With `--device cuda` the tasks ask for a "GPU" resource, so only workers
  started with `--resources GPU=1` take them; each worker resolves the device
  itself.
- Ctrl+C sets a cluster-wide event that the workers check at most every
  `CANCEL_POLL_S` at their cancellation points; what they finish in the
  grace time is committed, the rest is cancelled.

This module imports Dask at its top: `batch` imports it only for `--cluster`,
so the core install never needs the `cluster` extra.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from warpaint.engine.runtime.batch import (
    CANCEL_GRACE_S,
    Journal,
    Outcome,
    Plan,
    Progress,
    Summary,
    Task,
    _finish,
    work,
    worker_threads,
)
from warpaint.engine.runtime.errors import BadInputError, JobCancelled
from warpaint.engine.runtime.recipes import Recipe

LOCAL = "local"
# Files in flight per worker thread: one running, one queued behind it.
PER_THREAD = 2
# Finished futures are held until the scheduler is asked, in one call for this
# many, whether a lost worker made them run again.
RETRY_READ_EVERY = 64
# Seconds between a worker's looks at the cancel event (a scheduler round trip).
CANCEL_POLL_S = 0.5
CONNECT_TIMEOUT_S = 30.0
# Per batch on a worker: the plugin's settings, found by the batch's id.
_batches: dict[str, BatchPlugin] = {}


class BatchPlugin(WorkerPlugin):
    """What every worker of one batch needs, sent once per worker (also to
    workers that join later): the recipe, the device preference, the output
    quality and, for local workers, the torch threads (else the worker's
    cores shared out among its threads)."""

    def __init__(
        self, batch_id: str, recipe: Recipe, device: str, quality: int, threads: int | None
    ) -> None:
        self.batch_id = batch_id
        self.recipe = recipe
        self.device = device
        self.quality = quality
        self.threads = threads
        self.worker_nthreads = 1
        self._cancel: Any = None
        self._looked = 0.0
        self._cancelled = False
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"], state["_cancel"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock(), _cancel=None)

    def setup(self, worker: Any) -> None:
        _restore_malloc()
        self.worker_nthreads = int(worker.state.nthreads)
        _batches[self.batch_id] = self

    def teardown(self, worker: Any) -> None:
        _batches.pop(self.batch_id, None)

    def check(self) -> None:
        """The cancellation check of this batch's files on a worker."""
        with self._lock:
            now = time.monotonic()
            if not self._cancelled and now - self._looked >= CANCEL_POLL_S:
                self._looked = now
                if self._cancel is None:
                    self._cancel = distributed.Event(_cancel_name(self.batch_id))
                self._cancelled = self._cancel.is_set()
        if self._cancelled:
            raise JobCancelled("batch")


# glibc's mallopt parameters.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def _restore_malloc() -> None:
    """Undo the MALLOC_TRIM_THRESHOLD_ that Dask's nanny starts workers with
    (to return memory to the system sooner): a fixed trim threshold turns off
    glibc's adaptive mmap threshold, so every tensor over 128 KiB is mapped and
    unmapped again, page faults included. Fast style on 512 px photos took 1.1
    s a file in a worker so started, 0.6 s here and in a worker without it.
    These are glibc's own largest adaptive values."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)


def _cancel_name(batch_id: str) -> str:
    return f"warpaint-batch-{batch_id}-cancel"


def _run_task(batch_id: str, task: Task) -> Outcome:
    """One file on a worker: `batch.work` with this batch's settings."""
    import torch

    from warpaint.engine.runtime.device import choose_device

    plugin = _batches[batch_id]
    torch.set_num_threads(plugin.threads or worker_threads(plugin.worker_nthreads))
    try:
        device = choose_device(plugin.device)
    except BadInputError as err:
        return Outcome(task, failure=f"{task.source}: {err}")
    return work(task, plugin.recipe, device, plugin.quality, plugin.check)


def _missing_paths(paths: list[str]) -> list[str]:
    """On a worker: which of `paths` it does not see."""
    return [path for path in paths if not os.path.exists(path)]


def _lost_worker_counts(keys: list[str], dask_scheduler: Any) -> dict[str, int]:
    """On the scheduler: how many times a worker was lost while running each
    of `keys` (the tasks it then ran again), for those where it happened."""
    counts = {}
    for key in keys:
        state = dask_scheduler.tasks.get(key)
        if state is not None and state.suspicious:
            counts[key] = int(state.suspicious)
    return counts


@contextlib.contextmanager
def connect(address: str, jobs: int = 1) -> Iterator[distributed.Client]:
    """A client of the scheduler at `address`, or of a cluster of `jobs`
    single-threaded worker processes on this machine for "local". Raises
    BadInputError when no scheduler answers or it has no worker."""
    if address == LOCAL:
        cluster = distributed.LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=40,
        )
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as err:
        raise BadInputError(f"--cluster {address}: no scheduler answers ({err})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise BadInputError(
                f"--cluster {address}: the scheduler has no worker "
                f"(none joined in {CONNECT_TIMEOUT_S:.0f} s)"
            ) from None
        yield client


def _check_paths(client: distributed.Client, plan: Plan, recipe_files: list[str]) -> None:
    """Refuse a cluster whose workers do not see the batch's folders, its
    first input and the recipe's files under the same paths."""
    folders = sorted({str(task.output.parent) for task in plan.tasks})
    paths = [*folders, str(plan.tasks[0].source), *recipe_files]
    for worker, missing in client.run(_missing_paths, paths).items():
        if missing:
            raise BadInputError(
                f"worker {worker} does not see {missing[0]}: a cluster's workers read inputs "
                "and write outputs under the same paths as this machine (a shared filesystem)"
            )


def run_on_cluster(
    recipe: Recipe,
    plan: Plan,
    journal: Journal,
    progress: Progress,
    device: str,
    quality: int,
    address: str,
    jobs: int,
    summary: Summary,
    one_line: Callable[[str], str],
) -> None:
    """`batch.run_batch` on a cluster: the plan's files run on the workers of
    the scheduler at `address` ("local": `jobs` worker processes here), this
    process commits and journals each result as it arrives. KeyboardInterrupt
    propagates once the workers were told to stop and the grace time's
    results are committed."""
    from warpaint.engine.runtime.batch import _named_files

    batch_id = secrets.token_hex(6)
    threads = worker_threads(jobs) if address == LOCAL else None
    plugin = BatchPlugin(batch_id, recipe, device, quality, threads)
    resources = {"GPU": 1} if device == "cuda" else None
    with connect(address, jobs) as client:
        _check_paths(client, plan, sorted(_named_files(recipe)))
        if resources is not None and not _gpu_workers(client):
            raise BadInputError(
                "--device cuda: no worker of the cluster has a GPU "
                "(start GPU workers with `dask worker ... --resources GPU=1`)"
            )
        client.register_plugin(plugin, name=f"warpaint-batch-{batch_id}")
        try:
            _dispatch(client, plan, batch_id, resources, journal, progress, summary, one_line)
        finally:
            with contextlib.suppress(Exception):
                client.unregister_worker_plugin(f"warpaint-batch-{batch_id}")


def _gpu_workers(client: distributed.Client) -> list[str]:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return [address for address, w in workers.items() if w.get("resources", {}).get("GPU")]


def _in_flight(client: distributed.Client) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return max(PER_THREAD, PER_THREAD * sum(int(w.get("nthreads", 1)) for w in workers))


def _dispatch(
    client: distributed.Client,
    plan: Plan,
    batch_id: str,
    resources: dict[str, int] | None,
    journal: Journal,
    progress: Progress,
    summary: Summary,
    one_line: Callable[[str], str],
) -> None:
    tasks = iter(plan.tasks)
    running: dict[str, tuple[distributed.Future, Task]] = {}
    # Finished futures, held (so the scheduler keeps their task states) until
    # their lost-worker counts are read.
    finished: list[tuple[distributed.Future, Task]] = []
    flow = distributed.as_completed(with_results=True, raise_errors=False)

    def top_up() -> None:
        limit = _in_flight(client)
        while len(running) < limit and (task := next(tasks, None)) is not None:
            key = f"warpaint-batch-{batch_id}-{task.index}"
            future = client.submit(
                _run_task, batch_id, task, key=key, pure=False, resources=resources
            )
            running[key] = (future, task)
            flow.add(future)

    def done(future: distributed.Future, result: Any) -> None:
        _, task = running.pop(str(future.key))
        if isinstance(result, Outcome):
            outcome = result
        else:
            # A task that errs here is one the scheduler gave up on (its
            # workers kept dying): `work` itself reports a file's errors.
            outcome = Outcome(task, failure=f"{task.source}: {type(result).__name__}: {result}")
        _finish(outcome, journal, progress, summary, one_line)
        finished.append((future, task))
        if len(finished) >= RETRY_READ_EVERY:
            read_retries()

    def read_retries() -> None:
        if not finished:
            return
        keys = [future.key for future, _ in finished]
        counts = client.run_on_scheduler(_lost_worker_counts, keys)
        for future, task in finished:
            if future.key in counts:
                summary.retried.append(str(task.source))
                progress.line(
                    f"warpaint: {one_line(f'{task.source}: run again, a worker was lost')}"
                )
        finished.clear()

    cancel = distributed.Event(_cancel_name(batch_id), client=client)
    try:
        top_up()
        for future, result in flow:
            done(future, result)
            top_up()
    except KeyboardInterrupt:
        cancel.set()
        # Those still running after the grace time are left to stop on their
        # own; every result in by then (also one not yet handed out by
        # `flow`) is committed.
        with contextlib.suppress(KeyboardInterrupt, TimeoutError):
            distributed.wait([future for future, _ in running.values()], timeout=CANCEL_GRACE_S)
        for future, _ in list(running.values()):
            if future.status == "finished":
                done(future, future.result())
        raise
    finally:
        with contextlib.suppress(Exception):
            read_retries()
        client.cancel([future for future, _ in running.values()])
        _remove_staged(plan)


def _remove_staged(plan: Plan) -> None:
    """Staged results no one committed (a lost worker's, a cancelled file's)."""
    from warpaint.engine.io.atomic import remove_stale_temp_files

    for folder in {task.output.parent for task in plan.tasks}:
        remove_stale_temp_files(Path(folder))
