"""Running effects: the blur itself, tiling, GPU-memory fallback, previews, committing."""

import numpy as np
import pytest
import torch

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.core.resample import resize
from warpaint.engine.features.blur.effect import gaussian_blur, gaussian_kernel1d
from warpaint.engine.runtime.apply import EffectResult, commit_effect, effect_job, run_effect
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext, JobRunner, JobState
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec, get_effect


def ctx(device="cpu"):
    return JobContext(Job(lambda c: None, device=device))


def rgba_noise(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 4), dtype=np.float32)


def test_kernel_is_a_normalised_sampled_gaussian():
    k = gaussian_kernel1d(2.0)
    assert k.numel() == 13  # radius ceil(3 sigma) = 6
    assert float(k.sum()) == pytest.approx(1.0)
    x = np.arange(-6, 7)
    expected = np.exp(-0.5 * (x / 2.0) ** 2)
    np.testing.assert_allclose(k.numpy(), expected / expected.sum(), rtol=1e-6)


def test_blur_of_an_impulse_is_the_separable_kernel():
    image = torch.zeros(1, 1, 41, 41)
    image[0, 0, 20, 20] = 1.0
    out = gaussian_blur(image, 2.0)
    k = gaussian_kernel1d(2.0).numpy()
    expected = np.zeros((41, 41), np.float32)
    expected[14:27, 14:27] = np.outer(k, k)
    np.testing.assert_allclose(out[0, 0].numpy(), expected, atol=1e-7)


def test_blur_keeps_a_constant_image_constant_to_the_borders():
    out = gaussian_blur(torch.full((1, 3, 30, 50), 0.25), 3.0)
    torch.testing.assert_close(out, torch.full_like(out, 0.25))


def test_blur_on_premultiplied_alpha_does_not_darken_edges():
    image = np.zeros((20, 20, 4), np.float32)
    image[:, :10] = (1.0, 0.5, 0.0, 1.0)  # opaque orange left, transparent right
    out = run_effect(ctx(), get_effect("gaussian-blur"), image, {"sigma": 2.0})
    edge = out[10, 10]
    assert 0.0 < edge[3] < 1.0
    np.testing.assert_allclose(edge[:3], (1.0, 0.5, 0.0), atol=1e-4)


def test_tiled_run_equals_whole_image_run_for_a_halo_effect():
    from warpaint.engine.runtime.apply import run_tiled

    spec = get_effect("gaussian-blur")
    image = rgba_noise(300, 260)
    params = {"sigma": 4.0}
    whole = run_effect(ctx(), spec, image, params)
    tiled = run_tiled(ctx(), spec.runner(), image, params, "cpu", tile=64, halo=13)
    np.testing.assert_allclose(tiled, whole, atol=2e-6)


# A fake effect for the memory fallback: it "runs out of GPU memory" above a size.
OOM_LIMIT = {"pixels": 0}
CALLS: list[tuple[str, int]] = []


def run(ctx, image, params):
    CALLS.append((str(image.device), image.shape[-1] * image.shape[-2]))
    if image.shape[-1] * image.shape[-2] > OOM_LIMIT["pixels"]:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return 1.0 - image


FAKE = EffectSpec(
    id="fake-invert",
    title="Fake invert",
    params=(Param("unused", "Unused", ParamType.NUMBER, 0.0, 0.0, 1.0),),
    tile_halo=0,
    module=__name__,
)


def test_out_of_memory_retries_in_tiles_and_tells_the_user():
    OOM_LIMIT["pixels"] = 600 * 600
    CALLS.clear()
    context = ctx()
    image = rgba_noise(1100, 1000)
    out = run_effect(context, FAKE, image, {"unused": 0.0})
    np.testing.assert_allclose(out, 1.0 - image, atol=1e-6)
    sizes = [n for _, n in CALLS]
    assert sizes[0] == 1100 * 1000  # first the whole image,
    assert sizes[1] == 1024 * 1000  # then 1024 px tiles (too big as well),
    assert all(n <= 512 * 512 for n in sizes[2:])  # then 512 px tiles, which fit
    assert any("out of memory" in m for m in context.messages)


def test_out_of_memory_everywhere_is_a_clear_error_not_a_crash():
    OOM_LIMIT["pixels"] = 0
    with pytest.raises(BadInputError, match="out of memory"):
        run_effect(ctx(), FAKE, rgba_noise(300, 300), {"unused": 0.0})


def test_gpu_out_of_memory_falls_back_to_the_cpu():
    # On a (pretend) GPU device the ladder ends on the CPU. Tensors are made on
    # the requested device, so this only runs where a GPU exists.
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    OOM_LIMIT["pixels"] = 0
    CALLS.clear()
    with pytest.raises(BadInputError):
        run_effect(ctx("cuda"), FAKE, rgba_noise(64, 64), {"unused": 0.0})
    assert CALLS[-1][0] == "cpu"


@pytest.fixture
def doc():
    rng = np.random.default_rng(5)
    return Document.from_array(rng.integers(0, 256, (60, 80, 4), dtype=np.uint8))


def run_job(doc, **params):
    runner = JobRunner("cpu")
    try:
        job = runner.submit(effect_job(doc.state, doc.layers[0].id, "gaussian-blur", params))
        assert job.wait(30)
    finally:
        runner.shutdown()
    assert job.state is JobState.DONE, job.error_details
    return job.result


def test_apply_adds_a_new_layer_above_the_source_as_one_undoable_step(doc):
    source = doc.layers[0]
    result = run_job(doc, sigma=2.0)
    layer = commit_effect(doc, result)
    assert [lay.id for lay in doc.layers] == [source.id, layer.id]
    assert layer.name == "Background · Gaussian blur"
    assert layer.pixels.dtype == np.uint8
    assert doc.history.labels == ["Open", "Gaussian blur"]
    doc.undo()
    assert [lay.id for lay in doc.layers] == [source.id]


def test_apply_can_replace_the_layer(doc):
    before = doc.layers[0].pixels.to_array()
    commit_effect(doc, run_job(doc, sigma=2.0), target="replace")
    assert len(doc.layers) == 1
    assert not np.array_equal(doc.layers[0].pixels.to_array(), before)
    doc.undo()
    np.testing.assert_array_equal(doc.layers[0].pixels.to_array(), before)


def test_apply_restricted_to_a_selection_changes_only_the_selection(doc):
    before = doc.layers[0].pixels.to_array()
    mask = np.zeros((60, 80), np.float32)
    mask[10:30, 20:50] = 1.0
    commit_effect(doc, run_job(doc, sigma=2.0), target="replace", mask=mask)
    after = doc.layers[0].pixels.to_array()
    outside = mask == 0
    np.testing.assert_array_equal(after[outside], before[outside])
    assert not np.array_equal(after[10:30, 20:50], before[10:30, 20:50])


def test_new_layer_restricted_to_a_selection_is_transparent_outside_it(doc):
    mask = np.zeros((60, 80), np.float32)
    mask[:, :40] = 1.0
    layer = commit_effect(doc, run_job(doc, sigma=1.0), mask=mask)
    alpha = layer.pixels.to_array()[..., 3]
    assert (alpha[:, 40:] == 0).all() and (alpha[:, :40] > 0).any()


def test_preview_job_downscales_and_scales_spatial_parameters(doc):
    big = Document.from_array(np.zeros((400, 800, 4), np.uint8))
    runner = JobRunner("cpu")
    try:
        job = runner.preview(
            "t",
            effect_job(big.state, big.layers[0].id, "gaussian-blur", {"sigma": 10.0}, max_side=200),
        )
        job.wait(30)
    finally:
        runner.shutdown()
    result: EffectResult = job.result
    assert result.scale == pytest.approx(0.25)
    assert result.pixels.shape == (100, 200, 4)
    assert result.params["sigma"] == 10.0, "the recorded params are the user's, unscaled"
    with pytest.raises(ValueError, match="preview"):
        commit_effect(big, result)


def test_bad_parameter_values_fail_before_any_work(doc):
    with pytest.raises(BadInputError, match="outside"):
        effect_job(doc.state, doc.layers[0].id, "gaussian-blur", {"sigma": 500.0})


def test_layer_offsets_carry_over_to_the_result_layer():
    d = Document.new(100, 100)
    placed = d.add_layer(Layer.from_array("patch", np.full((10, 10, 4), 200, np.uint8), x=30, y=40))
    runner = JobRunner("cpu")
    try:
        job = runner.submit(effect_job(d.state, placed.id, "gaussian-blur", {"sigma": 1.0}))
        job.wait(30)
    finally:
        runner.shutdown()
    layer = commit_effect(d, job.result)
    assert (layer.x, layer.y) == (30, 40)


def test_place_result_is_pure_and_matches_commit(doc):
    from warpaint.engine.runtime.apply import place_result

    result = run_job(doc, sigma=1.5)
    before = doc.state
    state, layer, label = place_result(before, result)
    assert doc.state is before and len(doc.history.labels) == 1, "nothing committed"
    assert label == "Gaussian blur" and state.layers[-1] is layer
    committed = commit_effect(doc, result)
    np.testing.assert_array_equal(committed.pixels.to_array(), layer.pixels.to_array())


def test_preview_of_a_big_layer_reads_the_level_of_detail_cache():
    from warpaint.engine.core.lod import shared_lod

    ys, xs = np.mgrid[0:1500, 0:2100]
    smooth = np.stack([xs % 256, ys % 256, (xs + ys) // 16 % 256, 200 + 0 * xs], axis=2)
    big = Document.from_array(smooth.astype(np.uint8))
    layer = big.layers[0]
    runner = JobRunner("cpu")
    try:
        job = runner.preview(
            "t", effect_job(big.state, layer.id, "gaussian-blur", {"sigma": 0.0}, max_side=500)
        )
        job.wait(30)
    finally:
        runner.shutdown()
    result = job.result
    assert result.pixels.shape == (357, 500, 4)
    tile = layer.pixels.tile(0, 0)
    assert shared_lod()._tile_at(tile, 2) is shared_lod()._tile_at(tile, 2), "cached"
    # sigma 0 is the identity: the preview is the downscaled layer itself.
    direct = resize(layer.pixels.read_float(), 500, 357, method="box")
    assert np.abs(result.pixels - direct).mean() < 0.01


def test_a_result_far_from_the_origin_cannot_grow_the_canvas_past_the_pixel_limit(monkeypatch):
    from warpaint.engine.runtime.apply import place_result

    monkeypatch.setenv("WARPAINT_MAX_PIXELS", "1000000")
    d = Document.new(64, 64)
    far = d.add_layer(Layer.from_array("far", np.zeros((4, 4, 4), np.uint8), x=3000, y=3000))
    result = EffectResult("gaussian-blur", far.id, {"sigma": 1.0}, np.zeros((4, 4, 4), np.float32))
    with pytest.raises(BadInputError, match="canvas grown to fit the result is 3004 x 3004"):
        place_result(d.state, result)
    assert (d.state.width, d.state.height) == (64, 64)
    near = d.add_layer(Layer.from_array("near", np.zeros((4, 4, 4), np.uint8), x=990, y=10))
    grown, _, _ = place_result(
        d.state,
        EffectResult("gaussian-blur", near.id, {"sigma": 1.0}, np.zeros((4, 4, 4), np.float32)),
    )
    assert (grown.width, grown.height) == (994, 64), "growing within the limit still works"
