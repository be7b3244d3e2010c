"""A training step's samples as tasks: the same loss and gradients as the whole batch."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from warpaint.engine.neural.sample_split import (
    backward_by_sample,
    samples_per_task,
    training_workers,
)
from warpaint.engine.neural.style_losses import content_loss
from warpaint.engine.runtime.cpu_threads import pool_width, torch_threads
from warpaint.engine.runtime.errors import JobCancelled


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.InstanceNorm2d(8, affine=True),
        nn.ReLU(),
        nn.Conv2d(8, 3, 3, padding=1),
    )


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 16, 16, generator=g), torch.rand(n, 3, 16, 16, generator=g)


def _loss_of(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    seen: list | None = None,
    meet: threading.Barrier | None = None,
):
    def loss_of(rows: slice):
        if seen is not None:
            seen.append((rows.start, rows.stop, threading.current_thread().name))
        if meet is not None and rows.start < meet.parties:
            meet.wait(timeout=30)  # the first tasks wait for each other: on different threads
        out = net(x[rows])
        mse = (out - y[rows]).square().mean()
        feature = content_loss(out, y[rows])
        return mse + feature, {"mse": mse.detach(), "feature": float(feature.detach())}

    return loss_of


def _whole(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
    net.zero_grad(set_to_none=True)
    loss, parts = _loss_of(net, x, y)(slice(0, len(x)))
    loss.backward()
    return loss.detach(), parts, [p.grad.clone() for p in net.parameters()]


def _split(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, workers: int, seen=None, per_task=1, meet=None
):
    net.zero_grad(set_to_none=True)
    loss, parts = backward_by_sample(
        _loss_of(net, x, y, seen, meet), len(x), list(net.parameters()), workers, per_task
    )
    return loss, parts, [p.grad.clone() for p in net.parameters()]


def test_the_samples_loss_and_gradients_equal_the_whole_batchs_backward():
    net, (x, y) = _net(), _batch()
    loss, parts, grads = _whole(net, x, y)
    seen: list = []
    # The first two samples' tasks wait for each other, so a second worker
    # must have taken one however fast the caller drains the queue.
    meet = threading.Barrier(2)
    loss_s, parts_s, grads_s = _split(net, x, y, workers=3, seen=seen, meet=meet)
    # One sample per task, on more than one thread.
    assert sorted((a, b) for a, b, _ in seen) == [(k, k + 1) for k in range(6)]
    assert len({name for _, _, name in seen}) > 1
    assert not loss_s.requires_grad
    assert torch.allclose(loss_s, loss, rtol=1e-5)
    assert torch.allclose(parts_s["mse"], parts["mse"], rtol=1e-5)
    assert parts_s["feature"] == pytest.approx(parts["feature"], rel=1e-5)
    scale = max(float(g.abs().max()) for g in grads)
    for got, want in zip(grads_s, grads, strict=True):
        assert float((got - want).abs().max()) <= 1e-5 * scale


def test_the_gradient_is_the_same_to_the_bit_whatever_the_number_of_workers():
    net, (x, y) = _net(), _batch()
    _, _, two = _split(net, x, y, workers=2)
    _, _, five = _split(net, x, y, workers=5)
    for a, b in zip(two, five, strict=True):
        assert torch.equal(a, b)


def test_one_worker_or_one_sample_runs_the_whole_batch_once_as_backward_does():
    net, (x, y) = _net(), _batch(4)
    for n, workers in ((4, 1), (1, 3)):
        seen: list = []
        _split(net, x[:n], y[:n], workers=workers, seen=seen)
        assert [(a, b) for a, b, _ in seen] == [(0, n)]
        assert seen[0][2] == threading.current_thread().name


def test_gradients_add_to_what_the_leaves_already_hold():
    net, (x, y) = _net(), _batch()
    _, _, once = _whole(net, x, y)
    backward_by_sample(_loss_of(net, x, y), len(x), list(net.parameters()), 3)  # onto `once`
    for p, g in zip(net.parameters(), once, strict=True):
        assert torch.allclose(p.grad, 2 * g, rtol=1e-4, atol=1e-7)


def test_a_gradient_through_the_input_lands_on_each_samples_own_rows():
    x, y = _batch()
    x.requires_grad_(True)

    def loss_of(rows: slice):
        return (x[rows] - y[rows]).square().mean(), {}

    backward_by_sample(loss_of, len(x), [x], workers=3)
    # d/dx of the batch's mean square: 2 (x - y) / (number of elements).
    assert torch.allclose(x.grad, 2 * (x - y).detach() / x.numel(), rtol=1e-5)


def test_a_cancelled_sample_stops_the_step_and_leaves_the_gradients_alone():
    net, (x, y) = _net(), _batch()
    net.zero_grad(set_to_none=True)
    inner = _loss_of(net, x, y)

    def loss_of(rows: slice):
        if rows.start == 2:
            raise JobCancelled("training")
        return inner(rows)

    with pytest.raises(JobCancelled):
        backward_by_sample(loss_of, len(x), list(net.parameters()), 3)
    assert all(p.grad is None for p in net.parameters())


def test_the_workers_are_the_threads_torch_would_have_on_a_quiet_machine(monkeypatch):
    from warpaint.engine.runtime import cpu_threads

    monkeypatch.setattr(cpu_threads, "job_threads", lambda: 1)  # a busy machine
    monkeypatch.setattr(cpu_threads, "job_pool_width", lambda default: 3)
    with torch_threads(2), pool_width(1):
        assert training_workers() == 2
        with cpu_threads.threads_for_job():
            assert torch.get_num_threads() == 1
            assert training_workers() == 2
        with torch_threads(1):  # outside a job: the thread's own count
            assert training_workers() == 1


def test_the_content_loss_of_a_batch_is_the_mean_of_its_samples():
    f, t = _batch(5)
    t = t * torch.arange(1, 6).view(5, 1, 1, 1)  # samples of different energy
    each = [content_loss(f[k : k + 1], t[k : k + 1]) for k in range(5)]
    assert torch.allclose(content_loss(f, t), torch.stack(each).mean(), rtol=1e-6)
    one = (f[:1] - t[:1]).square().mean() / t[:1].square().mean()
    assert torch.allclose(each[0], one, rtol=1e-6)


def test_tasks_of_several_samples_weigh_by_their_share_of_the_batch():
    net, (x, y) = _net(), _batch(7)
    loss, parts, grads = _whole(net, x, y)
    seen: list = []
    net.zero_grad(set_to_none=True)
    loss_s, parts_s = backward_by_sample(
        _loss_of(net, x, y, seen), len(x), list(net.parameters()), 2, per_task=3
    )
    assert sorted((a, b) for a, b, _ in seen) == [(0, 3), (3, 6), (6, 7)]
    assert torch.allclose(loss_s, loss, rtol=1e-5)
    assert parts_s["feature"] == pytest.approx(parts["feature"], rel=1e-5)
    scale = max(float(g.abs().max()) for g in grads)
    for p, want in zip(net.parameters(), grads, strict=True):
        assert float((p.grad - want).abs().max()) <= 1e-5 * scale


def test_small_maps_go_several_to_a_task_and_one_task_is_the_whole_batch():
    assert samples_per_task(256 * 256) == 1
    assert samples_per_task(192 * 192) == 1
    assert samples_per_task(128 * 128) == 2
    assert samples_per_task(96 * 96) == 4
    net, (x, y) = _net(), _batch(4)
    seen: list = []
    _split(net, x, y, workers=3, seen=seen, per_task=4)
    assert [(a, b) for a, b, _ in seen] == [(0, 4)]
