"""The autoencoder network and `warpaint train autoencoder` on tiny generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.features.eyes.attributes import encode_crops, write_attribute_file
from warpaint.engine.features.eyes.autoencoder import (
    AutoencoderConfig,
    ConvAutoencoder,
    load_attribute_model,
)
from warpaint.engine.features.eyes.train_autoencoder import TrainData, train_steps
from warpaint.engine.runtime.errors import BadInputError


def blob(red: bool, big: bool, rng: np.random.Generator, side: int = 32) -> np.ndarray:
    """(side, side, 3) float32: a disc on grey; red or blue, big or small, jittered."""
    y, x = np.mgrid[0:side, 0:side] + 0.5
    cx, cy = side / 2 + rng.uniform(-2, 2, 2)
    r = side * (0.33 if big else 0.17) * rng.uniform(0.9, 1.1)
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < r * r)[..., None]
    colour = np.array([0.85, 0.2, 0.15] if red else [0.15, 0.25, 0.85])
    grey = rng.uniform(0.4, 0.6)
    img = np.where(disc, colour, grey) + rng.normal(0, 0.02, (side, side, 3))
    return np.clip(img, 0, 1).astype(np.float32)


def blob_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32, 32, 3) images and (n, 2) labels (+1/-1) for "Red" and "Big"."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((n, 2)) < 0.5, 1, -1)
    images = np.stack([blob(r > 0, b > 0, rng) for r, b in labels])
    return images, labels


def test_network_shapes_and_range():
    net = ConvAutoencoder(AutoencoderConfig(48, 64, latent=16, channels=(4, 8, 8, 8))).eval()
    x = torch.rand(3, 3, 48, 64)
    with torch.no_grad():
        z = net.encode(x)
        y = net.decode(z)
    assert z.shape == (3, 16) and y.shape == x.shape
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    with pytest.raises(ValueError, match="expected"):
        net.encode(torch.rand(1, 3, 32, 32))


def test_crop_sizes_must_fit_the_stages():
    with pytest.raises(BadInputError, match="multiple of 16"):
        AutoencoderConfig(50, 64)


@pytest.mark.slow
def test_training_lowers_the_loss_and_vectors_point_the_labelled_way():
    images, labels = blob_dataset(96, seed=0)
    torch.manual_seed(0)
    net = ConvAutoencoder(AutoencoderConfig(32, 32, latent=8, channels=(8, 16)))
    data = TrainData((images * 255).astype(np.uint8), {})
    history, _ = train_steps(net, data, 120, batch=16, lr=3e-3, seed=0)
    first = np.mean([h["recon"] for h in history[:10]])
    last = np.mean([h["recon"] for h in history[-10:]])
    assert last < 0.5 * first
    from warpaint.engine.features.eyes.attributes import balanced_vectors, roc_auc
    from warpaint.engine.features.eyes.autoencoder import AttributeModel

    model = AttributeModel(net, "stretch")
    z = encode_crops(model, images)
    vecs = balanced_vectors(z, torch.from_numpy(labels.astype(np.float32)))
    # Held-out images: z . v ranks the attribute, and the decoded edit makes
    # the disc redder (Red) or covers more of the crop with colour (Big).
    test_images, test_labels = blob_dataset(64, seed=1)
    zt = encode_crops(model, test_images)
    assert roc_auc((zt @ vecs[0]).numpy(), test_labels[:, 0]) > 0.8
    with torch.no_grad():
        base = net.decode(zt)
        redder = net.decode(zt + vecs[0]) - base
    assert float(redder[:, 0].mean()) > 0 > float(redder[:, 2].mean())


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run():
    images, _ = blob_dataset(32, seed=2)
    data = TrainData((images * 255).astype(np.uint8), {})
    config = AutoencoderConfig(32, 32, latent=4, channels=(4, 8))
    torch.manual_seed(0)
    straight = ConvAutoencoder(config)
    torch.manual_seed(0)
    resumed = ConvAutoencoder(config)
    train_steps(straight, data, 12, batch=8, seed=5)
    saved: dict[str, object] = {}

    def keep(step, opt):
        saved["state"] = {k: v.clone() for k, v in resumed.state_dict().items()}
        saved["opt"] = opt.state_dict()

    train_steps(resumed, data, 12, stop=6, batch=8, seed=5, checkpoint=keep, checkpoint_every=6)
    torch.manual_seed(1)
    again = ConvAutoencoder(config)
    again.load_state_dict(saved["state"])
    opt = torch.optim.Adam(again.parameters(), lr=2e-3)
    opt.load_state_dict(saved["opt"])
    train_steps(again, data, 12, start=6, batch=8, seed=5, optimizer=opt)
    for a, b in zip(straight.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_train_command_on_a_folder_with_a_celeba_attribute_file(tmp_path, capsys):
    """End to end: PNGs + list_attr file -> model with one slider per attribute, resumable."""
    images, labels = blob_dataset(64, seed=3)
    folder = tmp_path / "faces"
    folder.mkdir()
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, img in zip(names, images, strict=True):
        Image.fromarray((img * 255).astype(np.uint8)).resize((40, 48)).save(folder / name)
    attr = tmp_path / "list_attr_celeba.txt"
    write_attribute_file(attr, ["Red", "Big"], names, labels)
    out = tmp_path / "m.safetensors"
    args = ["train", "autoencoder", str(folder), "-o", str(out), "--size", "64",
            "--latent", "8", "--width", "4", "--attributes", str(attr), "--batch", "8",
            "--checkpoint-every", "10", "--quiet"]  # fmt: skip  # argv: flags beside their values
    assert main([*args, "--steps", "20"]) == 0
    assert main([*args, "--steps", "30", "--resume"]) == 0
    model = load_attribute_model(out)
    assert sorted(model.attributes) == ["big", "red"]
    assert model.attributes["red"].source == "balanced"
    assert model.alignment == "centre-crop" and model.config.height == 64
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps"] == 30 and record["resumed_from_step"] == 20
    assert record["sliders"] == ["big", "red"]
    assert (tmp_path / "m.ckpt.safetensors").is_file()


def test_train_command_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "autoencoder", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "give a FOLDER" in capsys.readouterr().err
    bad = tmp_path / "attrs.txt"
    bad.write_text("1\nA\nx.png 7\n")
    (tmp_path / "imgs").mkdir()
    # argv: flags beside their values (hence fmt: skip)
    code = main(["train", "autoencoder", str(tmp_path / "imgs"), "-o",
                 str(tmp_path / "m.safetensors"), "--attributes", str(bad)])  # fmt: skip
    assert code == 2
    assert "attrs.txt:3: value '7'" in capsys.readouterr().err


def test_eye_pairs_differ_only_by_their_attribute():
    from warpaint.engine.features.eyes.train_autoencoder import EYE_ATTRIBUTES, eye_pair_looks

    rng = np.random.default_rng(0)
    for attr in EYE_ATTRIBUTES:
        app1, app2, look1, look2 = eye_pair_looks(attr.name, rng)
        if attr.name == "iris_colour":
            assert look1 == look2 and app1.iris_colour != app2.iris_colour
            assert app2.iris_colour[2] > app2.iris_colour[0]  # blue at the + end
            continue
        assert app1 == app2
        changed = {
            f
            for f in ("yaw", "pitch", "openness", "pupil")
            if getattr(look1, f) != getattr(look2, f)
        }
        assert len(changed) == 1


@pytest.mark.slow
def test_rendered_training_crops_do_not_depend_on_the_number_of_workers():
    from warpaint.engine.features.eyes.train_autoencoder import (
        CHUNK,
        render_eye_labelled,
        render_eye_singles,
    )

    n = CHUNK + 7  # crosses a chunk boundary
    one = render_eye_singles(n, seed=3, workers=1)
    two = render_eye_singles(n, seed=3, workers=2)
    assert one.shape == (n, 48, 64, 3) and np.array_equal(one, two)
    assert not np.array_equal(one[0], one[CHUNK])  # chunks have their own streams
    images, labels = render_eye_labelled("pupil", 6, seed=3)
    assert labels.tolist() == [1, -1, 1, -1, 1, -1] and images.shape[0] == 6


def blob_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32, 32, 3) uint8 small discs and the same discs (colour, place, noise) big."""
    small, big = [], []
    for i in range(n):
        red = i % 2 == 0
        small.append(blob(red, False, np.random.default_rng([seed, i])))
        big.append(blob(red, True, np.random.default_rng([seed, i])))
    return (np.stack(small) * 255).astype(np.uint8), (np.stack(big) * 255).astype(np.uint8)


def code_spread(net: ConvAutoencoder, x1: np.ndarray, x2: np.ndarray) -> float:
    """Share of the pairs' code differences that their mean does not explain."""
    from warpaint.engine.features.eyes.autoencoder import AttributeModel

    model = AttributeModel(net, "stretch")
    d = encode_crops(model, x2 / 255.0) - encode_crops(model, x1 / 255.0)
    return float((d - d.mean(0)).pow(2).sum() / d.pow(2).sum())


def test_the_consistency_term_pulls_pair_differences_onto_one_direction():
    images, _ = blob_dataset(32, seed=4)
    x1, x2 = blob_pairs(32, seed=5)
    data = TrainData((images * 255).astype(np.uint8), {"big": (x1, x2)})
    config = AutoencoderConfig(32, 32, latent=8, channels=(8, 16))
    spreads = {}
    for weight in (0.0, 200.0):
        torch.manual_seed(0)
        net = ConvAutoencoder(config)
        history, _ = train_steps(
            net, data, 60, batch=16, lr=3e-3, pair_weight=1.0, consistency=weight, seed=0
        )
        assert ("spread" in history[-1]) == (weight > 0)
        held_out = blob_pairs(32, seed=6)
        spreads[weight] = code_spread(net, *held_out)
    assert spreads[200.0] < 0.7 * spreads[0.0]


def test_the_separation_term_narrows_other_eyes_along_the_slider():
    images, _ = blob_dataset(48, seed=4)
    x1, x2 = blob_pairs(32, seed=5)
    data = TrainData((images * 255).astype(np.uint8), {"big": (x1, x2)})
    config = AutoencoderConfig(32, 32, latent=8, channels=(8, 16))
    from warpaint.engine.features.eyes.autoencoder import AttributeModel

    spread_along = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(0)
        net = ConvAutoencoder(config)
        history, _ = train_steps(
            net, data, 60, batch=16, lr=3e-3, pair_weight=1.0, separation=weight, seed=0
        )
        assert ("along" in history[-1]) == (weight > 0)
        model = AttributeModel(net, "stretch")
        h1, h2 = blob_pairs(32, seed=6)
        v = (encode_crops(model, h2 / 255.0) - encode_crops(model, h1 / 255.0)).mean(0)
        z = encode_crops(model, blob_dataset(64, seed=7)[0])
        spread_along[weight] = float((z @ v).var() / v.pow(2).sum() ** 2)
    assert spread_along[100.0] < 0.7 * spread_along[0.0]


def test_extra_turns_must_name_a_paired_attribute():
    x1, x2 = blob_pairs(4, seed=5)
    data = TrainData(x1, {"big": (x1, x2)})
    net = ConvAutoencoder(AutoencoderConfig(32, 32, latent=4, channels=(4, 8)))
    with pytest.raises(BadInputError, match="no paired data for small"):
        train_steps(net, data, 2, batch=4, pair_weight=1.0, extra_turns=["small"])
