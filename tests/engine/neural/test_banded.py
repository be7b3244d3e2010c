"""Row-banded inference on a task pool: the same results as in one piece."""

import pytest
import torch
from torch.nn import functional as F

from warpaint.engine.features.arbitrary_style.adain import Decoder, upsampled_conv
from warpaint.engine.features.fast_style import generator
from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
from warpaint.engine.neural import banded, feedforward, wavefront
from warpaint.engine.runtime import cpu_threads


@pytest.fixture
def band_calls(monkeypatch):
    """Every band run on the pool, as (start, end); small maps split too."""
    monkeypatch.setattr(banded, "MIN_OUTPUT", 1)
    calls: list[tuple[int, int]] = []
    run = banded.run_bands

    def counting(spans, work):
        calls.extend(spans)
        return run(spans, work)

    monkeypatch.setattr(banded, "run_bands", counting)
    return calls


def _rand(*shape: int, channels_last: bool = False, seed: int = 0) -> torch.Tensor:
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate"])
@pytest.mark.parametrize(
    ("kernel", "stride", "dilation"), [(3, 1, 1), (3, 2, 1), (3, 1, 2), (1, 1, 1), (5, 2, 1)]
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_a_convolution_in_row_bands_equals_the_one_piece_convolution(
    band_calls, mode, kernel, stride, dilation, channels_last
):
    x = _rand(2, 5, 37, 23)
    weight = _rand(6, 5, kernel, kernel, channels_last=channels_last, seed=1) - 0.5
    bias = _rand(6, seed=2)
    padding = dilation * (kernel // 2)
    expected = F.conv2d(
        F.pad(x, (padding,) * 4, mode="constant" if mode == "zeros" else mode),
        weight,
        bias,
        stride,
        0,
        dilation,
    )
    with torch.inference_mode(), banded.pooled(3) as workers:
        got = banded.conv2d(x, weight, bias, stride, padding, dilation, mode)
    assert workers == 3
    assert len(band_calls) >= 2  # it did run in bands
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # The layout the one-piece convolution gives, so later layers reorder nothing.
    assert _is_channels_last(got) == _is_channels_last(expected)


def test_the_conv_module_runs_in_bands_only_inside_a_pool_and_matches_nn_conv2d(band_calls):
    torch.manual_seed(0)
    conv = banded.Conv2d(4, 8, 3, padding=1, padding_mode="reflect")
    plain = torch.nn.Conv2d(4, 8, 3, padding=1, padding_mode="reflect")
    plain.load_state_dict(conv.state_dict())
    x = _rand(1, 4, 40, 30)
    with torch.inference_mode():
        alone = conv(x)
        assert band_calls == []
        with banded.pooled(2):
            pooled = conv(x)
        assert band_calls
        torch.testing.assert_close(alone, plain(x))
        torch.testing.assert_close(pooled, plain(x), atol=1e-5, rtol=1e-5)


def test_training_keeps_the_one_piece_graph_and_its_gradients(band_calls):
    conv = banded.Conv2d(3, 4, 3, padding=1)
    x = _rand(1, 3, 32, 32).requires_grad_()
    with banded.pooled(3):
        conv(x).square().sum().backward()
    assert band_calls == []
    assert x.grad is not None and conv.weight.grad is not None
    assert float(x.grad.abs().sum()) > 0


def test_a_pool_starts_only_where_a_job_chose_a_width_and_never_for_training():
    x = _rand(1, 3, 8, 8)
    with torch.inference_mode():
        with banded.pooled() as workers:
            assert workers == 1  # no width set: torch's own threads
        with cpu_threads.pool_width(3), banded.pooled() as workers:
            assert workers == 3
            with banded.pooled(5) as inner:
                assert inner == 3  # a nested block shares the running pool
        with cpu_threads.pool_width(3), banded.pooled_inference(x) as workers:
            assert workers == 3
    with cpu_threads.pool_width(3), banded.pooled_inference(x) as workers:
        assert workers == 1  # grad mode is on: a training step
    with pytest.raises(RuntimeError, match="no banded"):
        banded.run_bands([(0, 1)], lambda a, b: None)


@pytest.mark.parametrize("channels_last", [False, True])
def test_elementwise_statistics_and_upsampling_in_bands_equal_one_piece(band_calls, channels_last):
    x = _rand(2, 6, 29, 17, channels_last=channels_last) - 0.5
    scale, shift = _rand(1, 6, 1, 1, seed=3), _rand(1, 6, 1, 1, seed=4)

    def affine(rows, out=None):
        return torch.addcmul(shift, rows, scale, out=out)

    with torch.inference_mode():
        expected_map = affine(x)
        expected_up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        expected_cat = torch.cat([x, 2 * x[:, :2]], dim=1)
        expected_stats = feedforward.instance_stats(x)
        expected_relu = x.relu()
        with banded.pooled(3):
            mapped = banded.map_rows(affine, x)
            up = banded.upsample2x_bilinear(x)
            cat = banded.cat_channels([x, 2 * x[:, :2]])
            stats = feedforward.instance_stats(x)
            relu = banded.apply_rows_(torch.relu_, x.clone())
    assert len(band_calls) >= 10  # every one of them ran in bands
    torch.testing.assert_close(mapped, expected_map)
    torch.testing.assert_close(up, expected_up, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(cat, expected_cat)
    torch.testing.assert_close(stats[0], expected_stats[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(stats[1], expected_stats[1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(relu, expected_relu)
    assert _is_channels_last(up) == channels_last and _is_channels_last(cat) == channels_last


def test_the_style_generator_in_bands_equals_its_one_piece_result(band_calls):
    torch.manual_seed(0)
    config = GeneratorConfig(styles=2, half=8, quarter=16, blocks=3, noise=2, dilated=True,
                             coarse_noise=2, noise_head=True)  # fmt: skip
    gen = StyleGenerator(config).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.1 * torch.randn_like(p))
    gen.set_style(torch.tensor([0.4, 0.6]))
    x = _rand(1, 3, 70, 54)
    with torch.inference_mode():
        expected = gen(x, origin=(8, 4))
        with cpu_threads.pool_width(3):
            got = gen(x, origin=(8, 4))
    assert len(band_calls) > 50
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)


def test_the_adain_decoder_and_its_upsampled_convs_in_bands_equal_one_piece(band_calls):
    torch.manual_seed(0)
    decoder = Decoder().eval()
    features = _rand(1, 128, 12, 10)
    conv = decoder.convs[0]
    with torch.inference_mode():
        expected = decoder(features)
        expected_up = upsampled_conv(features, conv.weight, conv.bias)
        # Layer by layer: on a pool the decoder otherwise runs as a wavefront
        # (tests/engine/neural/test_wavefront.py).
        with banded.pooled(3), wavefront.layer_by_layer():
            got = decoder(features)
            got_up = upsampled_conv(features, conv.weight, conv.bias)
    assert len(band_calls) > 10
    torch.testing.assert_close(got_up, expected_up, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_a_large_image_runs_the_generator_in_bands_on_a_quiet_machine_too(band_calls, monkeypatch):
    gen = StyleGenerator(GeneratorConfig(styles=1, half=8, quarter=8, blocks=1)).eval()
    gen.set_style(torch.ones(1))
    monkeypatch.setattr(generator, "QUIET_BANDS", 48 * 48)
    with torch.inference_mode(), cpu_threads.torch_threads(2):
        expected = gen(_rand(1, 3, 40, 40))  # below the size: torch's threads
        assert band_calls == []
        big = _rand(1, 3, 64, 48)
        banded_result = gen(big)
        assert band_calls  # no job set a width, yet it ran in bands
        band_calls.clear()
        with cpu_threads.torch_threads(1):
            one_piece = gen(big)  # one thread wanted (a batch worker): no pool
        assert band_calls == []
    assert expected.shape == (1, 3, 40, 40)
    torch.testing.assert_close(banded_result, one_piece, atol=2e-5, rtol=1e-5)
