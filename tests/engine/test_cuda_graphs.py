"""CUDA-graph replay of fixed-shape forward passes."""

import pytest
import torch

from warpaint.engine.cuda_graphs import GraphedForward


def test_tensors_off_cuda_run_eagerly_and_record_nothing():
    calls = []

    def fn(x):
        calls.append(x.shape)
        return x * 2

    graphed = GraphedForward(fn)
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    assert torch.equal(graphed(x), x * 2)
    assert calls == [(1, 1, 2, 3)] and graphed.recorded == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_replays_equal_eager_calls_per_shape_and_keep_the_newest_shapes():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 3, 1)).cuda()  # fmt: skip
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
