"""Row chains run as a wavefront: the same results as the layers in one piece."""

import threading

import pytest
import torch
from torch.nn import functional as F

from warpaint.engine.features.arbitrary_style.adain import Decoder, phase_kernels, upsampled_conv
from warpaint.engine.neural import banded, wavefront
from warpaint.engine.neural.vgg import random_vgg19
from warpaint.engine.runtime import cpu_threads


@pytest.fixture
def chain_runs(monkeypatch):
    """Every chain run, as its layers' band spans; small maps split in many bands."""
    monkeypatch.setattr(wavefront, "MIN_BAND_ROWS", 2)
    runs: list[list[list[tuple[int, int]]]] = []
    run = wavefront.RowChain.run

    def recording(self):
        out = run(self)
        runs.append([list(layer.spans) for layer in self.layers])
        return out

    monkeypatch.setattr(wavefront.RowChain, "run", recording)
    return runs


def _rand(*shape: int, seed: int = 0, channels_last: bool = False) -> torch.Tensor:
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_chain_of_every_layer_kind_equals_the_layers_in_one_piece(chain_runs, channels_last):
    x = _rand(2, 4, 29, 19)
    w1 = _rand(6, 4, 3, 3, seed=1, channels_last=channels_last) - 0.5
    w2 = _rand(5, 6, 3, 3, seed=2, channels_last=channels_last) - 0.5
    w3 = _rand(3, 5, 5, 5, seed=3) - 0.5
    w4 = _rand(4, 3, 3, 3, seed=4) - 0.5
    b = [_rand(c, seed=10 + c) for c in (6, 5, 3, 4)]
    scale = _rand(1, 4, 1, 1, seed=5) + 0.5

    expected = F.relu(F.conv2d(x * scale, w1, b[0], padding=1))
    expected = F.relu(F.conv2d(F.pad(expected, (1,) * 4, mode="reflect"), w2, b[1]))
    expected = F.avg_pool2d(expected, 2, ceil_mode=True)  # 29 rows: the last window is half
    expected = F.conv2d(F.pad(expected, (2,) * 4, mode="replicate"), w3, b[2])
    expected = F.relu(upsampled_conv(expected, w4, b[3]))

    def scaled(rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.mul(rows, scale, out=out)

    with torch.inference_mode(), banded.pooled(3):
        got = (
            wavefront.RowChain(x)
            .map(scaled)
            .conv(w1, b[0], 1, relu=True)
            .conv(w2, b[1], 1, "reflect", relu=True)
            .avg_pool2()
            .conv(w3, b[2], 2, "replicate")
            .upsampled_conv(phase_kernels(w4), b[3], relu=True)
            .run()
        )
    spans = chain_runs[0]
    # 3 workers x 3 bands a layer, at least 2 rows a band (15 rows after the pooling).
    assert [len(s) for s in spans] == [9, 9, 9, 7, 7, 9]
    assert all(a % 2 == 0 and b % 2 == 0 for a, b in spans[-1])  # doubled rows in pairs
    assert got.shape == expected.shape == (2, 4, 30, 20)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_without_a_pool_the_chain_runs_band_by_band_on_the_calling_thread(chain_runs):
    x = _rand(1, 3, 20, 16)
    w = _rand(4, 3, 3, 3, seed=1) - 0.5
    threads: set[str] = set()

    def noted(rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        threads.add(threading.current_thread().name)
        return torch.neg(rows, out=out)

    with torch.inference_mode():
        got = wavefront.RowChain(x).map(noted).conv(w, None, 1).run()
    assert threads == {threading.current_thread().name}
    assert len(chain_runs[0][0]) == 3  # 20 rows: one worker's three bands
    torch.testing.assert_close(got, F.conv2d(-x, w, None, padding=1), atol=1e-5, rtol=1e-5)


def test_a_band_that_raises_stops_the_chain_and_the_error_reaches_the_caller(chain_runs):
    x = _rand(1, 2, 40, 8)
    calls: list[int] = []

    def failing(rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        calls.append(rows.shape[2])
        if len(calls) == 4:
            raise ValueError("band four")
        return torch.abs(rows, out=out)

    pool = banded.pooled(3)
    with torch.inference_mode(), pool, pytest.raises(ValueError, match="band four"):
        wavefront.RowChain(x).map(torch.neg).map(failing).run()
    # No band started after the failure: the fourth and at most the two
    # running on the other workers were the last.
    assert 4 <= len(calls) <= 6


def test_a_layer_output_is_let_go_once_the_next_layer_is_complete(chain_runs, monkeypatch):
    x = _rand(1, 2, 32, 8)
    seen: list[list[bool]] = []
    done = wavefront._Run._done

    def watching(self, i, k):
        done(self, i, k)
        seen.append([b is None for b in self.buffers])

    monkeypatch.setattr(wavefront._Run, "_done", watching)
    with torch.inference_mode(), banded.pooled(2):
        out = wavefront.RowChain(x).map(torch.neg).map(torch.abs).map(torch.neg).run()
    # At the end only the input and the last output are held.
    assert seen[-1] == [False, True, True, False]
    torch.testing.assert_close(out, -x)


def test_the_vgg_encoder_runs_as_a_wavefront_on_a_pool_and_equals_its_one_piece_pass(chain_runs):
    net = random_vgg19(width=0.25, deepest="relu3_1").eval().requires_grad_(False)
    x = _rand(1, 3, 45, 38)
    with torch.inference_mode():
        expected = net(x, ["relu3_1"])["relu3_1"]
        assert chain_runs == []
        with banded.pooled(3):
            got = net(x, ["relu3_1"])["relu3_1"]
            assert len(chain_runs) == 1  # five convs and two poolings after the normalising
            assert len(chain_runs[0]) == 8
            with wavefront.layer_by_layer():
                layered = net(x, ["relu3_1"])["relu3_1"]
            assert len(chain_runs) == 1
            # Two outputs asked for: layer by layer (a chain keeps only its last).
            both = net(x, ["relu2_1", "relu3_1"])
            assert len(chain_runs) == 1
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layered, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both["relu3_1"], expected, atol=1e-5, rtol=1e-5)


def test_the_adain_decoder_runs_as_a_wavefront_on_a_job_pool_and_equals_one_piece(chain_runs):
    torch.manual_seed(0)
    decoder = Decoder().eval().requires_grad_(False)
    features = _rand(2, 128, 11, 9)
    with torch.inference_mode():
        expected = decoder(features)
        with cpu_threads.pool_width(3), banded.pooled():
            got = decoder(features)
    assert len(chain_runs) == 1 and len(chain_runs[0]) == len(decoder.convs)
    assert got.shape == (2, 3, 44, 36)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
