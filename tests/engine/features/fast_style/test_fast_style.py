"""The fast-style effect: model files, strength, mixing, colours, masks, determinism."""

import json
from dataclasses import replace

import numpy as np
import pytest

from warpaint.app.cli import main
from warpaint.engine.features.fast_style import effect as fast_style
from warpaint.engine.runtime.apply import run_effect
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import save_model
from warpaint.engine.runtime.registry import get_effect

TINY_STYLES = ("mosaic", "waves")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A real two-style model trained by the command on tiny crops (seconds)."""
    path = tmp_path_factory.mktemp("fast-style") / "tiny.safetensors"
    code = main([
        "train", "style", "--presets", ",".join(TINY_STYLES), "-o", str(path), "--size", "32",
        "--crops", "2", "--gatys-evaluations", "4", "--steps", "12", "--batch", "2",
        "--half", "8", "--quarter", "16", "--blocks", "2", "--quiet", "--device", "cpu",
    ])  # fmt: skip  # argv: flags beside their values
    assert code == 0
    return path


def _photo(h=40, w=56):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.5 + 0.4 * np.sin(xs / 5), 0.5 + 0.4 * np.cos(ys / 7), (xs + ys) / (h + w)], 2)
    return np.concatenate([rgb, np.ones((h, w, 1))], 2).astype(np.float32)


def _spec():
    return replace(fast_style.SPEC, module=fast_style.__name__)


def _apply(params, image=None):
    spec = _spec()
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    return run_effect(ctx, spec, _photo() if image is None else image, spec.resolve(params))


def test_the_effect_runs_every_style_of_a_trained_model(tiny_model):
    for name in TINY_STYLES:
        out = _apply({"preset": name, "model": str(tiny_model)})
        assert out.shape == _photo().shape
        assert np.abs(out[..., :3] - _photo()[..., :3]).mean() > 1e-3, "the style changes it"
        np.testing.assert_array_equal(out[..., 3], _photo()[..., 3])


def test_inference_is_deterministic(tiny_model):
    a = _apply({"preset": "waves", "model": str(tiny_model)})
    b = _apply({"preset": "waves", "model": str(tiny_model)})
    np.testing.assert_array_equal(a, b)


def test_strength_zero_returns_the_input_exactly_and_half_is_halfway(tiny_model):
    image = _photo()
    image[..., 3] = 0.5  # alpha too
    zero = _apply({"preset": "mosaic", "model": str(tiny_model), "strength": 0.0}, image)
    np.testing.assert_array_equal(zero, image)
    full = _apply({"preset": "mosaic", "model": str(tiny_model)}, image)
    half = _apply({"preset": "mosaic", "model": str(tiny_model), "strength": 0.5}, image)
    # rgb() composites transparent pixels over grey before the network runs.
    base = image[..., :3] * 0.5 + 0.5 * 0.5
    np.testing.assert_allclose(half[..., :3], 0.5 * (base + full[..., :3]), atol=1e-5)


def test_style_mix_ends_are_the_single_styles(tiny_model):
    model = str(tiny_model)
    mosaic = _apply({"preset": "mosaic", "model": model})
    waves = _apply({"preset": "waves", "model": model})
    at_zero = _apply({"preset": "mosaic", "mix_with": "waves", "mix": 0.0, "model": model})
    at_one = _apply({"preset": "mosaic", "mix_with": "waves", "mix": 1.0, "model": model})
    between = _apply({"preset": "mosaic", "mix_with": "waves", "mix": 0.5, "model": model})
    np.testing.assert_allclose(at_zero, mosaic, atol=1e-6)
    np.testing.assert_allclose(at_one, waves, atol=1e-5)
    assert np.abs(between - mosaic).mean() > 1e-4 and np.abs(between - waves).mean() > 1e-4


def test_preserve_colours_keeps_the_chroma(tiny_model):
    from warpaint.engine.core.tensors import to_tensor
    from warpaint.engine.neural.style_losses import rgb_to_yiq

    image = _photo()
    out = _apply({"preset": "mosaic", "model": str(tiny_model), "preserve_colours": True}, image)
    yiq_in, yiq_out = rgb_to_yiq(to_tensor(image)[:, :3]), rgb_to_yiq(to_tensor(out)[:, :3])
    # Chroma kept (up to clipping at the gamut's edge), luminance restyled.
    assert (yiq_out[:, 1:] - yiq_in[:, 1:]).abs().mean() < 0.02
    assert (yiq_out[:, :1] - yiq_in[:, :1]).abs().mean() > 1e-3


def test_mask_limits_the_effect(tiny_model):
    image = _photo()
    mask = np.zeros((*image.shape[:2], 1), np.float32)
    mask[:, : image.shape[1] // 2] = 1.0
    out = _apply({"preset": "mosaic", "model": str(tiny_model), "mask": mask}, image)
    np.testing.assert_allclose(
        out[:, image.shape[1] // 2 :], image[:, image.shape[1] // 2 :], atol=1e-6
    )
    assert np.abs(out[:, :8, :3] - image[:, :8, :3]).mean() > 1e-3


@pytest.mark.parametrize("seed", [0, 7])
def test_big_images_run_in_tiles_that_match_one_pass(tiny_model, seed):
    import torch

    gen, styles = fast_style.load_generator(tiny_model, "cpu")
    assert gen.reads_origin, "the noise inputs are what tiles must agree on"
    x = torch.from_numpy(_photo(150, 230)[..., :3]).permute(2, 0, 1)[None].contiguous()
    mix = fast_style.style_mix(styles, "mosaic")
    with torch.inference_mode():
        whole = fast_style.stylize(gen, x, mix, seed=seed)
        tiled = fast_style.stylize(gen, x, mix, seed=seed, tile=64)
    assert (tiled - whole).abs().max() < 1e-4


@pytest.mark.parametrize(("preset", "moved"), [("pointillism", 0.02), ("mosaic", 0.1)])
def test_a_seed_is_another_arrangement_of_the_same_style_the_same_every_time(preset, moved):
    # The seed moves the picture through the network's noise: dots (pointillism)
    # or whole cells (mosaic, whose marks grow from the coarse noise) fall
    # elsewhere; colours and the amount of texture stay.
    from skimage import data

    from warpaint.engine.neural.bench_images import fit_rgb

    coffee = fit_rgb(data.coffee(), 192)
    image = np.concatenate([coffee, np.ones((*coffee.shape[:2], 1), np.float32)], 2)
    runs = {seed: _apply({"preset": preset, "seed": seed}, image) for seed in (0, 3, 11)}
    np.testing.assert_array_equal(_apply({"preset": preset}, image), runs[0])
    np.testing.assert_array_equal(_apply({"preset": preset, "seed": 3}, image), runs[3])
    for a, b in ((0, 3), (0, 11), (3, 11)):
        assert np.abs(runs[a][..., :3] - runs[b][..., :3]).mean() > moved, "another arrangement"
        means = [runs[k][..., :3].mean(axis=(0, 1)) for k in (a, b)]
        assert np.abs(means[0] - means[1]).max() < 0.05, "the same colours"
        spread = [runs[k][..., :3].std() for k in (a, b)]
        assert abs(spread[0] - spread[1]) < 0.15 * spread[0], "as much texture"


def test_thumbnail_is_rendered_by_the_preset(tiny_model):
    thumbs = {n: fast_style.preset_thumbnail(n, 48, str(tiny_model)) for n in TINY_STYLES}
    for t in thumbs.values():
        assert t.shape == (48, 48, 3) and t.dtype == np.uint8 and t.std() > 5
    assert not np.array_equal(thumbs["mosaic"], thumbs["waves"])
    with pytest.raises(BadInputError, match="no preset"):
        fast_style.preset_thumbnail("nonexistent", 48, str(tiny_model))


def test_the_model_file_records_its_styles_readable_without_torch(tiny_model):
    from warpaint.engine.runtime.models import read_meta

    assert tuple(read_meta(tiny_model, fast_style.MODEL_KIND)["styles"]) == TINY_STYLES
    record = json.loads(tiny_model.with_suffix(".json").read_text())
    assert record["styles"] == list(TINY_STYLES) and record["steps"] == 12


def test_corrupt_model_file_is_refused_with_one_line(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(BadInputError, match="not a readable safetensors file") as err:
        fast_style.load_generator(bad, "cpu")
    assert "\n" not in str(err.value)


def test_model_of_another_kind_is_refused(tmp_path):
    import torch

    other = tmp_path / "gaze.safetensors"
    save_model(other, {"w": torch.zeros(2)}, {"kind": "gaze", "format": 1})
    with pytest.raises(BadInputError, match="'gaze' model, not a 'fast-style'"):
        fast_style.load_generator(other, "cpu")


def test_model_whose_tensors_do_not_fit_its_record_is_refused(tmp_path, tiny_model):
    import torch

    from warpaint.engine.runtime.models import load_model

    tensors, meta = load_model(tiny_model, "fast-style")
    meta["config"]["quarter"] = 24  # the tensors are for 16 channels
    wrong = tmp_path / "wrong.safetensors"
    save_model(wrong, tensors, meta)
    with pytest.raises(BadInputError, match="not a usable fast-style model"):
        fast_style.load_generator(wrong, "cpu")
    tensors.pop(next(iter(tensors)))
    meta["config"]["quarter"] = 16
    save_model(wrong, {k: torch.as_tensor(v) for k, v in tensors.items()}, meta)
    with pytest.raises(BadInputError, match="not a usable fast-style model"):
        fast_style.load_generator(wrong, "cpu")


def test_missing_model_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WARPAINT_FAST_STYLE_MODEL", str(tmp_path / "absent.safetensors"))
    with pytest.raises(BadInputError, match="warpaint train style --presets"):
        fast_style.load_generator(None, "cpu")


def test_the_presets_are_the_styles_the_shipped_model_is_trained_from():
    from warpaint.engine.neural.style_samples import PRESET_STYLES

    assert get_effect("fast-style").param("preset").choices == tuple(PRESET_STYLES)


def test_every_shipped_preset_loads_and_renders():
    path = fast_style.shipped_model_path()
    if not path.is_file():
        pytest.skip(f"the presets' model is not installed yet ({path})")
    gen, styles = fast_style.load_generator(None, "cpu")
    assert len(styles) >= 8 and styles == fast_style.PRESETS
    assert path.stat().st_size < 5 * 2**20, "a few MB at most"
    thumbs = [fast_style.preset_thumbnail(name, 64) for name in styles]
    for a, b in zip(thumbs, thumbs[1:], strict=False):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 2, "presets differ"


def test_half_precision_runner_matches_float32_and_follows_the_mix():
    # The CUDA path's network (half precision, channels-last, the style mix in
    # one buffer the CUDA graph reads); on a CPU it runs eagerly.
    import torch

    gen, styles = fast_style.load_generator(None, "cpu")
    runner = fast_style._CudaRunner(gen)
    x = torch.from_numpy(_photo(45, 66)[..., :3]).permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        for name in (styles[0], styles[4]):
            mix = fast_style.style_mix(styles, name)
            exact = fast_style.stylize(gen, x, mix)
            half = runner(x, torch.tensor(mix))
            assert half.dtype == torch.float32 and half.shape == exact.shape
            assert (half - exact).abs().max() < 1e-2
        seeded = fast_style.stylize(gen, x, mix, seed=5)
        assert (
            runner(x, torch.tensor(mix), fast_style.noise_origin(5)) - seeded
        ).abs().max() < 1e-2
        assert (seeded - exact).abs().max() > 0.05, "the seed reaches the runner's noise"
    assert runner.fits(x)


def test_the_cuda_runners_network_compiles_as_one_graph_without_breaks():
    # The noise hashes cannot be compiled (torch.compiler.disable): the runner
    # makes their planes outside the network, so Inductor sees one whole graph.
    import torch

    gen, _ = fast_style.load_generator(None, "cpu")
    assert gen.reads_origin, "the shipped model has noise inputs"
    runner = fast_style._CudaRunner(gen)
    x = torch.rand(1, 3, 40, 52).half().contiguous(memory_format=torch.channels_last)
    torch._dynamo.reset()
    with torch.inference_mode():
        explained = torch._dynamo.explain(runner.network)(x, *runner.noise(x, (0, 4096)))
        whole = torch._dynamo.explain(runner.net)(x)
    torch._dynamo.reset()
    assert explained.graph_count == 1 and explained.graph_break_count == 0
    assert whole.graph_count > 1, "the generator alone breaks at the hashes"


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_cuda_path_replays_graphs_that_follow_the_mix():
    import torch

    gen_cpu, styles = fast_style.load_generator(None, "cpu")
    gen, _ = fast_style.load_generator(None, "cuda")
    x = torch.from_numpy(_photo(270, 481)[..., :3]).permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        for name in (styles[1], styles[6], styles[1]):
            mix = fast_style.style_mix(styles, name)
            exact = fast_style.stylize(gen_cpu, x, mix)
            fast = fast_style.stylize(gen, x.cuda(), mix).cpu()
            assert (fast - exact).abs().max() < 2e-2
    runner = fast_style._cuda_runner(gen)
    assert runner.graphed.recorded == 1 and not runner.graphed.failed


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_cuda_path_switches_to_the_compiled_network_and_it_follows_the_mix():
    import torch

    from warpaint.engine.neural.cuda_graphs import compile_enabled

    if not compile_enabled():
        pytest.skip("no Triton, so no compilation")
    gen_cpu, styles = fast_style.load_generator(None, "cpu")
    gen, _ = fast_style.load_generator(None, "cuda")
    x = torch.from_numpy(_photo(200, 333)[..., :3]).permute(2, 0, 1)[None].contiguous()
    runner = fast_style._cuda_runner(gen)
    with torch.inference_mode():
        fast_style.stylize(gen, x.cuda(), fast_style.style_mix(styles, styles[0]))  # queues it
        assert runner.compiled is not None and runner.compiled.wait(240)
        as_run = x.cuda().half().contiguous(memory_format=torch.channels_last)
        assert runner.compiled.failed is None and runner.compiled.get(as_run) is not None
        for name in (styles[2], styles[7], styles[2]):
            mix = fast_style.style_mix(styles, name)
            exact = fast_style.stylize(gen_cpu, x, mix)
            fast = fast_style.stylize(gen, x.cuda(), mix).cpu()
            assert (fast - exact).abs().max() < 2e-2
