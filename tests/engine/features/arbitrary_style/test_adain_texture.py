"""The texture step of arbitrary style: the style's fine detail laid onto the decoded result."""

import numpy as np
import pytest
import torch

from warpaint.engine.features.arbitrary_style.bench import REFERENCE_PAIRS, speed_512, texture_goal
from warpaint.engine.features.arbitrary_style.corpus import style_image
from warpaint.engine.features.arbitrary_style.effect import (
    TEXTURE_DEFAULT,
    default_model_path,
    load_decoder,
    stylize,
)
from warpaint.engine.features.arbitrary_style.texture import carry_texture, style_texture
from warpaint.engine.runtime.apply import run_effect
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.registry import get_effect

SPEC = get_effect("arbitrary-style")
needs_decoder = pytest.mark.skipif(
    not default_model_path().is_file(), reason="the shipped decoder is not installed"
)


def _smooth(h, w, seed=0):
    """A (1, 3, h, w) image with only coarse structure: blurred noise plus a ramp."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 16 + 1, w // 16 + 1, generator=g)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    return (0.3 + 0.4 * x.clamp(0, 1)).contiguous()


def _vertical_stripes(h, w):
    """(1, 3, h, w): dark blue and light orange stripes, 4 px period, varying along x."""
    on = (torch.arange(w) % 4 < 2).float()[None, :].expand(h, w)
    a, b = torch.tensor([0.1, 0.15, 0.5]), torch.tensor([0.95, 0.7, 0.3])
    return (a[:, None, None] + (b - a)[:, None, None] * on)[None].contiguous()


def _detail(x):
    """(1, 3, H, W) minus its 3x3 mean."""
    return x - torch.nn.functional.avg_pool2d(
        torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1
    )


def test_the_texture_step_keeps_the_shape_and_the_range():
    result, style = _smooth(100, 130), _vertical_stripes(96, 80)
    out = carry_texture(result, style_texture([(style, 1.0)]), 1.0)
    assert out.shape == result.shape and out.dtype == result.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, result)


def test_amount_zero_returns_the_result_and_the_change_grows_with_the_amount():
    result, style = _smooth(96, 96), _vertical_stripes(96, 96)
    stats = style_texture([(style, 1.0)])
    assert torch.equal(carry_texture(result, stats, 0.0), result)
    changes = [float((carry_texture(result, stats, a) - result).abs().mean()) for a in (0.3, 1.0)]
    assert 0 < changes[0] < changes[1]


def test_the_luminance_share_scales_only_the_changes_light_and_shade():
    from warpaint.engine.features.arbitrary_style.texture import _YIQ

    result, style = _smooth(96, 96), _vertical_stripes(96, 96)
    stats = style_texture([(style, 1.0)])
    yiq = torch.tensor(_YIQ)

    def change(share: float) -> torch.Tensor:
        out = carry_texture(result, stats, 0.2, share)
        assert float(out.min()) > 0.0 and float(out.max()) < 1.0  # nothing clipped
        return (yiq @ (out - result).reshape(3, -1)).reshape(3, 96, 96)

    full, none, default = change(1.0), change(0.0), change(0.65)
    assert float(full[0].abs().mean()) > 1e-3
    assert float(none[0].abs().max()) < 1e-5  # no change in light and shade
    assert torch.allclose(default[0], 0.65 * full[0], atol=1e-5)
    for c in (none, default):  # the colour of the change is the same at any share
        assert torch.allclose(c[1:], full[1:], atol=1e-5)


def test_the_styles_fine_detail_and_its_orientation_arrive():
    result = _smooth(128, 128)
    vertical = _vertical_stripes(128, 128)
    horizontal = vertical.transpose(-1, -2).contiguous()

    def along_x_over_y(style):
        out = carry_texture(result, style_texture([(style, 1.0)]), 1.0)
        assert _detail(out).std() > 4 * _detail(result).std()
        dx = (out[..., :, 1:] - out[..., :, :-1]).abs().mean()
        dy = (out[..., 1:, :] - out[..., :-1, :]).abs().mean()
        return float(dx / dy)

    # Stripes that vary along x give detail that varies along x, and turned
    # stripes turn it: the direction of a hatching carries.
    v, h = along_x_over_y(vertical), along_x_over_y(horizontal)
    assert v > 1.5 and h < 1 / 1.5 and v > 3 * h, (v, h)


def test_a_mix_with_no_weight_on_a_style_ignores_it_and_bad_inputs_are_refused():
    a, b = _vertical_stripes(96, 96), _smooth(96, 96, seed=3)
    alone, mixed = style_texture([(a, 1.0)]), style_texture([(a, 1.0), (b, 0.0)])
    for q1, q2 in zip(alone.band_quantiles, mixed.band_quantiles, strict=True):
        assert torch.allclose(q1, q2, atol=1e-5)
    with pytest.raises(ValueError, match="weights"):
        style_texture([(a, 0.0)])
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        carry_texture(a[0], alone)


def test_the_texture_parameter_is_offered_with_its_range():
    param = {p.name: p for p in SPEC.params}["texture"]
    assert (param.min, param.max, param.default) == (0.0, 1.0, TEXTURE_DEFAULT)
    assert TEXTURE_DEFAULT > 0 and "detail" in param.help


def _astronaut(side):
    from skimage import data, transform

    return transform.resize(data.astronaut() / 255.0, (side, side), anti_aliasing=True).astype(
        np.float32
    )


def _rgba(rgb):
    return np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], 2)


def _run(params, image):
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    return run_effect(ctx, SPEC, image, SPEC.resolve(params))


@needs_decoder
def test_texture_zero_gives_the_decoders_result_bit_for_bit():
    content, style = _astronaut(72), style_image(0, 72)
    decoded = stylize(
        load_decoder(), torch.from_numpy(content).permute(2, 0, 1)[None],
        [(torch.from_numpy(style).permute(2, 0, 1)[None], 1.0)],
    )[0].permute(1, 2, 0).numpy()  # fmt: skip
    off = _run({"style": _rgba(style), "texture": 0.0}, _rgba(content))
    on = _run({"style": _rgba(style)}, _rgba(content))
    assert np.array_equal(off[..., :3], decoded)
    assert np.abs(on[..., :3] - decoded).mean() > 0.005


@needs_decoder
def test_strength_zero_returns_the_content_with_full_texture():
    image = _rgba(_astronaut(40))
    out = _run({"style": _rgba(style_image(8, 40)), "strength": 0.0, "texture": 1.0}, image)
    assert np.array_equal(out, image)


@needs_decoder
@pytest.mark.slow
def test_the_bench_reports_the_texture_goal_and_the_texture_steps_cost():
    # The two parts `bench arbitrary-style` adds to its report (its Gatys
    # half is what makes the whole bench too slow for a test).
    speed = speed_512("cpu", quick=True)
    for label in ("new_style", "same_style"):
        assert speed[f"median_s_{label}"] > 0 and speed[f"median_s_{label}_no_texture"] > 0
        assert f"texture_ms_{label}" in speed
    goal = texture_goal("cpu")
    for name in ("texture_0", "texture_default"):
        part = goal[name]
        assert set(part["pairs"]) == {f"{c}-{s}" for c, s in REFERENCE_PAIRS}
        for row in part["pairs"].values():
            assert row["high_pass_over_gatys"] > 0
            assert {"ssim_minus_gatys", "content_ssim", "gatys_high_pass_ratio"} <= set(row)
        assert part["worst_high_pass_over_gatys"] == max(
            r["high_pass_over_gatys"] for r in part["pairs"].values()
        )
    # The texture step is what brings the decoder's texture near the pinned Gatys'.
    assert (
        goal["texture_default"]["worst_high_pass_over_gatys"]
        < goal["texture_0"]["worst_high_pass_over_gatys"]
    )
