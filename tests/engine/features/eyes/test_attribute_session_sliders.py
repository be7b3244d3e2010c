"""Sliders built during a session from example images (layers), without training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warpaint.engine.features.eyes import effect_attributes as effect
from warpaint.engine.features.eyes.attributes import crops_from_images, encode_crops
from warpaint.engine.features.eyes.autoencoder import (
    Attribute,
    AttributeModel,
    AutoencoderConfig,
    ConvAutoencoder,
    load_attribute_model,
    save_attribute_model,
)
from warpaint.engine.runtime.errors import BadInputError


def model_file(tmp_path, name: str = "m.safetensors") -> str:
    torch.manual_seed(0)
    net = ConvAutoencoder(AutoencoderConfig(16, 32, latent=8, channels=(4, 8))).eval()
    model = AttributeModel(net, "stretch")
    model.add(Attribute("smile", torch.randn(8) * 3.0))
    path = tmp_path / name
    save_attribute_model(path, model)
    return str(path)


def layers(tint: tuple[float, float, float], n: int, seed: int) -> list[np.ndarray]:
    """`n` (40, 60, 4) float layers: noise pushed toward the colour `tint`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rgb = 0.5 * rng.random((40, 60, 3), dtype=np.float32) + 0.5 * np.float32(tint)
        out.append(np.concatenate([rgb, np.ones((40, 60, 1), np.float32)], axis=2))
    return out


def test_a_slider_from_two_sets_is_the_difference_of_mean_codes_and_is_listed(tmp_path):
    path = model_file(tmp_path)
    without, with_ = layers((0, 0, 1), 3, 1), layers((1, 0, 0), 2, 2)
    param = effect.add_slider("More red", without, with_, model=path)
    assert param.name == "more_red" and param.label == "More red" and param.default == 0.0
    names = [p.name for p in effect.extra_params({"model": path})]
    assert names == ["smile", "more_red"]
    assert effect.session_sliders(path) == ["more_red"]
    assert effect.session_sliders(None) == []  # other models do not get it

    model = effect.load(path, "cpu")
    crops = [crops_from_images(s, (16, 32), "stretch") for s in (without, with_)]
    z0, z1 = (encode_crops(model, c) for c in crops)
    expected = z1.mean(0) - z0.mean(0)
    assert torch.allclose(model.attributes["more_red"].vector, expected, atol=1e-5)


def test_the_new_slider_edits_the_region_through_the_effect_at_once(tmp_path):
    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    path = model_file(tmp_path)
    effect.add_slider("tint", layers((0, 0, 1), 2, 1), layers((1, 0, 0), 2, 2), model=path)
    spec = get_effect("attributes")
    image = layers((0.5, 0.5, 0.5), 1, 9)[0]
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    params = spec.resolve({"model": path, "region": (10, 10, 30, 20), "tint": 1.5})
    out = run_effect(ctx, spec, image, params)
    assert np.array_equal(out[:10], image[:10]) and np.array_equal(out[:, :10], image[:, :10])
    assert np.abs(out[14:26, 16:34] - image[14:26, 16:34]).max() > 1e-4
    # The same edit as the engine's region edit along the new vector.
    from warpaint.engine.features.eyes.attributes import edit_region

    model = effect.load(path, "cpu")
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.inference_mode():
        direct = edit_region(model, tensor, (10, 10, 30, 20), {"tint": 1.5})
    assert np.allclose(out, direct[0].permute(1, 2, 0).numpy(), atol=1e-5)


def test_paired_sliders_and_regions_use_only_the_box_of_each_image(tmp_path):
    path = model_file(tmp_path)
    before, after = layers((0, 0, 1), 2, 1), layers((0, 0, 1), 2, 1)
    for image in after:
        image[5:25, 10:50, 0] = 1.0  # only inside the box: a redder patch
    effect.add_slider("patch", before, after, model=path, paired=True, region=(10, 5, 40, 20))
    vec = effect.load(path, "cpu").attributes["patch"].vector
    model = effect.load(path, "cpu")
    cut = [
        crops_from_images([i[5:25, 10:50] for i in s], (16, 32), "stretch") for s in (before, after)
    ]
    expected = (encode_crops(model, cut[1]) - encode_crops(model, cut[0])).mean(0)
    assert torch.allclose(vec, expected, atol=1e-5)
    mirrored = crops_from_images(after, (16, 32), "stretch", (10, 5, 40, 20), mirror=True)
    assert np.array_equal(mirrored, cut[1][:, :, ::-1])


def test_saving_writes_a_copy_with_the_new_sliders_and_leaves_the_model_alone(tmp_path):
    path = model_file(tmp_path)
    before = load_attribute_model(path)
    effect.add_slider("tint", layers((0, 0, 1), 2, 1), layers((1, 0, 0), 2, 2), model=path)
    copy = effect.save_model_copy(tmp_path / "mine.safetensors", model=path)
    saved = load_attribute_model(copy)
    assert list(saved.attributes) == ["smile", "tint"]
    assert torch.equal(
        saved.attributes["tint"].vector, effect.load(path, "cpu").attributes["tint"].vector
    )
    assert saved.info["sliders_added"] == ["tint"]
    tint = saved.attributes["tint"]
    assert (tint.label, tint.source) == ("tint", "unpaired")
    assert tint.unit == "from the 2 'without' to the 2 'with' examples"
    help_text = next(p.help for p in effect.extra_params({"model": str(copy)}) if p.name == "tint")
    assert help_text == "1 = " + tint.unit
    assert list(load_attribute_model(path).attributes) == list(before.attributes) == ["smile"]
    with pytest.raises(BadInputError, match="copy"):
        effect.save_model_copy(path, model=path)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("smile", {}, "already has a slider 'smile'"),
        ("Region", {}, "parameter of the effect"),
        ("  ", {}, "needs a name"),
        ("ok", {"without": []}, "at least one image"),
        ("ok", {"paired": True}, "as many 'with' images"),
        ("ok", {"region": (0, 0, 2, 2)}, "less than 4x4"),
    ],
)
def test_bad_slider_requests_get_one_clear_error(tmp_path, name, kwargs, message):
    path = model_file(tmp_path)
    sets = {"without": layers((0, 0, 1), 2, 1), "with_": layers((1, 0, 0), 3, 2)}
    args = {**sets, **kwargs}
    with pytest.raises(BadInputError, match=message):
        effect.add_slider(name, args.pop("without"), args.pop("with_"), model=path, **args)
    assert effect.session_sliders(path) == []


def test_saving_without_new_sliders_is_refused(tmp_path):
    path = model_file(tmp_path)
    with pytest.raises(BadInputError, match="no sliders were built"):
        effect.save_model_copy(tmp_path / "copy.safetensors", model=path)
