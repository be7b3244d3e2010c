"""Feature inversion: shallow layers give the image back, deep ones less; CLI."""

import numpy as np
import torch
from PIL import Image
from skimage import data, transform

from warpaint.app.cli import main
from warpaint.engine.features.stylize.optim import invert_features
from warpaint.engine.neural.loss_networks import feature_network


def test_inverting_a_shallow_layer_rebuilds_the_image_better_than_a_deep_one():
    rgb = transform.resize(data.astronaut() / 255.0, (48, 48), anti_aliasing=True)
    image = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None].contiguous()
    net = feature_network("vgg19-random")

    def error(layer):
        out = invert_features(net, image, layer, evaluations=100, tv_weight=0.01)
        return float((out - image).abs().mean())

    noise_error = float((torch.full_like(image, 0.5) - image).abs().mean())
    shallow, deep = error("relu1_1"), error("relu4_1")
    assert shallow < 0.5 * noise_error
    assert shallow < deep


def test_cli_inversion_of_a_chosen_layer(tmp_path):
    src, out = tmp_path / "in.png", tmp_path / "inv.png"
    rgb = transform.resize(data.astronaut(), (40, 40), anti_aliasing=True)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(src)
    code = main([
        "apply", "inversion", str(src), "--set", "layer=relu2_1", "--set", "iterations=3",
        "-o", str(out),
    ])  # fmt: skip  # argv: flags beside their values
    assert code == 0
    assert Image.open(out).size == (40, 40)


def test_inversion_on_efficientnet_and_a_layer_it_lacks(tmp_path, capsys):
    src, out = tmp_path / "in.png", tmp_path / "inv.png"
    rgb = transform.resize(data.astronaut(), (40, 40), anti_aliasing=True)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(src)
    args = ["apply", "inversion", str(src), "--set", "network=efficientnet-lite0"]
    code = main([*args, "--set", "layer=block2", "--set", "iterations=3", "-o", str(out)])
    assert code == 0
    assert Image.open(out).size == (40, 40)
    code = main([*args, "--set", "layer=relu2_1", "-o", str(tmp_path / "x.png")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "relu2_1" in err and "efficientnet-lite0" in err and "\n" not in err
