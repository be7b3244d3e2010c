"""Texture synthesis: any output size, tileable results wrap without a seam."""

import numpy as np
import torch
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.features.stylize.optim import synthesize_texture
from warpaint.engine.neural.loss_networks import feature_network
from warpaint.engine.neural.style_samples import strokes


def _seam(x: np.ndarray) -> float:
    """Wrap-around seam metric: |log| of the mean |difference| across the
    wrap (last column to first, last row to first) over the mean difference
    between neighbouring columns/rows inside the image. 0 when the wrap
    looks like any other pair of neighbours; a seam (too sharp or too
    smooth, e.g. border effects) raises it."""
    inner = 0.5 * (np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=0)).mean())
    wrap = 0.5 * (np.abs(x[:, 0] - x[:, -1]).mean() + np.abs(x[0] - x[-1]).mean())
    return abs(float(np.log(wrap / inner)))


def test_tileable_textures_wrap_around_without_a_seam():
    sample = torch.from_numpy(strokes(64)).permute(2, 0, 1)[None].contiguous()
    net = feature_network("vgg19-random")

    def synth(tileable):
        out = synthesize_texture(
            net, sample, (48, 64), evaluations=30, tileable=tileable, scales=1, seed=1
        )
        return out[0].permute(1, 2, 0).numpy()

    tiled, plain = synth(True), synth(False)
    assert tiled.shape == (48, 64, 3)
    assert _seam(tiled) < 0.2
    assert _seam(tiled) < 0.5 * _seam(plain)
    assert tiled.std() > 0.15, "a texture, not the grey start"


def test_cli_texture_output_has_the_asked_size_not_the_samples(tmp_path):
    sample, out = tmp_path / "sample.png", tmp_path / "tex.png"
    Image.fromarray((strokes(48) * 255).astype(np.uint8)).save(sample)
    code = main([
        "apply", "texture", str(sample), "--set", "width=80", "--set", "height=56",
        "--set", "iterations=2", "--set", "scales=1", "-o", str(out),
    ])  # fmt: skip  # argv: flags beside their values
    assert code == 0
    image = Image.open(out)
    assert image.size == (80, 56)
    assert np.asarray(image.convert("RGB")).std() > 5
