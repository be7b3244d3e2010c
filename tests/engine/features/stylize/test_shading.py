import pytest
import torch

from warpaint.engine.features.blur.effect import gaussian_blur
from warpaint.engine.features.stylize.shading import restore_shading
from warpaint.engine.neural.style_losses import rgb_to_yiq


def _result_and_content() -> tuple[torch.Tensor, torch.Tensor]:
    """A 'stylized' result: a bluish mid tone under a 2 px checkerboard; a
    'photo': dark left half, bright right half, in grey."""
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((x + y) % 2).float() * 0.1 - 0.05
    result = torch.stack([0.4 + checker, 0.45 + checker, 0.6 + checker])[None]
    content = torch.where(x < 32, 0.2, 0.75).float().expand(1, 3, 64, 64).contiguous()
    return result, content


def _luma_low(image: torch.Tensor, sigma: float) -> torch.Tensor:
    return gaussian_blur(rgb_to_yiq(image)[:, :1], sigma)


# Inside the image and away from the photo's edge (x = 32), where a low pass
# of the low pass is the low pass.
FLAT_COLUMNS = torch.cat([torch.arange(8, 16), torch.arange(48, 56)])
FLAT = (slice(None), slice(None), slice(8, -8), FLAT_COLUMNS)


def test_full_shading_gives_the_photos_light_and_shade_and_keeps_the_detail():
    result, content = _result_and_content()
    out = restore_shading(result, content, 1.0, 4.0)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    # Below the scale: the photo's luminance (the result had one flat tone).
    low_error = (_luma_low(out, 4.0) - _luma_low(content, 4.0))[FLAT].abs().max().item()
    assert low_error < 0.01
    assert _luma_low(result, 4.0)[inner].std() < 0.01
    # Above it: the result's checkerboard, at the same amplitude.
    detail = rgb_to_yiq(out)[:, :1] - _luma_low(out, 1.0)
    before = rgb_to_yiq(result)[:, :1] - _luma_low(result, 1.0)
    assert torch.allclose(detail[inner], before[inner], atol=0.01)
    # The result's chroma (I, Q) stays.
    assert torch.allclose(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(result)[:, 1:], atol=1e-4)


def test_shading_amount_moves_part_of_the_way_and_zero_changes_nothing():
    result, content = _result_and_content()
    assert torch.equal(restore_shading(result, content, 0.0, 4.0), result)
    half = restore_shading(result, content, 0.5, 4.0)
    full = restore_shading(result, content, 1.0, 4.0)
    gap_half = (_luma_low(half, 4.0) - _luma_low(content, 4.0))[FLAT].abs().mean().item()
    gap_full = (_luma_low(full, 4.0) - _luma_low(content, 4.0))[FLAT].abs().mean().item()
    gap_none = (_luma_low(result, 4.0) - _luma_low(content, 4.0))[FLAT].abs().mean().item()
    assert gap_full < 0.01
    assert gap_half == pytest.approx(gap_none / 2, rel=0.05)


def test_shading_takes_a_content_of_another_size():
    result, content = _result_and_content()
    big = torch.nn.functional.interpolate(content, size=(128, 128), mode="nearest")
    out = restore_shading(result, big, 1.0, 4.0)
    assert out.shape == result.shape
    assert torch.allclose(out, restore_shading(result, content, 1.0, 4.0), atol=0.02)


def test_shading_refuses_bad_inputs():
    result, content = _result_and_content()
    with pytest.raises(ValueError, match="result"):
        restore_shading(result[:, :1], content, 0.5, 4.0)
    with pytest.raises(ValueError, match="content"):
        restore_shading(result, content[0], 0.5, 4.0)
    with pytest.raises(ValueError, match="amount"):
        restore_shading(result, content, 1.5, 4.0)
    with pytest.raises(ValueError, match="sigma"):
        restore_shading(result, content, 0.5, 0.0)


def test_stylize_image_puts_the_shading_back_after_the_optimisation():
    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.neural.loss_networks import feature_network
    from warpaint.engine.neural.style_samples import mosaic

    net = feature_network("vgg19-random-slim", "cpu")
    _, content = _result_and_content()
    style = torch.from_numpy(mosaic(64)).permute(2, 0, 1)[None].float()
    common = {"side": 64, "evaluations": 3, "style_weight": 5.0, "scales": 1}
    plain = stylize_image(net, content, [(style, 1.0)], **common)
    shaded = stylize_image(net, content, [(style, 1.0)], shading=0.5, **common)
    assert torch.allclose(shaded, restore_shading(plain, content, 0.5, 64 / 32), atol=1e-5)
    assert not torch.allclose(shaded, plain, atol=1e-3)
