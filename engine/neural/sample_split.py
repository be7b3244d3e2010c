"""A training step's forward and backward cut into its samples, on a task pool.

torch parallelises a training step inside each operation, and its threads wait
for each other at every operation's end, in the backward pass too. Beside one
busy program on a 2-core machine the thread that shares a core holds the other
up, so `threads_for_job` gives such a job one thread. A batch's samples are
independent tasks instead: when the loss is a mean over the samples (every
term of it), each sample's loss and gradient can be computed on its own, on
one single-threaded worker of an `engine.core.task_pool.TaskPool`, and the
gradients summed. The worker with a core to itself takes more samples, and
nothing waits at an operation's end. On a quiet machine it is faster too:
each sample's small operations run on one thread without a barrier, and the
step's single-threaded parts (Python, the autograd engine) overlap other
samples' work. A fast-style preset's generator step (batch 8 at 192 px) took
0.55 s sample by sample against 0.77 s on torch's threads quiet, and
0.77-0.89 against 1.33 s beside one busy loop (`warpaint bench
contention-pool`, docs/benchmarks.md).

The gradient is the sum of the samples' gradients in sample order, whatever
worker computed each, so a step's result never depends on the machine's
load; it equals the whole batch's backward pass to float rounding.

`backward_by_sample(loss_of, batch, leaves)` is the one entry: it runs the
split on the CPU, under grad mode, when the batch makes more than one task
(`samples_per_task`), on `training_workers()` workers, and the whole batch's
`backward()` otherwise.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from warpaint.engine.core.task_pool import TaskPool
from warpaint.engine.runtime.cpu_threads import default_threads, pool_width

# A loss of some of the batch's samples: (mean loss over them, named parts as
# tensors or floats, means over them too).
LossOf = Callable[[slice], tuple[torch.Tensor, Mapping[str, Any]]]

# The fewest pixels per sample map a task takes (`samples_per_task`).
MIN_TASK_PIXELS = 2 * 128 * 128


def training_workers() -> int:
    """Workers for a training step on the calling thread: one per thread torch
    would have on a quiet machine (`cpu_threads.default_threads`), whatever
    the load. Unlike row bands, more workers than that were no faster beside
    busy programs: each holds a sample's activations, and on the 2-core
    development machine a preset's generator step took 0.88 / 0.89 / 0.91 /
    1.01 s on 2 / 3 / 4 / 8 workers beside one busy loop, 0.59 / 0.63 / 0.69
    / 0.84 s quiet (docs/benchmarks.md, "Training sample by sample")."""
    return default_threads()


def samples_per_task(pixels: int) -> int:
    """Samples of `pixels` pixels each that one task takes: enough for
    `MIN_TASK_PIXELS`, since a task's operations on small maps cost more in
    dispatch than they save: a Gatys evaluation of 8 crops at 128 px took
    0.92-1.25x the whole batch's time one crop a task (three runs), 0.82x two
    a task (one run); at 256 px one a task, 0.63x."""
    return max(1, -(-MIN_TASK_PIXELS // max(1, pixels)))


def backward_by_sample(
    loss_of: LossOf,
    batch: int,
    leaves: Sequence[torch.Tensor],
    workers: int | None = None,
    per_task: int = 1,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The loss of a batch of `batch` samples and its gradient, added to each
    of `leaves`' `.grad` as `loss.backward()` would.

    `loss_of(rows)` computes the mean loss over the samples `rows` (a slice)
    and its parts (means too), with a graph to `leaves` (tensors that require
    grad: a network's parameters, an image being optimised). The whole
    batch's loss must be the mean of its samples' losses. On the CPU, under
    grad mode, with more than one task of `per_task` samples and more than
    one worker (`workers`, default `training_workers()`), each task's loss
    and gradients are computed on a `TaskPool` and summed in sample order;
    otherwise `loss_of` gets the whole batch and its loss's `backward()` runs
    as usual. Returns the batch's loss, detached (its gradient is already in
    `.grad`), and its parts."""
    count = training_workers() if workers is None else workers
    starts = range(0, batch, max(1, per_task))
    if (
        len(starts) <= 1
        or count <= 1
        or not torch.is_grad_enabled()
        or any(leaf.device.type != "cpu" for leaf in leaves)
    ):
        loss, parts = loss_of(slice(0, batch))
        loss.backward()  # type: ignore[no-untyped-call]
        return loss.detach(), dict(parts)

    rows = [slice(k, min(batch, k + per_task)) for k in starts]
    # Each task's mean loss weighs as its share of the batch's samples.
    shares = [(r.stop - r.start) / batch for r in rows]
    # Per task: its loss, its parts and its gradients (weighted by its share).
    done: dict[int, tuple[torch.Tensor, Mapping[str, Any], Sequence[torch.Tensor | None]]] = {}

    def task(k: int) -> None:
        # The task runs on this one thread: no nested bands or pools.
        with pool_width(1):
            loss, parts = loss_of(rows[k])
            grads = torch.autograd.grad(loss * shares[k], leaves, allow_unused=True)
        done[k] = (loss.detach(), parts, grads)

    with TaskPool(min(count, len(rows))) as pool:
        pool.run([functools.partial(task, k) for k in range(len(rows))])
    results = [done[k] for k in range(len(rows))]  # sample order, whoever finished first

    for i, leaf in enumerate(leaves):
        summed = [g for _, _, grads in results if (g := grads[i]) is not None]
        if summed:
            total = functools.reduce(operator.add, summed)
            leaf.grad = total if leaf.grad is None else leaf.grad + total
    loss = _weighted([r[0] for r in results], shares)
    parts = {name: _weighted([r[1][name] for r in results], shares) for name in results[0][1]}
    return loss, parts


def _weighted(values: list[Any], shares: list[float]) -> Any:
    """The batch's mean from its tasks' means and their shares of the batch."""
    if all(isinstance(v, torch.Tensor) for v in values):
        return sum((v.detach() * w for v, w in zip(values, shares, strict=True)), torch.zeros(()))
    return sum(float(v) * w for v, w in zip(values, shares, strict=True))
