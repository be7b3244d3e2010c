"""CUDA-graph replay of fixed-shape forward passes."""

import pytest
import torch

from warpaint.engine.neural.cuda_graphs import BackgroundCompiled, GraphedForward, GraphedLossGrad


def test_tensors_off_cuda_run_eagerly_and_record_nothing():
    calls = []

    def fn(x):
        calls.append(x.shape)
        return x * 2

    graphed = GraphedForward(fn)
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    assert torch.equal(graphed(x), x * 2)
    assert calls == [(1, 1, 2, 3)] and graphed.recorded == 0


def test_several_inputs_none_included_reach_eager_calls():
    graphed = GraphedForward(lambda x, y, z: x + y if z is None else x - y)
    x, y = torch.zeros(1, 1, 2, 3), torch.ones(1, 1, 2, 3)
    assert torch.equal(graphed(x, y, None), x + 1) and torch.equal(graphed(x, y, y), x - 1)
    assert graphed.recorded == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_every_input_is_copied_into_the_graph_at_every_call():
    graphed = GraphedForward(lambda x, plane, none: x * plane)
    with torch.inference_mode():
        for side, value in ((8, 2.0), (8, 3.0), (12, 2.0), (8, 5.0)):
            x = torch.rand(1, 1, side, side, device="cuda")
            plane = torch.full_like(x, value)
            assert torch.allclose(graphed(x, plane, None), x * value)
    assert graphed.recorded == 2 and not graphed.failed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_replays_equal_eager_calls_per_shape_and_keep_the_newest_shapes():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1)
    ).cuda()
    scale = torch.ones((), device="cuda")
    graphed = GraphedForward(lambda x: net(x) * scale, max_shapes=2)
    with torch.inference_mode():
        for side in (16, 24, 16, 40):
            x = torch.rand(1, 3, side, side, device="cuda")
            first = graphed(x)
            assert torch.allclose(first, net(x), atol=1e-6)
            scale.fill_(2.0)  # read through its storage: the replay sees it
            assert torch.allclose(graphed(x), 2 * net(x), atol=1e-6)
            assert torch.allclose(first, net(x), atol=1e-6), "results are copies"
            scale.fill_(1.0)
    assert graphed.recorded == 2 and not graphed.failed


def _quadratic(target):
    def loss_fn(x):
        d = x - target
        return (d * d).sum(), {"sq": (d * d).mean()}

    return loss_fn


def test_loss_and_gradient_off_cuda_are_computed_eagerly():
    target = torch.linspace(0, 1, 12).reshape(1, 3, 2, 2)
    x = torch.zeros(1, 3, 2, 2, requires_grad=True)
    evaluate = GraphedLossGrad(x, _quadratic(target))
    total, parts, grad = evaluate()
    assert torch.allclose(total, (target**2).sum()) and torch.allclose(grad, -2 * target)
    assert torch.allclose(parts["sq"], (target**2).mean())
    assert not evaluate.graphed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_replayed_loss_and_gradient_follow_in_place_changes_of_x():
    target = torch.rand(1, 3, 8, 8, device="cuda")
    x = torch.zeros(1, 3, 8, 8, device="cuda", requires_grad=True)
    evaluate = GraphedLossGrad(x, _quadratic(target))
    for step in range(3):
        total, _, grad = evaluate()
        assert torch.allclose(total, ((x.detach() - target) ** 2).sum(), rtol=1e-5)
        assert torch.allclose(grad, 2 * (x.detach() - target), atol=1e-6)
        with torch.no_grad():
            x.add_(0.1 * (step + 1))
    assert evaluate.graphed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graphed_stylization_matches_the_eager_one():
    from warpaint.engine.features.stylize.optim import gatys_loss, optimise, style_targets
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cuda")
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 64, 64, generator=g).cuda()
    style = torch.rand(1, 3, 64, 64, generator=g).cuda()
    loss_fn = gatys_loss(net, content, style_targets(net, [(style, 1.0)], 64), 1e3)
    eager = optimise(content, loss_fn, "lbfgs", 20, cuda_graph=False)
    graphed = optimise(content, loss_fn, "lbfgs", 20)
    before = loss_fn(content)[0].item()
    assert loss_fn(graphed)[0].item() < 0.5 * before
    assert (graphed - eager).abs().mean().item() < 0.01


def test_background_compilation_serves_nothing_until_ready_then_the_compiled_function():
    compiled_for = []

    def compiler(fn):
        compiled_for.append(fn)
        return lambda x: fn(x) + 1  # distinguishable from the eager function

    bg = BackgroundCompiled(lambda x: x * 2, compiler=compiler)
    x = torch.ones(1, 2, 3, 3)
    first = bg.get(x)
    assert bg.wait(30)
    later = bg.get(x)
    assert first is None and later is not None
    assert torch.equal(later(x), x * 2 + 1) and bg.ready_shapes == 1
    assert bg.get(torch.ones(1, 2, 4, 4)) is None, "a new shape is queued, not served"
    assert bg.wait(30) and bg.ready_shapes == 2 and len(compiled_for) == 2


def test_background_compilation_is_per_the_shapes_of_all_inputs():
    bg = BackgroundCompiled(lambda x, y, none: x + y, compiler=lambda fn: fn)
    x = torch.ones(1, 1, 3, 3)
    assert bg.get(x, x, None) is None and bg.wait(30)
    ready = bg.get(x, x, None)
    assert ready is not None and torch.equal(ready(x, 2 * x, None), 3 * x)
    assert bg.get(x, torch.ones(1, 2, 3, 3), None) is None, "another second input: queued"
    assert bg.wait(30) and bg.ready_shapes == 2


def test_a_failed_compilation_turns_background_compilation_off_with_one_warning():
    def compiler(fn):
        raise RuntimeError("no compiler here")

    bg = BackgroundCompiled(lambda x: x, compiler=compiler)
    with pytest.warns(UserWarning, match="no compiler here"):
        bg.get(torch.ones(1, 1, 2, 2))
        bg.wait(30)
    assert bg.failed and "no compiler here" in bg.failed
    assert bg.get(torch.ones(1, 1, 5, 5)) is None and bg.ready_shapes == 0


def test_the_gradient_is_laid_out_like_x_whatever_the_network_does():
    x = torch.zeros(1, 3, 4, 5, requires_grad=True)

    def loss_fn(img):
        y = img.contiguous(memory_format=torch.channels_last) * 2
        return y.square().sum() + y.sum(), {}

    _, _, grad = GraphedLossGrad(x, loss_fn)()
    assert grad.stride() == x.stride() and torch.allclose(grad, torch.full_like(x, 2.0))
    assert grad.view(-1).numel() == x.numel()  # what L-BFGS does with it
