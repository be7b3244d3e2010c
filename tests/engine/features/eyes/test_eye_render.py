"""The procedural eye renderer: determinism, landmarks that match the pixels,
lids that follow the gaze, blinks that hide the iris, pairs that differ only
around the eye."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from warpaint.engine.features.eyes.align import canonical_corners
from warpaint.engine.features.eyes.render import (
    LID_POINTS,
    EyeAppearance,
    EyeLook,
    landmarks,
    render_eye,
    render_pair,
)

SIZE = (48, 64)


def _clean(app: EyeAppearance) -> EyeAppearance:
    """The same eye photographed without blur, noise, JPEG or upscaling."""
    return replace(app, blur=0.0, noise=0.0, jpeg_quality=0, resolution=1.0)


def _lum(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], np.float32)


def _opening_mask(lm, size: tuple[int, int]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(H, W) bool: pixel centres inside the lid polygon."""
    import cv2

    poly = np.concatenate([lm.corners[:1], lm.upper_lid, lm.corners[1:], lm.lower_lid[::-1]])
    mask = np.zeros(size, np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)


def test_same_seed_same_pixels_and_other_seeds_differ() -> None:
    a1, b1, la, lb, ma, mb = render_pair(123)
    a2, b2, la2, lb2, ma2, mb2 = render_pair(123)
    assert a1.dtype == np.float32 and a1.shape == (*SIZE, 3)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert la == la2 and lb == lb2
    assert np.array_equal(ma.as_array(), ma2.as_array())
    other = render_pair(124)[0]
    assert np.abs(other - a1).mean() > 0.02
    assert a1.min() >= 0.0 and a1.max() <= 1.0


def test_render_eye_noise_seed_changes_only_noise() -> None:
    app = replace(EyeAppearance.random(np.random.default_rng(3)), noise=0.02, jpeg_quality=0)
    img0, lm0 = render_eye(app, EyeLook(), SIZE, seed=0)
    img1, lm1 = render_eye(app, EyeLook(), SIZE, seed=1)
    assert np.array_equal(lm0.as_array(), lm1.as_array())
    diff = img1 - img0
    assert 0.0 < np.abs(diff).mean() < 0.05  # sensor noise, not another eye


def test_default_eye_corners_sit_on_the_canonical_frame() -> None:
    lm = landmarks(EyeAppearance(), EyeLook(), SIZE)
    assert np.allclose(lm.corners, canonical_corners(SIZE))
    assert lm.upper_lid.shape == (LID_POINTS, 2) and lm.lower_lid.shape == (LID_POINTS, 2)
    # Lids run from the inner corner (left in the frame) to the outer one.
    assert np.all(np.diff(lm.upper_lid[:, 0]) > 0) and np.all(np.diff(lm.lower_lid[:, 0]) > 0)
    assert np.all(lm.upper_lid[:, 1] < lm.lower_lid[:, 1])


@pytest.mark.parametrize("seed", range(6))
def test_iris_centre_landmark_sits_on_the_darkest_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    app = _clean(EyeAppearance.random(rng))
    look = EyeLook(yaw=float(rng.uniform(-20, 20)), pitch=float(rng.uniform(-10, 10)))
    img, lm = render_eye(app, look, SIZE)
    lum = _lum(img)
    opening = _opening_mask(lm, SIZE)
    ys, xs = np.nonzero(opening)
    vals = lum[ys, xs]
    darkest = np.argsort(vals)[: max(3, len(vals) // 20)]
    centre = np.array([xs[darkest].mean(), ys[darkest].mean()])
    # The pupil is the darkest part of the opening; it is centred on the iris.
    assert np.linalg.norm(centre - lm.iris_centre) < 0.5 * lm.iris_radius
    # The pixel at the iris centre is much darker than the white of the eye.
    cx, cy = np.round(lm.iris_centre).astype(int)
    assert lum[cy, cx] < 0.6 * np.percentile(vals, 90)


def test_iris_moves_and_foreshortens_with_the_gaze() -> None:
    app = EyeAppearance()
    ahead = landmarks(app, EyeLook(), SIZE)
    right = landmarks(app, EyeLook(yaw=20.0), SIZE)
    up = landmarks(app, EyeLook(pitch=15.0), SIZE)
    assert right.iris_centre[0] > ahead.iris_centre[0] + 3.0
    assert abs(right.iris_centre[1] - ahead.iris_centre[1]) < 0.5
    assert up.iris_centre[1] < ahead.iris_centre[1] - 2.0
    # Foreshortening: the iris' visible width shrinks as it turns away.
    clean = _clean(app)
    pure = replace(clean, iris_colour=(0.0, 0.9, 0.0), iris_inner_amount=0.0, iris_texture=0.0)

    def green_width(look: EyeLook) -> float:
        img, _ = render_eye(pure, look, (96, 128))
        green = (img[..., 1] - img[..., 0]) > 0.25
        cols = np.nonzero(green.any(axis=0))[0]
        return float(cols.max() - cols.min() + 1)

    assert green_width(EyeLook(yaw=30.0)) < 0.93 * green_width(EyeLook())


def test_upper_lid_lowers_when_looking_down_and_rises_when_looking_up() -> None:
    app = EyeAppearance()
    tops = [landmarks(app, EyeLook(pitch=p), SIZE).upper_lid[:, 1].mean() for p in (20, 0, -20)]
    assert tops[0] < tops[1] - 1.0 < tops[2] - 2.0  # y grows downward
    # The pixels agree: the first eyeball row under the lid moves down with the gaze.
    clean = _clean(replace(app, lashes=0.0, brow=0.0, crease=0.0))

    def opening_top(pitch: float) -> int:
        img, lm = render_eye(clean, EyeLook(pitch=pitch), SIZE)
        closed, _ = render_eye(clean, EyeLook(pitch=pitch, openness=0.0), SIZE)
        col = int(round(lm.iris_centre[0]))
        # Rows of the centre column that a blink covers with skin: the opening.
        rows = np.nonzero(np.abs(img[:, col] - closed[:, col]).sum(axis=1) > 0.15)[0]
        assert len(rows)
        return int(rows.min())

    assert opening_top(-20) > opening_top(0) > opening_top(20)


def test_closed_eye_hides_the_iris() -> None:
    app = _clean(replace(EyeAppearance(), iris_colour=(0.0, 0.9, 0.0), iris_inner_amount=0.0))

    def green_pixels(openness: float) -> int:
        img, _ = render_eye(app, EyeLook(openness=openness), SIZE)
        return int(((img[..., 1] - np.maximum(img[..., 0], img[..., 2])) > 0.2).sum())

    assert green_pixels(1.0) > 40
    assert green_pixels(0.5) > 10
    assert green_pixels(0.0) == 0
    lm = landmarks(app, EyeLook(openness=0.0), SIZE)
    assert np.allclose(lm.upper_lid, lm.lower_lid)


def test_nothing_of_the_eyeball_shows_beyond_the_corners() -> None:
    # Corners are where the lids meet: turning the eye changes no pixel left of
    # the inner corner or right of the outer corner.
    app = _clean(replace(EyeAppearance(), lashes=0.0))
    a, lm = render_eye(app, EyeLook(yaw=-25.0, pitch=10.0), SIZE)
    b, _ = render_eye(app, EyeLook(yaw=25.0, pitch=-10.0), SIZE)
    changed = np.nonzero(np.abs(a - b).max(axis=2) > 1e-6)[1]
    assert len(changed) > 50
    assert changed.min() >= np.floor(lm.corners[0, 0]) - 1
    assert changed.max() <= np.ceil(lm.corners[1, 0]) + 1


def _low_res_span(lo: float, hi: float, res: float, block: int) -> tuple[float, float]:
    """Crop-pixel span [lo, hi] grown to whole blocks of the photo at `res`."""
    a = np.floor((lo * res - 1.5) / block) * block - 2
    b = np.ceil((hi * res + 1.5) / block) * block + 2
    return float(a / res), float(b / res)


def test_pair_changes_only_the_eye_region() -> None:
    checked = 0
    for seed in range(16):
        a, b, look_a, look_b, lm_a, lm_b = render_pair(seed)
        assert look_a.openness == look_b.openness and look_a.pupil == look_b.pupil
        assert (look_a.yaw, look_a.pitch) != (look_b.yaw, look_b.pitch)
        app = EyeAppearance.random(np.random.default_rng(seed))
        length = float(np.linalg.norm(lm_a.corners[1] - lm_a.corners[0]))
        pts = np.concatenate([lm_a.as_array(), lm_b.as_array()])
        # The eye region: lid contours, plus the crease above the upper lid
        # (it moves with the lid), plus the reach of the blur kernel (4 sigma).
        margin = 2.5 + 4.5 * app.blur  # lashes reach ~1.5 px past the lid lines
        x0, x1 = pts[:, 0].min() - margin, pts[:, 0].max() + margin
        y0, y1 = pts[:, 1].min() - 0.3 * length - margin, pts[:, 1].max() + margin
        if app.jpeg_quality or app.resolution < 0.95:
            # Noise and JPEG act at the photo's resolution: a change spreads by
            # the downscale's footprint (1.5 px there), to whole 16x16 JPEG
            # macroblocks (chroma is subsampled), then by the cubic upscale (2 px).
            res = app.resolution if app.resolution < 0.95 else 1.0
            block = 16 if app.jpeg_quality else 1

            (x0, x1), (y0, y1) = (
                _low_res_span(x0, x1, res, block),
                _low_res_span(y0, y1, res, block),
            )
        ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
        outside = (xs < x0) | (xs > x1) | (ys < y0) | (ys > y1)
        if outside.sum() == 0:
            continue  # a tiny photo: every JPEG block touches the eye
        checked += 1
        assert np.array_equal(a[outside], b[outside]), seed
        assert np.abs(a - b).max() > 0.1  # the eye itself did change
    assert checked >= 6


def test_render_sizes_scale_the_landmarks() -> None:
    app = EyeAppearance.random(np.random.default_rng(9))
    small = landmarks(app, EyeLook(yaw=10), (48, 64))
    big = landmarks(app, EyeLook(yaw=10), (96, 128))
    # The frame is defined in fractions of the crop: twice the size, twice the coordinates.
    assert np.allclose(big.as_array(), small.as_array() * 2.0, atol=1e-4)
    img, _ = render_eye(app, EyeLook(yaw=10), (96, 128))
    assert img.shape == (96, 128, 3)


def test_random_appearances_vary_like_photos() -> None:
    apps = [EyeAppearance.random(np.random.default_rng(s)) for s in range(200)]
    skins = np.array([np.mean(a.skin_colour) for a in apps])
    assert skins.min() < 0.35 and skins.max() > 0.7  # dark to light skin
    assert any(a.jpeg_quality for a in apps) and any(not a.jpeg_quality for a in apps)
    assert any(a.resolution < 0.6 for a in apps)
    irises = np.array([a.iris_colour for a in apps])
    assert (irises[:, 2] > irises[:, 0]).any() and (irises[:, 0] > irises[:, 2] + 0.1).any()


@pytest.mark.parametrize("seed", [5, 17, 29, 41])
def test_glasses_draw_a_frame_around_the_eye_and_leave_its_opening_as_it_was(seed: int) -> None:
    from warpaint.engine.features.eyes.render import random_glasses

    bare = _clean(EyeAppearance.random(np.random.default_rng(seed)))
    worn = random_glasses(np.random.default_rng([seed, 1]), bare)
    worn = replace(worn, glasses_tint=0.0, glasses_glint=0.0, glasses=1.0, glasses_lower=1.0)
    img0, lm0 = render_eye(bare, EyeLook(), SIZE)
    img1, lm1 = render_eye(worn, EyeLook(), SIZE)
    assert np.array_equal(lm0.as_array(), lm1.as_array())
    opening = _opening_mask(lm0, SIZE)
    assert np.abs(img1 - img0)[opening].max() < 1e-6
    # The top bar crosses the crop's middle column above the eye, where the
    # rim's centre line is (in eye units from the corner line).
    changed = np.abs(img1 - img0).max(axis=2) > 0.05
    length = (0.8 - 0.2) * SIZE[1] * worn.scale
    top_v = worn.glasses_centre[1] - worn.glasses_size[1]
    row = int(round(0.55 * SIZE[0] + worn.shift[1] * SIZE[0] + top_v * length))
    centre_x = SIZE[1] / 2 + worn.shift[0] * SIZE[1]
    if 0 <= row < SIZE[0]:
        col = int(round(centre_x + worn.glasses_centre[0] * length))
        assert changed[max(0, row - 1) : row + 2, col].any()


def test_glasses_and_loose_framing_in_training_change_the_picture_not_the_eye() -> None:
    from warpaint.engine.features.eyes.landmarks import training_sample

    plain_img, plain_target = training_sample(11)
    again_img, again_target = training_sample(11, glasses=0.0, loose=0.0)
    assert np.array_equal(plain_img, again_img) and np.array_equal(plain_target, again_target)
    glasses_img, glasses_target = training_sample(11, glasses=1.0)
    assert np.array_equal(glasses_target, plain_target)
    assert np.abs(glasses_img - plain_img).mean() > 0.005
    _, loose_target = training_sample(11, loose=1.0)
    width = np.linalg.norm(np.diff(plain_target[:4].reshape(2, 2), axis=0))
    loose_width = np.linalg.norm(np.diff(loose_target[:4].reshape(2, 2), axis=0))
    assert loose_width != pytest.approx(width, rel=0.02)
