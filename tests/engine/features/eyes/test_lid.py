"""The blink draws a lid over real eyes (features/eyes/lid.py, attributes.edit_regions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warpaint.engine.features.eyes import lid
from warpaint.engine.features.eyes.attributes import (
    EncodingCache,
    _add_difference,
    edit_region,
    extract,
    model_size,
    region_box,
)
from warpaint.engine.features.eyes.real_eyes import (
    EYE_LABELS,
    RealEye,
    blink,
    iris_mask,
    lid_coverage,
    real_eyes,
    skin_colour,
)


@pytest.fixture(scope="module")
def model():
    from warpaint.engine.features.eyes.effect_attributes import load

    return load(None, "cpu")


@pytest.fixture(scope="module")
def astronaut_eyes() -> list[RealEye]:
    return real_eyes()["astronaut"]


def rgba(rgb: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(rgb[..., :3], np.float32)).permute(2, 0, 1)[None]
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)


def test_the_labelled_real_eyes_are_at_least_eight_with_dark_irises():
    eyes = real_eyes()
    assert EYE_LABELS.is_file()
    assert len(eyes["astronaut"]) == 2 and sum(len(v) for v in eyes.values()) >= 8
    for members in eyes.values():
        for eye in members:
            inside = iris_mask(eye.image.shape[:2], eye.iris)
            luma = eye.image[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
            skin = skin_colour(eye.image, eye.skin)
            # An iris is darker than the skin above its eye.
            assert luma[inside].mean() < 0.8 * float(skin @ np.array([0.299, 0.587, 0.114]))


def crop_of(eye: RealEye, margin: int = 24) -> RealEye:
    """The eye in a crop of its picture `margin` px around its corners (labels moved with it)."""
    x0 = int(eye.corners[:, 0].min()) - margin
    y0 = int(eye.corners[:, 1].min()) - margin
    x1 = int(eye.corners[:, 0].max()) + margin
    y1 = int(eye.corners[:, 1].max()) + margin
    ix, iy, iw, ih = eye.iris
    sx, sy, sw, sh = eye.skin
    return RealEye(
        f"{eye.name} crop",
        np.ascontiguousarray(eye.image[y0:y1, x0:x1]),
        eye.corners - [x0, y0],
        (ix - x0, iy - y0, iw, ih),
        (sx - x0, sy - y0, sw, sh),
    )


def test_the_closed_end_covers_the_astronauts_irises_with_skin_toned_lid(model, astronaut_eyes):
    for eye in map(crop_of, astronaut_eyes):
        assert max(eye.image.shape[:2]) < 80  # an eye crop, not the portrait
        after = blink(eye, -2.0, model)
        figures = lid_coverage(eye.image, after, eye.iris, eye.skin)
        assert figures["covered"] >= 0.6, (eye.name, figures)
        patches = figures["grey"] + figures["bright"] + figures["saturated"]
        assert patches <= 0.2, (eye.name, figures)


def test_eyes_behind_glasses_close_under_their_own_lid_skin(model):
    # The skin band above these eyes is half glasses frame, and the skin under
    # them is redder than the lid: a lid coloured from the frame and the
    # under-eye skin came out dark red (a third of the iris covered).
    for eye in real_eyes()["hopper"]:
        figures = lid_coverage(eye.image, blink(eye, -2.0, model), eye.iris, eye.skin)
        assert figures["covered"] >= 0.6, (eye.name, figures)
        assert figures["grey"] + figures["bright"] <= 0.05, (eye.name, figures)


def test_the_decoded_blink_did_not_cover_the_iris(model, astronaut_eyes):
    # What the lid replaces: the autoencoder's own openness direction, decoded.
    eye = astronaut_eyes[1]
    region, mirror = eye.region()
    image = rgba(eye.image)
    box = region_box(region, image.shape[2], image.shape[3])
    out = image.clone()
    with torch.inference_mode():
        crop = extract(image, box, model_size(model), mirror)
        z = model.net.encode(crop)
        vector = model.attributes["openness"].vector
        delta = model.net.decode(z - 2.0 * vector) - model.net.decode(z)
        _add_difference(out, box, delta, 0.15 * min(box[2] - box[0], box[3] - box[1]), mirror)
    decoded = out[0, :3].permute(1, 2, 0).numpy()
    assert lid_coverage(eye.image, decoded, eye.iris, eye.skin)["covered"] < 0.6


def test_the_lid_metric_tells_skin_from_a_grey_or_bright_patch(astronaut_eyes):
    eye = astronaut_eyes[0]
    inside = iris_mask(eye.image.shape[:2], eye.iris)
    skin = eye.image.copy()
    skin[inside] = skin_colour(eye.image, eye.skin)
    grey = eye.image.copy()
    grey[inside] = 0.45
    bright = eye.image.copy()
    bright[inside] = np.minimum(1.0, skin_colour(eye.image, eye.skin) * 1.6 + 0.1)
    assert lid_coverage(eye.image, skin, eye.iris, eye.skin)["skin"] == 1.0
    assert lid_coverage(eye.image, grey, eye.iris, eye.skin)["grey"] == 1.0
    assert lid_coverage(eye.image, bright, eye.iris, eye.skin)["bright"] == 1.0
    assert lid_coverage(eye.image, eye.image, eye.iris, eye.skin)["covered"] < 0.2


def test_openness_zero_returns_the_input_exactly(model, astronaut_eyes):
    eye = astronaut_eyes[0]
    image = rgba(eye.image)
    region, mirror = eye.region()
    out = edit_region(model, image, region, {name: 0.0 for name in model.attributes}, mirror=mirror)
    assert torch.equal(out, image) and out is not image


def test_the_lid_comes_down_monotonically_with_the_slider(model, astronaut_eyes):
    eye = astronaut_eyes[1]
    region, mirror = eye.region()
    x0, y0, x1, y1 = region_box(region, *eye.image.shape[:2])
    frame = rgba(eye.image)[0, :3, y0:y1, x0:x1]
    frame = frame.flip(-1) if mirror else frame
    shape = lid.find_shape(frame.permute(1, 2, 0).numpy())
    previous, lowest = None, []
    middle = int(round(shape.corners[:, 0].mean()))
    for amount in np.linspace(0.05, 1.0, 12):
        _, skin_alpha, _, lash_alpha = lid.lid_layer(frame, shape, float(amount))
        if previous is not None:
            assert bool((skin_alpha >= previous - 1e-6).all()), amount
        previous = skin_alpha
        # The lash line is the lowest drawn row of the eye's middle column.
        drawn = torch.nonzero(torch.maximum(skin_alpha, lash_alpha)[:, middle] > 0.5)[:, 0]
        lowest.append(int(drawn.max()) if len(drawn) else -1)
    assert lowest == sorted(lowest) and lowest[-1] - lowest[0] >= 0.3 * shape.width, lowest
    coverage = [
        lid_coverage(eye.image, blink(eye, o, model), eye.iris, eye.skin)["covered"]
        for o in (-0.25, -0.75, -1.25, -1.75, -2.0)
    ]
    assert coverage == sorted(coverage) and coverage[0] < 0.3 < 0.6 <= coverage[-1], coverage


def test_half_closed_covers_the_top_of_the_iris_and_leaves_its_bottom(model, astronaut_eyes):
    eye = astronaut_eyes[1]
    after = blink(eye, -1.0, model)
    x, y, w, h = (int(round(v)) for v in eye.iris)
    change = np.abs(after - eye.image).max(axis=2)
    # A lid or lash line changes a pixel by a quarter of the range or more; the
    # open part's decoded shading by less (up to 0.2 a pixel below the lash line).
    top, bottom = change[y : y + h // 3, x : x + w], change[y + 3 * h // 4 : y + h, x : x + w]
    assert (top > 0.05).mean() > 0.6 and (bottom > 0.25).mean() < 0.2


def test_pixels_outside_the_region_and_alpha_never_change(model, astronaut_eyes):
    eye = astronaut_eyes[0]
    image = rgba(eye.image)
    image[:, 3] = 0.8
    region, mirror = eye.region()
    out = edit_region(model, image, region, {"openness": -2.0, "pupil": 1.0}, mirror=mirror)
    x0, y0, x1, y1 = region_box(region, image.shape[2], image.shape[3])
    outside = torch.ones(image.shape[2:], dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert torch.equal(out[..., outside], image[..., outside])
    assert torch.equal(out[:, 3], image[:, 3])
    assert torch.equal(out[:, :, y0, x0:x1], image[:, :, y0, x0:x1])  # the window's border
    assert (out - image)[:, :3, y0:y1, x0:x1].abs().max() > 0.2


def test_a_mirrored_blink_of_a_flipped_eye_is_the_flipped_blink(model, astronaut_eyes):
    eye = astronaut_eyes[1]
    region, mirror = eye.region()
    x, y, w, h = region
    image = rgba(eye.image)
    flipped_region = (image.shape[3] - x - w, y, w, h)
    a = edit_region(model, image, region, {"openness": -1.5}, mirror=mirror)
    b = edit_region(model, image.flip(-1), flipped_region, {"openness": -1.5}, mirror=not mirror)
    assert torch.allclose(a, b.flip(-1), atol=1e-5)


def test_a_drag_finds_the_eye_once(model, astronaut_eyes, monkeypatch):
    eye = astronaut_eyes[0]
    image = rgba(eye.image)
    region, mirror = eye.region()
    calls = []
    found = lid.find_shape

    def counting(patch):
        calls.append(1)
        return found(patch)

    monkeypatch.setattr(lid, "find_shape", counting)
    monkeypatch.setattr(lid, "_shapes", lid.ShapeCache())
    for value in (-0.5, -1.0, -1.5, -2.0):
        edit_region(model, image, region, {"openness": value}, mirror=mirror)
    assert len(calls) == 1 and lid.shape_cache().hits == 3


OTHER_SLIDERS = (
    {"gaze_horizontal": 1.0},
    {"gaze_vertical": -0.7, "pupil": 1.0},
    {"iris_colour": 1.0, "openness": 0.0},
    {"openness": 0.8, "pupil": -0.5},  # a wider eye stays the decoded direction
)


@pytest.mark.parametrize("values", OTHER_SLIDERS)
def test_other_sliders_are_the_decoded_difference_as_before(
    model, astronaut_eyes, values, monkeypatch
):
    def no_lid(*args, **kwargs):
        raise AssertionError("the lid is drawn only for openness below 0")

    monkeypatch.setattr(lid, "draw_lid", no_lid)
    eye = astronaut_eyes[1]
    image = rgba(eye.image)
    region, mirror = eye.region()
    out = edit_region(model, image, region, values, mirror=mirror, cache=EncodingCache())
    # The edit as the effect made it before the lid existed.
    box = region_box(region, image.shape[2], image.shape[3])
    expected = image.clone()
    crop = extract(image, box, model_size(model), mirror)
    z = model.net.encode(crop)
    delta = model.net.decode(z + model.direction(values, "cpu")[None]) - model.net.decode(z)
    _add_difference(expected, box, delta, 0.15 * min(box[2] - box[0], box[3] - box[1]), mirror)
    assert torch.equal(out, expected)


def test_a_blink_with_iris_colour_shows_the_new_colour_only_where_the_eye_is_open(
    model, astronaut_eyes
):
    eye = astronaut_eyes[1]
    image = rgba(eye.image)
    region, mirror = eye.region()
    x0, y0, x1, y1 = region_box(region, image.shape[2], image.shape[3])
    frame = image[0, :3, y0:y1, x0:x1]
    frame = frame.flip(-1) if mirror else frame
    _, skin_alpha, _, lash_alpha = lid.lid_layer(
        frame, lid.find_shape(frame.permute(1, 2, 0).numpy()), 0.5
    )
    if mirror:
        skin_alpha, lash_alpha = skin_alpha.flip(-1), lash_alpha.flip(-1)
    solid = torch.zeros(image.shape[2:], dtype=torch.bool)
    solid[y0:y1, x0:x1] = (skin_alpha > 0.999) & (lash_alpha == 0)
    bare = torch.zeros(image.shape[2:], dtype=torch.bool)
    bare[y0:y1, x0:x1] = (skin_alpha == 0) & (lash_alpha == 0)
    lid_only = edit_region(model, image, region, {"openness": -1.0}, mirror=mirror)
    both = edit_region(model, image, region, {"openness": -1.0, "iris_colour": 1.0}, mirror=mirror)
    colour_only = edit_region(model, image, region, {"iris_colour": 1.0}, mirror=mirror)
    assert int(solid.sum()) > 20 and int(bare.sum()) > 20
    # Under the solid lid the colour change shows nowhere (an alpha of 0.999
    # lets a thousandth of it through).
    assert torch.allclose(both[0, :3][:, solid], lid_only[0, :3][:, solid], atol=1e-4)
    assert torch.equal(both[0, :3][:, bare], colour_only[0, :3][:, bare])
    assert (colour_only - image)[0, :3][:, bare].abs().max() > 0.05


def test_a_model_that_is_not_an_eye_model_keeps_its_openness_slider():
    from warpaint.engine.features.eyes.attributes import lid_closure
    from warpaint.engine.features.eyes.autoencoder import (
        Attribute,
        AttributeModel,
        AutoencoderConfig,
        ConvAutoencoder,
    )

    net = ConvAutoencoder(AutoencoderConfig(16, 32, latent=8, channels=(4, 8))).eval()
    faces = AttributeModel(net, "stretch")
    faces.add(Attribute("openness", torch.ones(8)))
    eyes = AttributeModel(net, "eye-corners")
    eyes.add(Attribute("openness", torch.ones(8)))
    assert lid_closure(faces, {"openness": -2.0}) == 0.0
    assert lid_closure(eyes, {"openness": -2.0}) == 1.0
    assert lid_closure(eyes, {"openness": -1.0}) == 0.5
    assert lid_closure(eyes, {"openness": 0.5}) == 0.0


def test_bench_faces_reports_lid_coverage_per_real_eye_set():
    from warpaint.engine.features.eyes.bench_faces import blink_figures

    figures = blink_figures()["sets"]
    assert set(figures) == {"astronaut", "lfw", "lfw-held-out", "hopper"}
    for name, entry in figures.items():
        assert entry["eyes"] == len(entry["closed_per_eye"]) >= 2
        assert entry["closed_mean"] >= 0.6, (name, entry)
        assert entry["half_closed_mean"] < entry["closed_mean"], (name, entry)


def test_face_all_closes_every_detected_eye_and_nothing_outside_them(model, astronaut_eyes):
    from warpaint.engine.features.eyes.attributes import edit_regions
    from warpaint.engine.features.eyes.effect_attributes import face_regions

    photo = astronaut_eyes[0].image
    regions = face_regions(photo, model)
    assert len(regions) == 2
    image = rgba(photo)
    out = edit_regions(model, image, regions, {"openness": -2.0})
    outside = torch.ones(image.shape[2:], dtype=torch.bool)
    for region, _ in regions:
        x0, y0, x1, y1 = region_box(region, image.shape[2], image.shape[3])
        outside[y0:y1, x0:x1] = False
    assert torch.equal(out[..., outside], image[..., outside])
    after = out[0, :3].permute(1, 2, 0).numpy()
    for eye in astronaut_eyes:
        assert lid_coverage(eye.image, after, eye.iris, eye.skin)["covered"] >= 0.6, eye.name


def test_on_a_blurred_eye_the_lash_line_is_as_soft_as_the_picture(model, astronaut_eyes):
    import dataclasses

    import cv2

    eye = crop_of(astronaut_eyes[0])
    soft = dataclasses.replace(eye, image=cv2.GaussianBlur(eye.image, (0, 0), 2.5))
    (x, y, w, h), _ = soft.region()
    box = (slice(int(y), int(y + h)), slice(int(x), int(x + w)))

    def blur_of(rgb: np.ndarray) -> float:
        return lid.picture_blur(torch.from_numpy(np.ascontiguousarray(rgb[box])).permute(2, 0, 1))

    before = blur_of(soft.image)
    after = blur_of(blink(soft, -2.0, model))
    # A crisp drawn line would make the blurred patch's steepest edge a sharp one.
    assert before > 1.5
    assert after >= 0.7 * before, (before, after)
    # The sharp original keeps its crisp line: nothing is softened there.
    sharp = blur_of(blink(eye, -2.0, model))
    assert sharp < 0.5 * after, (sharp, after)
