"""Refine for this style: the fine-tuning lowers the loss, cancel then resume goes on
from the saved step, the effect finds the refined decoder by the style's pixels."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data, transform

from warpaint.app.cli import main
from warpaint.engine.features.arbitrary_style.effect import load_decoder
from warpaint.engine.features.arbitrary_style.refine import (
    RefineConfig,
    refine_crops,
    refine_decoder,
    refine_losses,
    saved_step,
)
from warpaint.engine.features.arbitrary_style.refined import (
    find_refined,
    image_key,
    refined_info,
    work_dir,
)
from warpaint.engine.neural.style_samples import strokes
from warpaint.engine.runtime.apply import run_effect
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import user_models_dir
from warpaint.engine.runtime.registry import get_effect

SPEC = get_effect("arbitrary-style")
# Steps only (no time limit), so runs are the same whatever the machine's speed.
TINY = RefineConfig(seconds=0, steps=12, crop=32, batch=2, pool_side=64)


class Stop(Exception):
    """Stands in for a job's cancellation."""


@pytest.fixture(autouse=True)
def _user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a[..., :3], dtype=np.float32)).permute(2, 0, 1)[
        None
    ]


def _photo(side=64):
    return transform.resize(data.astronaut() / 255.0, (side, side), anti_aliasing=True).astype(
        np.float32
    )


def _rgba(rgb):
    return np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], 2)


def _quantised(a):
    return (np.round(a * 255) / 255).astype(np.float32)


def _loss(decoder, content, style, config):
    """The refinement's weighted loss on fixed crops (not those it trained on)."""
    rng = np.random.default_rng(1234)
    c, s = refine_crops(content, 8, config, rng), refine_crops(style, 8, config, rng)
    with torch.no_grad():
        terms = refine_losses(decoder, c, s)
    return float(
        terms["content"]
        + config.style_weight * terms["style"]
        + config.recon_weight * terms["recon"]
        + config.detail_weight * terms["detail"]
    )


def _effect(image, style, **params):
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    values = {"style": _rgba(style)} | params
    out = run_effect(ctx, SPEC, _rgba(image), SPEC.resolve(values))
    return out, ctx.messages


def test_refining_lowers_the_training_loss_and_the_effect_then_uses_the_decoder():
    content, style = _photo(), _quantised(strokes(64))
    config = dataclasses.replace(TINY, steps=30)
    shipped = load_decoder(None)
    before = _loss(shipped, _t(content), _t(style), config)
    result = refine_decoder(_t(content), _t(style), "My strokes.png", config)
    assert result.steps == 30 and result.resumed_from == 0
    assert _loss(result.decoder, _t(content), _t(style), config) < 0.95 * before

    # In the user's model folder, named by the style, with its key in the metadata.
    assert result.path.parent == user_models_dir()
    assert result.path.name.startswith("adain-refined-my-strokes-")
    info = refined_info(result.path)
    assert info["style_key"] == image_key(_t(style)) and info["name"] == "My strokes.png"
    assert info["style_size"] == [64, 64]
    assert (
        set(result.before)
        == set(result.after)
        == {
            "style_ratio",
            "high_pass_ratio",
            "content_ssim",
        }
    )
    assert "texture" in result.summary() and "SSIM" in result.summary()
    assert not work_dir(info["style_key"], info["content_key"]).exists()

    # The effect finds it by the style's pixels, says so, and its result is the refined one's.
    refined, notes = _effect(content, style)
    assert any("refined for this style" in note for note in notes)
    explicit, _ = _effect(content, style, model=str(result.path))
    shipped_out, shipped_notes = _effect(content, style, refined=False)
    assert np.array_equal(refined, explicit)
    assert np.abs(refined - shipped_out).mean() > 1e-3
    assert not any("refined" in note for note in shipped_notes)
    # Another style does not use it, nor a mix with another style; a "mix" with
    # the same image (the panel's second picker starts on the same layer) does.
    other = _quantised(strokes(64, seed=5))
    for style1, style2 in ((other, None), (style, other)):
        extra = {} if style2 is None else {"style2": _rgba(style2)}
        _, notes = _effect(content, style1, **extra)
        assert not any("refined" in note for note in notes)
    same, notes = _effect(content, style, style2=_rgba(style))
    assert any("refined" in note for note in notes) and np.allclose(same, refined, atol=1e-5)


def test_a_style_is_keyed_only_when_a_refined_decoder_may_be_for_a_style_of_its_size(
    monkeypatch,
):
    from warpaint.engine.features.arbitrary_style import refined
    from warpaint.engine.features.arbitrary_style.adain import decoder_meta
    from warpaint.engine.runtime.models import save_model

    keyed: list[tuple[int, ...]] = []
    real_key = refined.image_key

    def counted(image):
        keyed.append(tuple(image.shape))
        return real_key(image)

    monkeypatch.setattr(refined, "image_key", counted)
    decoder = load_decoder(None)
    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)

    def refined_file(name, record):
        path = folder / f"adain-refined-{name}-000000000000.safetensors"
        save_model(path, dict(decoder.state_dict()), decoder_meta(decoder) | {"refined": record})
        return path

    content, style = _photo(32), _quantised(strokes(48))
    _effect(content, style)  # nothing refined at all
    assert keyed == []
    refined_file("bigger", {"style_key": "0" * 32, "style_size": [64, 64]})
    _effect(content, style)  # refined only for 64x64 styles
    assert keyed == []
    same = refined_file("same-size", {"style_key": "1" * 32, "style_size": [48, 48]})
    _, notes = _effect(content, style)
    assert keyed == [(1, 3, 48, 48)]
    assert not any("refined" in note for note in notes)  # keyed, and no match
    same.unlink()
    keyed.clear()
    refined_file("older", {"style_key": "2" * 32})  # saved before sizes were recorded
    _effect(content, style)
    assert keyed == [(1, 3, 48, 48)]


def test_an_opaque_style_is_resized_before_compositing_with_the_same_colours():
    from warpaint.engine.features.arbitrary_style.effect import _style_rgb
    from warpaint.engine.neural.effect_helpers import rgb
    from warpaint.engine.neural.style_losses import resize_to_side

    colours = torch.rand(1, 3, 90, 120, generator=torch.Generator().manual_seed(0))
    for alpha in (1.0, 0.4):
        style = torch.cat([colours, torch.full((1, 1, 90, 120), alpha)], 1)
        expected = resize_to_side(rgb(style), 64).clamp(0.0, 1.0)
        got = _style_rgb(style, 64, 1.0)
        assert got.shape == (1, 3, 48, 64)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    # A see-through style is composited on mid-grey: light paint at alpha 0.4
    # comes out between the paint and the grey.
    light = torch.cat([torch.full((1, 3, 90, 120), 0.9), torch.full((1, 1, 90, 120), 0.4)], 1)
    torch.testing.assert_close(
        _style_rgb(light, 64, 1.0), torch.full((1, 3, 48, 64), 0.4 * 0.9 + 0.6 * 0.5)
    )


def test_a_cancelled_refinement_resumes_from_its_saved_step(tmp_path):
    content, style = _t(_photo()), _t(_quantised(strokes(64)))
    straight = refine_decoder(
        content, style, "s", TINY, judge=False, work_root=tmp_path / "a", output_dir=tmp_path / "a"
    )

    seen = []

    def cancel_after_five() -> None:
        if len(seen) >= 5:
            raise Stop

    with pytest.raises(Stop):
        refine_decoder(
            content,
            style,
            "s",
            TINY,
            judge=False,
            check=cancel_after_five,
            progress=lambda _f, info: seen.append(info["step"]),
            work_root=tmp_path / "b",
            output_dir=tmp_path / "b",
        )
    # The state is on disk at the step the cancel found.
    assert saved_step(image_key(style), image_key(content), tmp_path / "b") == 5
    assert find_refined(image_key(style), tmp_path / "b") is None

    steps = []
    resumed = refine_decoder(
        content,
        style,
        "s",
        TINY,
        judge=False,
        progress=lambda _f, info: steps.append((info["step"], info["resumed_from"])),
        work_root=tmp_path / "b",
        output_dir=tmp_path / "b",
    )
    assert steps[0] == (6, 5) and resumed.steps == TINY.steps and resumed.resumed_from == 5
    # Same batches, same Adam state: the interrupted run ends where the straight one did.
    for (name, a), b in zip(
        straight.decoder.state_dict().items(), resumed.decoder.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-5), name
    assert saved_step(image_key(style), image_key(content), tmp_path / "b") == 0


def test_a_saved_state_for_other_settings_is_not_resumed(tmp_path):
    content, style = _t(_photo()), _t(_quantised(strokes(64)))
    seen = []

    def cancel_after_one() -> None:
        if seen:
            raise Stop

    with pytest.raises(Stop):
        refine_decoder(
            content,
            style,
            "s",
            TINY,
            judge=False,
            check=cancel_after_one,
            progress=lambda _f, info: seen.append(info["step"]),
            work_root=tmp_path,
            output_dir=tmp_path,
        )
    assert saved_step(image_key(style), image_key(content), tmp_path) == 1
    other = dataclasses.replace(TINY, steps=2, batch=1)
    result = refine_decoder(
        content, style, "s", other, judge=False, work_root=tmp_path, output_dir=tmp_path
    )
    assert result.resumed_from == 0 and result.steps == 2


def test_the_style_key_is_the_same_for_a_layer_and_the_png_it_came_from(tmp_path):
    style = _quantised(strokes(48))
    path = tmp_path / "style.png"
    Image.fromarray(np.round(style * 255).astype(np.uint8)).save(path)
    from warpaint.engine.io import read_image_array

    from_file = read_image_array(path)
    assert image_key(_t(from_file)) == image_key(_t(style))
    assert image_key(_t(style + 1e-4)) == image_key(_t(style))
    assert image_key(_t(style[:, ::-1])) != image_key(_t(style))


def test_the_cli_refines_and_ctrl_c_leaves_a_state_that_resumes(tmp_path, capsys, monkeypatch):
    import warpaint.engine.features.arbitrary_style.refine as refine

    style_path, image_path = tmp_path / "Hatching.png", tmp_path / "photo.png"
    Image.fromarray(np.round(strokes(48) * 255).astype(np.uint8)).save(style_path)
    Image.fromarray(np.round(_photo(48) * 255).astype(np.uint8)).save(image_path)
    args = ["train", "adain-refine", str(style_path), str(image_path), "--steps", "4",
            "--crop", "32", "--batch", "1", "--seconds", "0"]  # fmt: skip

    # Ctrl+C while step 3 draws its crops (two draws a step).
    real_crops, draws = refine.refine_crops, []

    def crops(*args, **kwargs):
        draws.append(1)
        if len(draws) == 5:
            raise KeyboardInterrupt
        return real_crops(*args, **kwargs)

    monkeypatch.setattr(refine, "refine_crops", crops)
    assert main(args) == 130
    _, err = capsys.readouterr()
    assert "the same command resumes it" in err
    assert not list(user_models_dir().glob("adain-refined-*"))

    monkeypatch.setattr(refine, "refine_crops", real_crops)
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert "resumed at step 2" in out and "wrote" in out and "texture" in out
    written = list(user_models_dir().glob("adain-refined-hatching-*.safetensors"))
    assert len(written) == 1 and refined_info(written[0])["steps"] == 4
