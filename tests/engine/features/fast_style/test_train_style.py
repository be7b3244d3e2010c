"""`warpaint train style`: the distillation step learns, checkpoints resume,
and training runs under torchrun with two gloo processes."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from warpaint.app.cli import main
from warpaint.engine.features.fast_style.train import add_arguments
from warpaint.engine.runtime.models import load_model

MODELS = Path(__file__).resolve().parents[4] / "resources" / "models"

# argv: flags beside their values (hence fmt: skip)
TINY = ["--size", "32", "--crops", "2", "--gatys-evaluations", "4", "--batch", "2",
        "--half", "8", "--quarter", "16", "--blocks", "2", "--device", "cpu"]  # fmt: skip


def test_distillation_steps_lower_the_loss_on_tiny_crops():
    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_step, style_grams
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.neural.loss_networks import feature_network

    torch.manual_seed(0)
    net = feature_network("vgg19-random-slim", "cpu")
    contents = torch.rand(2, 3, 32, 32)
    # A fixed "stylized" target: colours remapped and a stripe pattern added.
    stripes = (torch.arange(32) % 6 < 3).float().view(1, 1, 1, 32)
    targets = (contents.flip(1) * 0.6 + 0.4 * stripes).clamp(0, 1)
    grams = style_grams(net, targets[:1], 32)
    gen = StyleGenerator(GeneratorConfig(styles=1, half=8, quarter=16, blocks=2))
    opt = torch.optim.Adam(gen.parameters(), lr=5e-3)
    index = torch.zeros(2, dtype=torch.long)
    with torch.enable_grad():
        losses = [
            distill_step(gen, net, opt, contents, targets, index, grams, DistillLoss(), 1)["total"]
            for _ in range(40)
        ]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def _preset_step_grads(workers: int, styles: int = 1, style_weight: float = 0.0):
    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_step, style_grams
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")  # first: building it may draw numbers
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    contents, targets = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    grams = style_grams(net, targets[:styles], 32)
    config = GeneratorConfig(styles=styles, half=8, quarter=16, blocks=2, noise=2, noise_head=True)
    gen = StyleGenerator(config)
    opt = torch.optim.SGD(gen.parameters(), lr=0.0)  # keeps the weights: only .grad changes
    index = torch.arange(4) % styles
    weights = DistillLoss(style=style_weight, pixel_scale=2, target_style=4.0)
    origins = [(40 * k, 8 * k) for k in range(4)]
    with torch.enable_grad():
        parts = distill_step(
            gen, net, opt, contents, targets, index, grams, weights, styles, origins, workers
        )
    return parts, [p.grad.clone() for p in gen.parameters()]


@pytest.fixture
def one_sample_a_task(monkeypatch):
    """Every sample its own task, however small the test's crops."""
    from warpaint.engine.neural import sample_split

    monkeypatch.setattr(sample_split, "MIN_TASK_PIXELS", 1)


def test_a_generator_step_run_sample_by_sample_equals_the_whole_batchs(one_sample_a_task):
    whole_parts, whole = _preset_step_grads(workers=1)
    parts, split = _preset_step_grads(workers=3)
    assert parts["total"] == pytest.approx(whole_parts["total"], rel=1e-5)
    scale = max(float(g.abs().max()) for g in whole)
    for a, b in zip(split, whole, strict=True):
        assert float((a - b).abs().max()) <= 1e-5 * scale


def test_a_batch_of_several_styles_with_a_style_term_stays_whole(monkeypatch):
    from warpaint.engine.features.fast_style import distill

    calls: list[tuple[int | None, int]] = []
    real = distill.backward_by_sample

    def spy(loss_of, batch, leaves, workers=None, per_task=1):
        calls.append((workers, per_task))
        return real(loss_of, batch, leaves, workers, per_task)

    monkeypatch.setattr(distill, "backward_by_sample", spy)
    _preset_step_grads(workers=3, styles=2, style_weight=0.5)  # the style term's mean is per style
    _preset_step_grads(workers=3, styles=2, style_weight=0.0)
    # 32 px crops: the four samples of the batch in one task (`samples_per_task`).
    assert calls == [(1, 32), (3, 32)]


def test_a_gatys_batchs_gradient_computed_image_by_image_equals_the_whole_batchs(
    one_sample_a_task,
):
    from warpaint.engine.features.fast_style.distill import GATYS_STYLE_WEIGHT, by_sample
    from warpaint.engine.features.stylize.optim import gatys_loss, style_targets
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")
    g = torch.Generator().manual_seed(2)
    contents, style = torch.rand(3, 3, 32, 32, generator=g), torch.rand(1, 3, 48, 48, generator=g)
    loss_fn = gatys_loss(net, contents, style_targets(net, [(style, 1.0)], 32), GATYS_STYLE_WEIGHT)
    x = (contents + 0.1 * torch.rand(3, 3, 32, 32, generator=g)).requires_grad_(True)
    with torch.enable_grad():
        whole, _ = loss_fn(x)
        whole.backward()
        want, x.grad = x.grad.clone(), None
        seen: list[slice] = []

        def watched(img, rows=slice(None)):
            seen.append(rows)
            return loss_fn(img, rows)

        split, parts = by_sample(watched, workers=3)(x)
    assert sorted(r.start for r in seen) == [0, 1, 2]  # one image a task
    assert not split.requires_grad
    assert float(split) == pytest.approx(float(whole.detach()), rel=1e-5)
    assert set(parts) == {"style", "content"}
    assert float((x.grad - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_pooled_pixel_loss_ignores_fine_texture_but_not_colour():
    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_loss, style_grams
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")
    target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float() - 0.5
    textured = target + 0.2 * checker  # zero mean over every 2x2 block
    grams = style_grams(net, target, 32)
    index = torch.zeros(1, dtype=torch.long)

    def pixel(out, scale):
        weights = DistillLoss(pixel_scale=scale)
        return distill_loss(net, out, target, grams, index, weights)[1]["pixel"]

    assert pixel(textured, 1) > 0.09
    assert pixel(textured, 4) < 1e-6
    assert pixel(target + 0.1, 4) > 0.09  # a colour shift still counts


def test_the_feature_loss_compares_the_output_with_the_target_not_the_photo():
    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_loss, style_grams
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")
    gen = torch.Generator().manual_seed(2)
    content, target = (
        torch.rand(1, 3, 32, 32, generator=gen),
        torch.rand(1, 3, 32, 32, generator=gen),
    )
    grams = style_grams(net, target, 32)
    index = torch.zeros(1, dtype=torch.long)

    def feature(out):
        return distill_loss(net, out, target, grams, index, DistillLoss())[1]["feature"]

    assert feature(target) < 1e-9 < 1e-3 < feature(content)


def test_target_gram_loss_rewards_the_texture_wherever_its_dots_sit():
    """Moving the target's fine texture by one pixel costs the pixel L1 more
    than removing it; the target-Gram term says the opposite."""
    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_loss, style_grams
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")
    ramp = torch.linspace(0.3, 0.7, 32)
    base = torch.stack(
        [
            ramp.view(1, 32).expand(32, 32),
            ramp.view(32, 1).expand(32, 32),
            torch.full((32, 32), 0.5),
        ]
    )[None]
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float() - 0.5
    target = base + 0.3 * checker
    moved = base - 0.3 * checker  # the same texture one pixel over
    grams = style_grams(net, target, 32)
    index = torch.zeros(1, dtype=torch.long)

    def parts(out):
        return distill_loss(net, out, target, grams, index, DistillLoss(target_style=1.0))[1]

    assert parts(target)["target_style"] < 1e-6
    assert parts(moved)["pixel"] > parts(base)["pixel"]
    assert parts(moved)["target_style"] < 0.2 * parts(base)["target_style"]


def test_training_writes_model_record_and_resumes_from_its_checkpoint(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    args = ["train", "style", "--presets", "waves", "-o", str(out), *TINY,
            "--checkpoint-every", "4"]  # fmt: skip  # argv: flags beside their values
    assert main([*args, "--steps", "4"]) == 0
    first, _ = load_model(out, "fast-style")
    ckpt, meta = load_model(tmp_path / "m.ckpt.safetensors", "fast-style-checkpoint")
    assert meta["step"] == 4 and any(k.startswith("opt.") for k in ckpt)
    capsys.readouterr()
    assert main([*args, "--steps", "8", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "targets: reused" in err and "resumed at step 4" in err
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["steps"] == 8 and record["styles"] == ["waves"] and record["world_size"] == 1
    second, _ = load_model(out, "fast-style")
    assert any(not torch.equal(first[k], second[k]) for k in first), "training went on"


def test_training_without_styles_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "style", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "give style images or --presets" in capsys.readouterr().err
    assert main(["train", "style", "--presets", "nope", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_gloo_processes_train_in_step_under_torchrun(tmp_path):
    out = tmp_path / "ddp.safetensors"
    # One host: gloo talks over loopback whatever the machine's hostname resolves to.
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "warpaint.app.cli", "train", "style", "--presets", "mosaic", "-o", str(out),
           *TINY, "--steps", "3", "--quiet"]  # fmt: skip  # argv: flags beside their values
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, _why(done.stderr)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["world_size"] == 2 and record["ranks_in_sync"] is True
    # Each process stylised its own share of the crops.
    assert (tmp_path / "ddp.targets-0of2.safetensors").is_file()
    assert (tmp_path / "ddp.targets-1of2.safetensors").is_file()


def _why(stderr: str) -> str:
    """The lines a failing rank printed about itself, not only torchrun's summary."""
    lines = stderr.splitlines()
    words = ("error", "terminate", "what()", "exception", "abort", "signal", "warn")
    telling = [ln for ln in lines if any(w in ln.lower() for w in words)]
    return "\n".join(telling[:40] + ["--- first lines ---", *lines[:30]])


@pytest.mark.parametrize(
    ("gatys", "losses"),
    [("efficientnet-lite0", "vgg19-random-slim"), ("vgg19-random-slim", "efficientnet-lite0")],
)
def test_targets_and_losses_each_take_their_network_and_the_record_says_which(
    tmp_path, gatys, losses
):
    out = tmp_path / "e.safetensors"
    # argv: flags beside their values (hence fmt: skip)
    args = ["train", "style", "--presets", "tiles", "-o", str(out), *TINY, "--steps", "2",
            "--gatys-network", gatys, "--loss-network", losses, "--quiet"]  # fmt: skip
    assert main(args) == 0
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["gatys"]["network"] == gatys
    assert record["training_loss_network"] == losses
    load_model(out, "fast-style")  # a usable model


def test_the_defaults_are_the_shipped_presets_recipe(tmp_path):
    out = tmp_path / "d.safetensors"
    assert main(["train", "style", "--presets", "tiles,cubist", "-o", str(out), *TINY,
                 "--steps", "1", "--quiet"]) == 0  # fmt: skip  # argv: flags beside their values
    record = json.loads((tmp_path / "d.json").read_text())
    shipped = json.loads((MODELS / "fast-style.json").read_text())
    assert record["gatys"]["network"] == shipped["gatys"]["network"]
    seeds = shipped["gatys"]["seed_marks"]
    assert record["gatys"]["seed_marks"] == {"tiles": seeds["tiles"], "cubist": seeds["cubist"]}
    assert seeds["cubist"] > 0 == seeds["tiles"]
    for key in ("training_loss_network", "loss_weights"):
        assert record[key] == shipped[key], key
    for key in ("noise", "noise_head", "coarse_noise", "coarse_cell"):
        assert record["config"][key] == shipped["config"][key], key
    # What the run above set by hand, the parser's defaults give as shipped.
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for key in ("steps", "size", "crops", "seed"):
        assert parser.get_default(key) == shipped[key], key
    assert f"--batch {parser.get_default('batch')} " in shipped["command"]  # not in the record


def test_style_images_are_not_seeded_unless_asked(tmp_path):
    from PIL import Image

    style = tmp_path / "cubist.png"  # named like a seeded preset: still an image of the user's
    Image.new("RGB", (32, 32), (200, 120, 40)).save(style)
    record = _trained_record(tmp_path, "u", str(style))
    assert "seed_marks" not in record["gatys"] and record["config"]["coarse_noise"] == 0
    asked = _trained_record(tmp_path, "a", str(style), "--seed-marks", "0.25")
    assert asked["gatys"]["seed_marks"]["cubist"] == 0.25 and asked["config"]["coarse_noise"] == 4


def test_gram_terms_weigh_the_same_whatever_the_networks_layer_weights_sum_to():
    """EfficientNet's style-layer weights sum to 100 (for the stylize effect);
    the distillation loss scales them to 1, as VGG's are."""
    from dataclasses import replace

    from warpaint.engine.features.fast_style.distill import DistillLoss, distill_loss, style_grams
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network("vgg19-random-slim", "cpu")
    louder = replace(net, style_weights=tuple(100 * w for w in net.style_weights))
    gen = torch.Generator().manual_seed(3)
    out, target = torch.rand(1, 3, 32, 32, generator=gen), torch.rand(1, 3, 32, 32, generator=gen)
    grams = style_grams(net, torch.rand(1, 3, 32, 32, generator=gen), 32)
    index = torch.zeros(1, dtype=torch.long)
    weights = DistillLoss(target_style=1.0)
    a = distill_loss(net, out, target, grams, index, weights)[1]
    b = distill_loss(louder, out, target, grams, index, weights)[1]
    assert a["style"] > 1e-3 and a["target_style"] > 1e-3
    assert abs(a["style"] - b["style"]) < 1e-6 * a["style"]
    assert abs(a["target_style"] - b["target_style"]) < 1e-6 * a["target_style"]


def test_a_model_file_with_dilated_blocks_still_loads_with_a_wider_halo(tmp_path):
    """`train style` no longer offers dilated blocks, but the model header's
    `dilated` field is still read: files trained with them keep working."""
    from dataclasses import replace

    from warpaint.engine.features.fast_style import effect as fast_style
    from warpaint.engine.features.fast_style.distill import generator_tensors
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.features.fast_style.train import FORMAT, MODEL_KIND
    from warpaint.engine.runtime.models import save_model

    out = tmp_path / "dil.safetensors"
    config = GeneratorConfig(styles=1, half=8, quarter=16, blocks=2, dilated=True)
    meta = {"kind": MODEL_KIND, "format": FORMAT, "styles": ["waves"], "config": config.to_json()}
    save_model(out, generator_tensors(StyleGenerator(config)), meta)
    gen, _ = fast_style.load_generator(out, "cpu")
    assert [b.conv1.dilation[0] for b in gen.blocks] == [1, 2]  # TINY: two blocks
    plain = StyleGenerator(replace(gen.config, dilated=False))
    assert fast_style.halo(gen) >= gen.receptive_radius() > plain.receptive_radius()
    with torch.inference_mode():  # smaller than the dilation's reflection padding allows
        assert fast_style.stylize(gen, torch.rand(1, 3, 9, 13), [1.0]).shape == (1, 3, 9, 13)


def _trained_record(tmp_path, name: str, *options: str) -> dict:
    """Train the tiles preset for one tiny step with `options`; the run's record."""
    out = tmp_path / f"{name}.safetensors"
    # argv: flags beside their values (hence fmt: skip)
    args = ["train", "style", "--presets", "tiles", "-o", str(out), *TINY, "--steps", "1",
            "--loss-network", "vgg19-random-slim", "--quiet", *options]  # fmt: skip
    assert main(args) == 0
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_the_record_names_the_gram_losses_layers_those_of_the_loss_network(tmp_path):
    layers = _trained_record(tmp_path, "d")["gram_layers"]
    assert list(layers) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--gatys-network", "alexnet"], "unknown loss network 'alexnet'"),
        (["--coarse-noise", "2", "--coarse-cell", "0"], "--coarse-cell at least 4 px"),
        (["--coarse-noise", "2", "--seed-marks", "0.5"], "needs --coarse-noise 3 or more"),
        (["--coarse-noise", "3", "--seed-marks", "waves=0.5"], "no style 'waves'"),
        (["--coarse-noise", "3", "--seed-marks", "tiles=big"], "is not A or NAME=A"),
        (["--coarse-noise", "3", "--seed-marks", "-1"], "must be 0 or more"),
    ],
)
def test_bad_training_options_are_a_clear_error(tmp_path, capsys, options, message):
    # argv: flags beside their values (hence fmt: skip)
    args = ["train", "style", "--presets", "tiles", "-o", str(tmp_path / "m.safetensors"),
            *TINY, "--steps", "1", "--loss-network", "vgg19-random-slim", *options]  # fmt: skip
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_coarse_noise_is_trained_recorded_and_loaded(tmp_path):
    from warpaint.engine.features.fast_style import effect as fast_style

    out = tmp_path / "coarse.safetensors"
    # argv: flags beside their values (hence fmt: skip)
    args = ["train", "style", "--presets", "waves", "-o", str(out), *TINY, "--steps", "1",
            "--noise", "0", "--coarse-noise", "2", "--coarse-cell", "16", "--quiet"]  # fmt: skip
    assert main(args) == 0
    config = json.loads((tmp_path / "coarse.json").read_text())["config"]
    assert (config["coarse_noise"], config["coarse_cell"]) == (2, 16)
    gen, _ = fast_style.load_generator(out, "cpu")
    assert gen.reads_origin and gen.coarse is not None and gen.coarse.in_channels == 2
    x = torch.rand(1, 3, 40, 36)
    with torch.inference_mode():
        a = gen(x, torch.ones(1), origin=(0, 0))
        b = gen(x, torch.ones(1), origin=(64, 0))
    assert (a - b).abs().max() > 0, "the result follows the noise at its place"


def test_views_without_flips_are_the_crops_at_their_corners_on_the_grid():
    from warpaint.engine.features.fast_style.distill import random_views

    contents, targets = torch.rand(3, 3, 40, 40), torch.rand(3, 3, 40, 40)
    c, t, corners = random_views(
        contents, targets, 16, torch.Generator().manual_seed(1), flip=False, grid=4
    )
    assert len(corners) == 3 and len(set(corners)) > 1
    for i, (y, x) in enumerate(corners):
        assert y % 4 == 0 and x % 4 == 0
        assert torch.equal(c[i], contents[i, :, y : y + 16, x : x + 16])
        assert torch.equal(t[i], targets[i, :, y : y + 16, x : x + 16])


def test_mark_seeds_are_the_generators_coarse_noise_wherever_a_crop_sits():
    from warpaint.engine.features.fast_style.distill import mark_seeds
    from warpaint.engine.features.fast_style.generator import lattice_noise

    whole = mark_seeds(64, [(256, 512)], 16, "cpu")
    part = mark_seeds(32, [(256 + 20, 512 + 8)], 16, "cpu")
    assert torch.allclose(part[0], whole[0, :, 20:52, 8:40], atol=1e-6)
    assert whole.min() >= -1 and whole.max() < 1 and whole.std() > 0.1
    # The generator samples the same field every 4 px (its 1/4-size features).
    quarter = lattice_noise(16, 16, 256, 512, 4, 16, 4, "cpu")
    assert torch.allclose(quarter[0, :3] * 2 - 1, whole[0, :, 2::4, 2::4], atol=1e-6)


def test_seeded_targets_start_from_the_coarse_noise_and_the_record_says_so(tmp_path, monkeypatch):
    from warpaint.engine.features.fast_style.distill import mark_seeds
    from warpaint.engine.features.fast_style.train import _mark_place
    from warpaint.engine.runtime import cpu_threads

    # Both runs on the same threads whatever else the machine runs: the style's
    # Gram targets on one thread or two differ in the last bits.
    monkeypatch.setattr(cpu_threads, "job_threads", lambda: None)
    monkeypatch.setattr(cpu_threads, "job_pool_width", lambda default: 1)

    def run(name: str, *options: str) -> tuple[dict, dict]:
        out = tmp_path / f"{name}.safetensors"
        # argv: flags beside their values (hence fmt: skip)
        args = ["train", "style", "--presets", "tiles,waves", "-o", str(out), *TINY,
                "--steps", "1", "--loss-network", "vgg19-random-slim", "--quiet", "--work",
                str(tmp_path), "--coarse-noise", "3", "--coarse-cell", "8", *options]  # fmt: skip
        assert main(args) == 0
        tensors, _ = load_model(tmp_path / f"{name}.targets-0of1.safetensors", "fast-style-targets")
        return json.loads((tmp_path / f"{name}.json").read_text()), tensors

    plain_record, plain = run("p")
    record, seeded = run("s", "--seed-marks", "tiles=0.5")
    assert record["gatys"]["seed_marks"] == {"tiles": 0.5, "waves": 0.0}
    assert "seed_marks" not in plain_record["gatys"]
    assert torch.equal(plain["contents"], seeded["contents"])
    assert torch.equal(plain["targets"][1], seeded["targets"][1]), "waves is not seeded"
    seeds = mark_seeds(32, [_mark_place(i, 8) for i in range(2)], 8, "cpu")
    change = (seeded["targets"][0] - plain["targets"][0]).flatten()
    # The targets moved the way the noise pushed them: where a target's marks grow is the noise's.
    assert torch.corrcoef(torch.stack([change, seeds.flatten()]))[0, 1] > 0.3
