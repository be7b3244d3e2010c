"""Gaze redirection: the DeepWarp pieces, the analytic baseline, the
`gaze` effect (identity at 0, only eye regions change, manual points) and its CLI."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.features.eyes import analytic
from warpaint.engine.features.eyes import effect_gaze as gaze
from warpaint.engine.features.eyes.align import crop_matrix, transform_points
from warpaint.engine.features.eyes.deepwarp import (
    CROP_SIZE,
    DeepWarp,
    anchor_maps,
    model_meta,
    warp,
)
from warpaint.engine.runtime.apply import run_effect
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import save_model
from warpaint.engine.runtime.registry import get_effect

# Two eyes of a 96 x 128 test portrait: (image-left eye, image-right eye) corners.
EYES = ((30.0, 50.0), (52.0, 50.0), (76.0, 50.0), (98.0, 50.0))


def ctx():
    return JobContext(Job(lambda c: None, device="cpu"))


def shifting_model(path, dx_px=4.0):
    """A gaze model file whose network moves the whole crop content by a fixed
    flow (no learning needed): the coarse head outputs a constant."""
    torch.manual_seed(0)
    model = DeepWarp(width=8)
    with torch.no_grad():
        head = model.coarse[-1]
        head.weight.zero_()
        head.bias.copy_(torch.tensor([math.atanh(dx_px / 14.0), 0.0]))
        model.fine[-1].weight.zero_()
    save_model(path, model.state_dict(), model_meta(model))
    return str(path)


def portrait():
    """(96, 128, 4) float32 textured image with two dark 'irises' at the eye centres."""
    rng = np.random.default_rng(3)
    img = rng.uniform(0.3, 0.8, (96, 128, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:96, 0:128]
    for cx in (41, 87):
        img[np.hypot(xs - cx, ys - 50) < 5] = 0.1
    return np.concatenate([img, np.ones((96, 128, 1), np.float32)], axis=2)


def apply(image, **values):
    spec = get_effect("gaze")
    return run_effect(ctx(), spec, image, spec.resolve(values))


# -- network pieces --------------------------------------------------------------


def test_warp_by_an_integer_flow_shifts_pixels_exactly():
    image = torch.rand(1, 3, 12, 16)
    flow = torch.zeros(1, 2, 12, 16)
    flow[:, 0] = 2.0  # read two pixels to the right
    out = warp(image, flow)
    assert torch.allclose(out[..., :, :-2], image[..., :, 2:], atol=1e-6)
    assert torch.allclose(warp(image, torch.zeros_like(flow)), image, atol=1e-6)


def test_anchor_maps_are_offsets_to_each_landmark_per_axis():
    marks = torch.tensor([[[3.0, 4.0], [10.0, 1.0]]])
    maps = anchor_maps(marks, (8, 16))
    assert maps.shape == (1, 4, 8, 16)
    assert maps[0, 0, 5, 3] == 0 and maps[0, 1, 4, 9] == 0  # at landmark 0
    assert maps[0, 2, 0, 14] == pytest.approx(4 / 16)  # x offset to landmark 1
    assert maps[0, 3, 7, 0] == pytest.approx(6 / 8)  # y offset to landmark 1


def test_network_outputs_crop_sized_images_and_flows():
    model = DeepWarp(width=8)
    x = torch.rand(2, 3, *CROP_SIZE)
    out = model(x, torch.zeros(2, 2, 2), torch.tensor([[5.0, 0.0], [0.0, -5.0]]))
    assert out["output"].shape == x.shape
    assert out["flow"].shape == (2, 2, *CROP_SIZE)
    assert float(out["lightness"].detach().max()) < 0.05  # starts by keeping pixels


# -- analytic baseline ---------------------------------------------------------------


def test_analytic_slide_moves_the_iris_toward_the_rendered_target():
    from warpaint.engine.features.eyes.train_gaze import eval_pairs

    pairs = eval_pairs(10.0, 6, seed=123)
    moved, kept = [], []
    for p in pairs:
        lm = p["landmarks"]
        out = analytic.redirect(
            p["source"], lm.iris_centre, lm.iris_radius, lm.upper_lid, lm.lower_lid, p["angle"]
        )
        moved.append(np.mean((out - p["target"]) ** 2))
        kept.append(np.mean((p["source"] - p["target"]) ** 2))
    assert np.mean(moved) < 0.8 * np.mean(kept)


def test_analytic_slide_leaves_pixels_outside_the_eye_opening():
    from warpaint.engine.features.eyes.train_gaze import render_sample

    p = render_sample(5, 10.0)
    lm = p["landmarks"]
    out = analytic.redirect(
        p["source"], lm.iris_centre, lm.iris_radius, lm.upper_lid, lm.lower_lid, (10.0, 0.0)
    )
    opening = analytic.eye_opening_mask(lm.upper_lid, lm.lower_lid, p["source"].shape[:2])
    assert np.array_equal(out[opening == 0], p["source"][opening == 0])
    assert np.abs(out - p["source"]).max() > 0.05


# -- the effect ----------------------------------------------------------------------


def test_angle_zero_returns_the_input_unchanged(tmp_path):
    image = portrait()
    out = apply(image, eyes=EYES, model=shifting_model(tmp_path / "m.safetensors"))
    assert np.abs(out - image).max() <= 1 / 255


def test_only_the_eye_regions_change(tmp_path):
    image = portrait()
    out = apply(
        image,
        horizontal=10.0,
        vertical=5.0,
        eyes=EYES,
        model=shifting_model(tmp_path / "m.safetensors"),
    )
    changed = np.abs(out - image).max(axis=2) > 0
    assert changed[50, 41] and changed[50, 87], "both eyes were redirected"
    # Every changed pixel lies inside the paste-back weight's support of an eye.
    ys, xs = np.nonzero(changed)
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    weight = gaze.blend_weight(CROP_SIZE)
    h, w = CROP_SIZE
    inside = np.zeros(len(points), bool)
    for corners, mirror in gaze.choose_eyes(image, {"eyes": EYES}):
        crop = transform_points(crop_matrix(corners, CROP_SIZE, mirror), points)
        cx = np.clip(np.round(crop[:, 0]).astype(int), 0, w - 1)
        cy = np.clip(np.round(crop[:, 1]).astype(int), 0, h - 1)
        on_crop = (crop[:, 0] > -1) & (crop[:, 0] < w) & (crop[:, 1] > -1) & (crop[:, 1] < h)
        # One pixel of slack for the bilinear fall-off of the weight.
        near = np.zeros(len(points), bool)
        for oy in (-1, 0, 1):
            for ox in (-1, 0, 1):
                near |= weight[np.clip(cy + oy, 0, h - 1), np.clip(cx + ox, 0, w - 1)] > 0
        inside |= on_crop & near
    assert inside.all(), f"{(~inside).sum()} pixels changed outside the eye patches"
    assert np.array_equal(out[..., 3], image[..., 3]), "alpha is kept"


def test_which_redirects_only_the_chosen_eye(tmp_path):
    image = portrait()
    model = shifting_model(tmp_path / "m.safetensors")
    out = apply(image, horizontal=10.0, eyes=EYES, which="right", model=model)
    changed = np.abs(out - image).max(axis=2) > 0
    assert changed[:, 64:].any() and not changed[:, :64].any()


def test_manual_points_follow_the_preview_scale(tmp_path):
    image = portrait()
    small = image[::2, ::2].copy()
    scaled = gaze.choose_eyes(small, {"eyes": EYES}, scale=0.5)
    full = gaze.choose_eyes(image, {"eyes": EYES})
    for (a, _), (b, _) in zip(scaled, full, strict=True):
        assert np.allclose(a * 2, b)


def test_a_foreign_model_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "other.safetensors"
    save_model(path, {"w": torch.zeros(2)}, {"kind": "adain"})
    with pytest.raises(BadInputError, match="not a 'gaze' model"):
        apply(portrait(), horizontal=5.0, eyes=EYES, model=str(path))


def test_the_shipped_model_beats_the_unchanged_eye_on_held_out_pairs():
    from warpaint.engine.features.eyes.train_gaze import eval_pairs, learned_mse, stack_pairs

    model = gaze.load_gaze_model(None, "cpu")
    batch = stack_pairs(eval_pairs(10.0, 12))
    identity = float(((batch["source"] - batch["target"]) ** 2).mean())
    assert learned_mse(model, batch) < 0.8 * identity


@pytest.mark.slow
def test_cli_redirects_detected_eyes_on_the_astronaut(tmp_path, capsys):
    from skimage import data

    src = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(src)
    out = tmp_path / "out.png"
    code = main(["apply", "gaze", str(src), "--set", "horizontal=10", "--set", "vertical=-5",
                 "-o", str(out)])  # fmt: skip  # argv: flags beside their values
    assert code == 0
    a = np.asarray(Image.open(src)).astype(int)
    b = np.asarray(Image.open(out))[..., :3].astype(int)
    ys, xs = np.nonzero(np.abs(a - b).max(axis=2))
    assert len(ys) > 50
    # The astronaut's eyes are near (200, 100) and (245, 103): nothing else moved.
    assert ys.min() > 60 and ys.max() < 140 and xs.min() > 160 and xs.max() < 290
    assert gaze.prefill(data.astronaut().astype(np.float32) / 255)["eyes"]


def test_cli_exits_2_with_a_clear_message_when_no_eyes_are_found(tmp_path, capsys):
    src = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 80, 3), 128, np.uint8)).save(src)
    code = main(["apply", "gaze", str(src), "--set", "horizontal=10", "-o",
                 str(tmp_path / "o.png")])  # fmt: skip  # argv: flags beside their values
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "no eyes found" in err[0] and "eyes=" in err[0]
    assert not (tmp_path / "o.png").exists()


def test_cli_takes_manual_eye_points(tmp_path, capsys):
    src = tmp_path / "p.png"
    Image.fromarray((portrait()[..., :3] * 255).astype(np.uint8)).save(src)
    out = tmp_path / "o.png"
    points = ";".join(f"{x:g},{y:g}" for x, y in EYES)
    model = shifting_model(tmp_path / "m.safetensors")
    # argv: flags beside their values (hence fmt: skip)
    code = main(["apply", "gaze", str(src), "--set", "horizontal=-10", "--set",
                 f"eyes={points}", "--set", f"model={model}", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    diff = np.abs(np.asarray(Image.open(out))[..., :3].astype(int) - np.asarray(Image.open(src)))
    assert diff[50, 41].max() > 0 and diff[50, 87].max() > 0
    assert diff[:, :10].max() == 0 and diff[:20].max() == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_redirection_matches_the_cpu():
    image = portrait()
    eyes = gaze.choose_eyes(image, {"eyes": EYES})
    results = []
    for device in ("cpu", "cuda"):
        model = gaze.load_gaze_model(None, device)
        results.append(gaze.redirect_patches(image, eyes, 8.0, -6.0, model, device))
    for (x0, y0, a), (x1, y1, b) in zip(*results, strict=True):
        assert (x0, y0) == (x1, y1)
        assert np.abs(a - b).max() < 1e-3


# -- every face ---------------------------------------------------------------------


def group_photo() -> np.ndarray:
    """(512, 1152, 4) float32: two astronaut portraits with a white gap, faces
    left of x = 576 and right of it."""
    from skimage import data

    rgb = data.astronaut().astype(np.float32) / 255.0
    row = np.concatenate([rgb, np.ones((512, 128, 3), np.float32), rgb], axis=1)
    return np.concatenate([row, np.ones((512, 1152, 1), np.float32)], axis=2)


def eye_patch_boxes(eyes) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) around each eye's crop frame: the only pixels it may change."""
    from warpaint.engine.features.eyes.align import invert_affine

    h, w = CROP_SIZE
    frame = np.array([[-2, -2], [w + 1, -2], [-2, h + 1], [w + 1, h + 1]], np.float64)
    boxes = []
    for corners, mirror in eyes:
        rect = transform_points(invert_affine(crop_matrix(corners, CROP_SIZE, mirror)), frame)
        x0, y0 = np.floor(rect.min(axis=0)).astype(int)
        x1, y1 = np.ceil(rect.max(axis=0)).astype(int) + 1
        boxes.append((int(x0), int(y0), int(x1), int(y1)))
    return boxes


def test_the_face_parameter_reads_all_and_indices():
    face = get_effect("gaze").param("face")
    assert face.parse("all") == face.parse("ALL") == face.parse("-1") == gaze.ALL_FACES
    assert face.parse("2") == 2 and face.default == 0 and face.image_bound
    assert face.to_json()["all"] == gaze.ALL_FACES
    for text in ("64", "-2", "every"):
        with pytest.raises(BadInputError, match="face"):
            face.parse(text)


def test_face_all_picks_the_eyes_of_every_face_and_which_applies_to_each():
    image = group_photo()
    each = [gaze.choose_eyes(image, {"face": i}) for i in (0, 1)]
    assert [len(e) for e in each] == [2, 2]
    assert all(c[:, 0].max() < 576 for c, _ in each[0])
    assert all(c[:, 0].min() > 576 for c, _ in each[1])
    every = gaze.choose_eyes(image, {"face": gaze.ALL_FACES})
    assert [c.tolist() for c, _ in every] == [c.tolist() for c, _ in each[0] + each[1]]
    lefts = gaze.choose_eyes(image, {"face": gaze.ALL_FACES, "which": "left"})
    assert len(lefts) == 2
    for (corners, _), own in zip(lefts, each, strict=True):
        assert corners[:, 0].mean() == min(c[:, 0].mean() for c, _ in own)
    with pytest.raises(BadInputError, match="face 7 asked for, but 2 found"):
        gaze.choose_eyes(image, {"face": 7})


def test_face_all_redirects_every_face_and_nothing_outside_their_eyes(tmp_path):
    image = group_photo()
    model = shifting_model(tmp_path / "m.safetensors")
    out = apply(image, horizontal=10.0, face=gaze.ALL_FACES, model=model)
    eyes = gaze.choose_eyes(image, {"face": gaze.ALL_FACES})
    outside = np.ones(image.shape[:2], bool)
    for x0, y0, x1, y1 in eye_patch_boxes(eyes):
        outside[max(0, y0) : y1, max(0, x0) : x1] = False
        assert np.abs(out[y0:y1, x0:x1] - image[y0:y1, x0:x1]).max() > 0.05, "each eye moved"
    assert np.array_equal(out[outside], image[outside])
    # Each face as it would be edited alone.
    for index, half in ((0, np.s_[:, :576]), (1, np.s_[:, 576:])):
        alone = apply(image, horizontal=10.0, face=index, model=model)
        assert np.allclose(out[half], alone[half], atol=1e-5)


def test_cli_face_all_edits_both_faces_and_a_missing_face_exits_2(tmp_path, capsys):
    src = tmp_path / "group.png"
    Image.fromarray((group_photo()[..., :3] * 255 + 0.5).astype(np.uint8)).save(src)
    model = shifting_model(tmp_path / "m.safetensors")
    out = tmp_path / "o.png"
    code = main(["apply", "gaze", str(src), "--set", "face=all", "--set", "horizontal=10",
                 "--set", f"model={model}", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    diff = np.abs(np.asarray(Image.open(out))[..., :3].astype(int) - np.asarray(Image.open(src)))
    changed = diff.max(axis=2) > 0
    assert changed[:, :576].any() and changed[:, 576:].any()

    capsys.readouterr()
    code = main(["apply", "gaze", str(src), "--set", "face=7", "--set", "horizontal=10",
                 "--set", f"model={model}", "-o", str(tmp_path / "o7.png")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["warpaint: error: gaze: face 7 asked for, but 2 found"]
    assert not (tmp_path / "o7.png").exists()
