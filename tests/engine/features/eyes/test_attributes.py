"""Attribute vectors, attribute files and region edits (features/eyes/attributes.py, the effect)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from warpaint.engine.features.eyes.attributes import (
    EncodingCache,
    balanced_vectors,
    edit_region,
    eye_region,
    paired_vector,
    parse_attribute_file,
    read_model_header,
    region_box,
    roc_auc,
    unpaired_vector,
    write_attribute_file,
)
from warpaint.engine.features.eyes.autoencoder import (
    Attribute,
    AttributeModel,
    AutoencoderConfig,
    ConvAutoencoder,
    load_attribute_model,
    save_attribute_model,
)
from warpaint.engine.runtime.errors import BadInputError


def tiny_model(seed: int = 0) -> AttributeModel:
    torch.manual_seed(seed)
    net = ConvAutoencoder(AutoencoderConfig(16, 32, latent=8, channels=(4, 8))).eval()
    model = AttributeModel(net, "stretch")
    model.add(Attribute("smile", torch.randn(8) * 3.0))
    model.add(Attribute("wink", torch.randn(8) * 3.0))
    return model


def photo(h: int = 40, w: int = 60, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((1, 4, h, w), dtype=np.float32))
    x[:, 3] = torch.from_numpy(rng.uniform(0.5, 1.0, (h, w)).astype(np.float32))
    return x


# -- attribute files -------------------------------------------------------------


def test_attribute_file_round_trips_names_files_and_values(tmp_path):
    path = tmp_path / "list_attr.txt"
    values = np.array([[1, -1], [-1, -1], [1, 1]])
    write_attribute_file(path, ["Smiling", "Eyeglasses"], ["a.png", "b.png", "c.png"], values)
    table = parse_attribute_file(path)
    assert table.names == ("Smiling", "Eyeglasses")
    assert table.filenames == ("a.png", "b.png", "c.png")
    assert table.values.tolist() == values.tolist()
    assert table.column("Eyeglasses").tolist() == [-1, -1, 1]


def test_celeba_layout_with_padding_spaces_parses(tmp_path):
    # CelebA pads positive values with a space: "000001.jpg -1  1  1".
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(
        "2\r\n5_o_Clock_Shadow Arched_Eyebrows \r\n000001.jpg -1  1\r\n000002.jpg  1 -1\r\n"
    )
    table = parse_attribute_file(path)
    assert table.names == ("5_o_Clock_Shadow", "Arched_Eyebrows")
    assert table.values.tolist() == [[-1, 1], [1, -1]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs a count line and a names line"),
        ("two\nA B\n", r":1: the first line must be the number of images"),
        ("1\nA B\nx.png 1\n", r":3: expected a filename and 2 values, got 1"),
        ("1\nA B\nx.png 1 2\n", r":3: value '2' for 'B' is not 1 or -1"),
        ("3\nA B\nx.png 1 1\ny.png -1 1\n", "line 1 says 3 images but 2 lines follow"),
        ("1\nA A\nx.png 1 1\n", r":2: attribute 'A' is named twice"),
        ("2\nA\nx.png 1\nx.png -1\n", "'x.png' is listed twice"),
        ("1\nx.png 1 1\n", r":2: 'x.png' is not an attribute name"),
        ("1\nA 1\nx.png 1 1\n", r":2: '1' is not an attribute name"),
    ],
)
def test_malformed_attribute_files_say_what_and_where(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(BadInputError, match=message):
        parse_attribute_file(path)


def test_missing_attribute_file_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="no such attribute file"):
        parse_attribute_file(tmp_path / "nope.txt")


# -- vectors ------------------------------------------------------------------------


def test_paired_and_unpaired_vectors_are_mean_differences():
    z1 = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    z2 = torch.tensor([[1.0, 1.0], [4.0, 3.0]])
    assert torch.allclose(paired_vector(z1, z2), torch.tensor([1.5, 0.0]))
    assert torch.allclose(unpaired_vector(z1, z2), torch.tensor([1.5, 0.0]))
    with pytest.raises(BadInputError):
        paired_vector(z1, z2[:1])
    with pytest.raises(BadInputError):
        unpaired_vector(z1[:0], z2)


def test_balanced_vectors_do_not_leak_a_correlated_attribute():
    # Codes depend on attribute A only; B agrees with A 90 % of the time.
    g = torch.Generator().manual_seed(0)
    n = 4000
    a = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    b = torch.where(torch.rand(n, generator=g) < 0.9, a, -a)
    direction = torch.tensor([1.0, 0.0, 0.0])
    z = a[:, None] * direction + 0.1 * torch.randn(n, 3, generator=g)
    naive_b = unpaired_vector(z[b < 0], z[b > 0])
    vecs = balanced_vectors(z, torch.stack([a, b], 1))
    assert naive_b[0] > 1.0  # the difference of means drags A along
    assert torch.allclose(vecs[0], 2 * direction, atol=0.05)  # from -1 to +1 in A
    assert vecs[1].abs().max() < 0.05


def test_balanced_vectors_refuse_a_constant_attribute():
    z = torch.randn(10, 3)
    labels = torch.ones(10, 2)
    labels[::2, 0] = -1
    with pytest.raises(BadInputError, match="attribute 2 is the same for every image"):
        balanced_vectors(z, labels)


def test_roc_auc_matches_counting_pairs():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.integers(0, 2, 60)
    pos, neg = scores[labels > 0], scores[labels == 0]
    expected = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(scores, labels) == pytest.approx(expected)
    assert roc_auc(np.array([1.0, 2.0]), np.array([0, 1])) == 1.0
    assert roc_auc(np.array([2.0, 1.0]), np.array([0, 1])) == 0.0


# -- region edits ---------------------------------------------------------------------


def test_all_sliders_at_zero_return_the_input_exactly():
    model, image = tiny_model(), photo()
    out = edit_region(model, image, (5, 6, 30, 20), {"smile": 0.0, "wink": 0.0})
    assert torch.equal(out, image)
    assert out is not image


def test_pixels_outside_the_region_never_change_and_inside_do():
    model, image = tiny_model(), photo()
    region = (10.4, 7.0, 33.2, 21.5)
    out = edit_region(model, image, region, {"smile": 2.0, "wink": -1.0})
    x0, y0, x1, y1 = region_box(region, 40, 60)
    outside = torch.ones(40, 60, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert torch.equal(out[..., outside], image[..., outside])
    assert torch.equal(out[:, 3], image[:, 3])  # alpha is never edited
    inner = (out - image)[:, :3, y0 + 5 : y1 - 5, x0 + 5 : x1 - 5].abs()
    assert inner.mean() > 1e-3
    # The window falls to 0 at the region's border: its edge pixels stay put.
    assert torch.equal(out[:, :, y0, x0:x1], image[:, :, y0, x0:x1])


def test_the_edit_is_the_decoded_difference_added_to_the_original():
    model, image = tiny_model(), photo(16, 32)
    image[:, 3] = 1.0
    out = edit_region(model, image, (0, 0, 32, 16), {"smile": 1.0}, feather=0.0)
    with torch.no_grad():
        z = model.net.encode(image[:, :3])
        delta = model.net.decode(z + model.attributes["smile"].vector) - model.net.decode(z)
    # feather 0 still zeroes the outermost ring; compare the interior.
    expected = (image[:, :3] + delta).clamp(0, 1)
    assert torch.allclose(out[:, :3, 1:-1, 1:-1], expected[:, :, 1:-1, 1:-1], atol=1e-5)


def test_a_mirrored_edit_of_a_flipped_image_is_the_flipped_edit():
    model, image = tiny_model(), photo(20, 40)
    a = edit_region(model, image, (0, 0, 40, 20), {"wink": 1.5})
    b = edit_region(model, image.flip(-1), (0, 0, 40, 20), {"wink": 1.5}, mirror=True)
    assert torch.allclose(a, b.flip(-1), atol=1e-5)


def test_a_drag_reuses_the_cached_encoding():
    model, image = tiny_model(), photo()
    cache = EncodingCache()
    calls = []
    original = model.net.encode

    def counting(x):
        calls.append(1)
        return original(x)

    model.net.encode = counting  # type: ignore[method-assign]
    for alpha in (0.2, 0.4, 0.6):
        edit_region(model, image, (2, 2, 30, 20), {"smile": alpha}, cache=cache)
    assert len(calls) == 1 and cache.hits == 2
    edit_region(model, image + 0.01, (2, 2, 30, 20), {"smile": 0.6}, cache=cache)
    assert len(calls) == 2  # other pixels: encoded afresh


@pytest.mark.parametrize("region", [(0, 0, 0, 10), (100, 100, 10, 10), (0, 0, 2, 2)])
def test_degenerate_regions_are_refused(region):
    with pytest.raises(BadInputError, match="region"):
        edit_region(tiny_model(), photo(), region, {"smile": 1.0})


def test_eye_region_frames_corners_like_the_crop_and_mirrors_right_eyes():
    region, mirror = eye_region([(100, 50), (130, 50)])
    x, y, w, h = region
    assert not mirror
    assert (x + 0.2 * w, x + 0.8 * w) == pytest.approx((100, 130))
    assert y + 0.55 * h == pytest.approx(50) and h / w == pytest.approx(48 / 64)
    assert eye_region([(130, 50), (100, 50)])[1] is True


# -- model files and the effect ---------------------------------------------------------


def test_model_file_round_trip_keeps_outputs_and_sliders(tmp_path):
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    save_attribute_model(path, model)
    back = load_attribute_model(path)
    assert list(back.attributes) == ["smile", "wink"]
    assert torch.equal(back.attributes["smile"].vector, model.attributes["smile"].vector)
    x = torch.rand(2, 3, 16, 32)
    with torch.no_grad():
        assert torch.equal(back.net(x), model.net(x))
    meta = read_model_header(path)
    assert [a["name"] for a in meta["attributes"]] == ["smile", "wink"]
    assert meta["config"]["height"] == 16


def test_foreign_and_corrupt_model_files_are_refused(tmp_path):
    from warpaint.engine.runtime.models import load_model, save_model

    other = tmp_path / "gaze.safetensors"
    save_model(other, {"w": torch.zeros(1)}, {"kind": "gaze"})
    with pytest.raises(BadInputError, match="'gaze' model, not an 'autoencoder'"):
        load_attribute_model(other)
    with pytest.raises(BadInputError, match="not an 'autoencoder' model"):
        read_model_header(other)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x05" * 40)
    with pytest.raises(BadInputError):
        read_model_header(junk)
    # Right kind, wrong weights: a clear message, not a torch traceback.
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    save_attribute_model(path, model)
    tensors, meta = load_model(path, "autoencoder")
    meta["config"]["latent"] = 9
    save_model(path, tensors, meta)
    with pytest.raises(BadInputError, match="do not match"):
        load_attribute_model(path)


def test_the_effect_offers_one_slider_per_attribute_of_the_chosen_model(tmp_path):
    from warpaint.engine.runtime.registry import get_effect

    path = tmp_path / "m.safetensors"
    save_attribute_model(path, tiny_model())
    spec = get_effect("attributes")
    names = [p.name for p in spec.all_params({"model": str(path)})]
    assert names[-2:] == ["smile", "wink"]
    resolved = spec.resolve({"model": str(path), "smile": 1.5})
    assert resolved["smile"] == 1.5 and resolved["wink"] == 0.0
    with pytest.raises(BadInputError, match="outside"):
        spec.resolve({"model": str(path), "smile": 9.0})


def test_the_effect_runs_the_edit_through_the_pipeline(tmp_path):
    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    path = tmp_path / "m.safetensors"
    save_attribute_model(path, tiny_model())
    spec = get_effect("attributes")
    image = photo(40, 60)[0].permute(1, 2, 0).numpy().copy()
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    params = spec.resolve({"model": str(path), "region": (10, 10, 30, 20), "smile": 1.0})
    out = run_effect(ctx, spec, image, params)
    assert np.array_equal(out[:10], image[:10]) and np.array_equal(out[:, :10], image[:, :10])
    assert np.abs(out[12:28, 14:36] - image[12:28, 14:36]).mean() > 1e-3
    zero = spec.resolve({"model": str(path), "region": (10, 10, 30, 20)})
    assert np.array_equal(run_effect(ctx, spec, image, zero), image)


def test_listing_a_models_sliders_needs_no_torch(tmp_path):
    path = tmp_path / "m.safetensors"
    save_attribute_model(path, tiny_model())
    code = (
        "import sys\n"
        "from warpaint.engine.runtime.registry import get_effect\n"
        f"ps = get_effect('attributes').all_params({{'model': {str(path)!r}}})\n"
        "print([p.name for p in ps][-2:], 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['smile', 'wink'] False"


@pytest.mark.slow
def test_bench_quick_measures_the_shipped_eye_model(capsys):
    from warpaint.app.cli import main

    assert main(["bench", "attributes", "--quick", "--json"]) == 0
    result = __import__("json").loads(capsys.readouterr().out)
    sliders = result["sliders"]
    assert sorted(sliders) == [
        "gaze_horizontal",
        "gaze_vertical",
        "iris_colour",
        "openness",
        "pupil",
    ]
    # The shipped sliders really move eyes toward the rendered truth.
    assert sliders["gaze_horizontal"]["roc_auc"] > 0.9
    assert sliders["iris_colour"]["edit_vs_identity"] < 0.6
    assert result["reconstruction_psnr_db"] > 24.0
    assert result["slider_step_fps"] > 0 and result["effect_step_fps_512px"] > 0


# -- the model store and the slider caches ----------------------------------------------


def run_attributes(image: np.ndarray, **values) -> np.ndarray:
    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    spec = get_effect("attributes")
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    return run_effect(ctx, spec, image, spec.resolve(values))


def rewrite(path, model: AttributeModel) -> None:
    """Save `model` over `path` as a retraining would, its mtime visibly later."""
    import os

    before = path.stat().st_mtime_ns
    save_attribute_model(path, model)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, max(stat.st_mtime_ns, before + 1_000_000_000)))


def test_the_model_comes_from_the_one_store_and_a_retrained_file_is_loaded_again(tmp_path):
    from warpaint.engine.features.eyes import effect_attributes as effect
    from warpaint.engine.runtime.models import clear_cache

    path = tmp_path / "m.safetensors"
    save_attribute_model(path, tiny_model(0))
    first = effect.load(str(path), "cpu")
    assert effect.load(str(path), "cpu") is first, "kept in the store"
    clear_cache()
    assert effect.load(str(path), "cpu") is not first, "the store is where it was kept"

    image = photo(40, 60)[0].permute(1, 2, 0).numpy().copy()
    cache = effect.encoding_cache()
    run_attributes(image, model=str(path), region=(10, 10, 30, 20), smile=1.0)
    hits = cache.hits
    old = run_attributes(image, model=str(path), region=(10, 10, 30, 20), smile=1.0)
    assert cache.hits == hits + 1, "a drag on the same image reuses the encoding"

    retrained = tiny_model(5)
    retrained.add(Attribute("blink", torch.randn(8)))
    rewrite(path, retrained)
    names = [p.name for p in effect.extra_params({"model": str(path)})]
    assert names == ["smile", "wink", "blink"], "the retrained file's sliders are read"
    model = effect.load(str(path), "cpu")
    for name, tensor in retrained.net.state_dict().items():
        assert torch.equal(model.net.state_dict()[name], tensor)
    new = run_attributes(image, model=str(path), region=(10, 10, 30, 20), smile=1.0)
    assert cache.hits == hits + 1, "the new model's encoding is computed afresh"
    assert not np.array_equal(new, old)
    run_attributes(image + 0.01, model=str(path), region=(10, 10, 30, 20), smile=1.0)
    assert cache.hits == hits + 1, "so is another image's"


def test_the_slider_caches_are_bounded(tmp_path):
    from warpaint.engine.features.eyes import effect_attributes as effect

    for i in range(effect.HEADER_CACHE_SIZE + 3):
        path = tmp_path / f"m{i}.safetensors"
        save_attribute_model(path, tiny_model(i))
        assert [p.name for p in effect.extra_params({"model": str(path)})] == ["smile", "wink"]
    assert len(effect._headers) == effect.HEADER_CACHE_SIZE

    model, cache = tiny_model(), EncodingCache(capacity=2)
    for seed in range(4):
        edit_region(model, photo(seed=seed), (2, 2, 30, 20), {"smile": 1.0}, cache=cache)
    assert len(cache) == 2
    edit_region(model, photo(seed=3), (2, 2, 30, 20), {"smile": 0.5}, cache=cache)
    assert cache.hits == 1, "the most recent crop is still kept"


# -- every face -------------------------------------------------------------------------


def group_photo() -> np.ndarray:
    """(512, 1152, 4) float32: two astronaut portraits with a white gap, faces
    left of x = 576 and right of it."""
    from skimage import data

    rgb = data.astronaut().astype(np.float32) / 255.0
    row = np.concatenate([rgb, np.ones((512, 128, 3), np.float32), rgb], axis=1)
    return np.concatenate([row, np.ones((512, 1152, 1), np.float32)], axis=2)


def union_outside(shape, boxes) -> np.ndarray:
    outside = np.ones(shape, bool)
    for x0, y0, x1, y1 in boxes:
        outside[y0:y1, x0:x1] = False
    return outside


def test_the_face_parameter_reads_all_on_the_command_line():
    from warpaint.engine.features.eyes.faces import ALL_FACES
    from warpaint.engine.runtime.registry import get_effect

    face = get_effect("attributes").param("face")
    assert face.parse("all") == ALL_FACES and face.parse("1") == 1 and face.default == 0


def test_face_all_edits_each_eye_of_every_face_and_nothing_outside_them():
    from warpaint.engine.features.eyes import effect_attributes as effect
    from warpaint.engine.features.eyes.faces import ALL_FACES

    image = group_photo()
    regions = effect.face_regions(image, effect.load(None, "cpu"))
    assert len(regions) == 4, "two eyes of each of the two faces"
    assert [m for _, m in regions].count(True) == 2, "one mirrored (subject's right) eye a face"
    boxes = [region_box(r, 512, 1152) for r, _ in regions]
    assert sum(b[2] < 576 for b in boxes) == 2 and sum(b[0] > 576 for b in boxes) == 2
    out = run_attributes(image, face=ALL_FACES, pupil=1.0, iris_colour=1.0)
    outside = union_outside(image.shape[:2], boxes)
    assert np.array_equal(out[outside], image[outside])
    for (region, mirror), (x0, y0, x1, y1) in zip(regions, boxes, strict=True):
        # Each eye as the effect edits it alone, framed by its region.
        alone = run_attributes(image, region=region, mirror=mirror, pupil=1.0, iris_colour=1.0)
        assert np.abs(out[y0:y1, x0:x1] - image[y0:y1, x0:x1]).max() > 0.02
        assert np.allclose(out[y0:y1, x0:x1], alone[y0:y1, x0:x1], atol=1e-5)
    # A region given is one face's: it wins over 'all'.
    region, mirror = regions[0]
    framed = run_attributes(image, face=ALL_FACES, region=region, mirror=mirror, pupil=1.0)
    others = union_outside((512, 1152), boxes[:1])
    assert np.array_equal(framed[others], image[others]) and not np.array_equal(framed, image)


def test_face_all_with_a_model_of_other_crops_edits_each_face_box(tmp_path):
    from warpaint.engine.features.eyes.detect import detect_faces_cached
    from warpaint.engine.features.eyes.faces import ALL_FACES

    path = tmp_path / "faces.safetensors"
    save_attribute_model(path, tiny_model())  # "stretch": not an eye model
    image = group_photo()
    out = run_attributes(image, model=str(path), face=ALL_FACES, smile=2.0)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in (f.box for f in detect_faces_cached(image))]
    assert len(boxes) == 2
    outside = union_outside((512, 1152), boxes)
    assert np.array_equal(out[outside], image[outside])
    for x0, y0, x1, y1 in boxes:
        assert np.abs(out[y0:y1, x0:x1] - image[y0:y1, x0:x1]).max() > 0.01


def test_face_all_without_a_face_says_what_to_give():
    from warpaint.engine.features.eyes.faces import ALL_FACES

    flat = np.full((64, 80, 4), 0.5, np.float32)
    with pytest.raises(BadInputError, match="no face found.*region="):
        run_attributes(flat, face=ALL_FACES, pupil=1.0)


def test_cli_face_all_edits_the_eyes_of_both_faces(tmp_path, capsys):
    from PIL import Image

    from warpaint.app.cli import main

    src, out = tmp_path / "group.png", tmp_path / "o.png"
    Image.fromarray((group_photo()[..., :3] * 255 + 0.5).astype(np.uint8)).save(src)
    code = main(["apply", "attributes", str(src), "--set", "face=all", "--set", "pupil=1",
                 "-o", str(out)])  # fmt: skip  # argv: flags beside their values
    assert code == 0, capsys.readouterr().err
    diff = np.abs(np.asarray(Image.open(out))[..., :3].astype(int) - np.asarray(Image.open(src)))
    ys, xs = np.nonzero(diff.max(axis=2))
    assert (xs < 576).any() and (xs > 576).any()
    assert ys.min() > 60 and ys.max() < 140, "only the eyes' rows of the portraits"


def test_a_face_index_without_a_region_edits_only_that_faces_eyes():
    # The command line's default (face 0, no region) once treated the whole
    # picture as one eye and drew a closed lid across the portrait.
    from warpaint.engine.features.eyes import effect_attributes as effect

    image = group_photo()
    regions = effect.face_regions(image, effect.load(None, "cpu"))
    boxes = [region_box(r, 512, 1152) for r, _ in regions]
    for face, side in ((0, slice(0, 576)), (1, slice(576, 1152))):
        out = run_attributes(image, face=face, openness=-2.0)
        mine = [b for b in boxes if (b[0] < 576) == (face == 0)]
        assert len(mine) == 2
        outside = union_outside((512, 1152), mine)
        assert np.array_equal(out[outside], image[outside])
        for x0, y0, x1, y1 in mine:
            assert np.abs(out[y0:y1, x0:x1] - image[y0:y1, x0:x1]).max() > 0.05
        assert not np.array_equal(out[:, side], image[:, side])
    with pytest.raises(BadInputError, match="face 2 asked for, but 2 found"):
        run_attributes(image, face=2, openness=-2.0)
