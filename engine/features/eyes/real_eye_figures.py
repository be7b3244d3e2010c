"""Landmark error and gaze iris displacement on labelled real eyes (`real_eyes.py`).

Landmark error (`landmark_errors`): each eye's picture is scaled so that its
labelled corners are `eye_width` px apart (None: its own size), the
regressor starts from the labelled corners moved by a detector-sized error
(`STARTS`: shifted by 15 % of the eye's width sideways or 10 % up and down,
or scaled by 0.85 or 1.15 about the eye's middle) and refines them as
detection does (`detect.refine_eyes`, three passes); the error of its
corners and iris centre against the labels (the iris box's centre), and
of the labelled lid points from the lid curves found (where lids are
labelled), in pixels of the scaled picture, averaged over the starts.

Gaze iris displacement (`gaze_displacement`): the gaze effect's own path
(`effect_gaze.redirect_patches`, the patches `warpaint apply gaze` pastes) at
-15 and +15 degrees horizontal on an eye scaled to `eye_width` px in its
face; how far the iris moved is found by template matching, independent of
the gaze network: the iris disc of the original (the labelled iris box's
ellipse, its middle rows only, since the lids above and below it do not
move with the gaze) is searched for in the result, the sub-pixel shift
minimising the squared difference. Per degree: (shift at +15 - shift at
-15) / 30, in pixels of the scaled picture, positive toward the image's
right. Rendered eyes (`render.render_eye`, straight ahead, scaled to the
same width and set on an edge-padded canvas) go through the same path and
the same measure; the ratio real / rendered is the goal's figure (>= 0.7).
The real eyes are framed by their labelled corners, by the corners the
regressor finds from them, or by the corners detection finds.

Detection (`detected_corners`, `detection_errors`): `detect.detect_faces`
on each eye's picture (a face crop under `PAD_BELOW` px set in an
edge-padded margin of half its size, as a face has background around it in
a photo), the found eye nearest the labelled one; its corner error and
width error against the labels in px of the picture scaled as above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warpaint.engine.features.eyes.real_eyes import Box, RealEye

EYE_WIDTH = 20.0
GAZE_ANGLE = 15.0
# Starting corners: (shift x, shift y) in eye widths, scale about the eye's middle.
STARTS = ((0.15, 0.0, 1.0), (-0.15, 0.0, 1.0), (0.0, 0.1, 1.0), (0.0, -0.1, 1.0), (0.0, 0.0, 0.85),
          (0.0, 0.0, 1.15))  # fmt: skip
RENDERED_EYES = 8
# Template search: shifts up to this many iris radii, in steps of STEP px.
SEARCH_RADII = 1.2
STEP = 0.05
# Pictures with a shorter side below this are face crops: detection gets them in a margin.
PAD_BELOW = 256


def _point_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(N,) distance of each of `points` (N, 2) from the polyline `line` (M, 2)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(
        ((points[:, None] - a[None]) * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12),
        0.0,
        1.0,
    )
    nearest = a[None] + t[..., None] * ab[None]
    return np.asarray(np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1))


def scaled(eye: RealEye, eye_width: float | None) -> tuple[np.ndarray, np.ndarray, Box, float]:
    """(image, corners, iris box, factor): `eye` scaled so its corners are
    `eye_width` px apart (area resampling down, bicubic up; None: as it is)."""
    import cv2

    width = float(np.linalg.norm(eye.corners[1] - eye.corners[0]))
    if eye_width is None:
        return eye.image, eye.corners, eye.iris, 1.0
    f = eye_width / width
    h, w = eye.image.shape[:2]
    size = (max(8, round(w * f)), max(8, round(h * f)))
    fx, fy = size[0] / w, size[1] / h
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    image = np.clip(cv2.resize(eye.image, size, interpolation=interp), 0, 1).astype(np.float32)
    # Pixel centres at integers: x' = (x + 0.5) f - 0.5.
    corners = (eye.corners + 0.5) * [fx, fy] - 0.5
    x, y, bw, bh = eye.iris
    return image, corners, (x * fx, y * fy, bw * fx, bh * fy), f


def _start(corners: np.ndarray, dx: float, dy: float, s: float) -> np.ndarray:
    width = float(np.linalg.norm(corners[1] - corners[0]))
    mid = corners.mean(axis=0)
    return np.asarray(mid + s * (corners - mid) + [dx * width, dy * width], np.float64)


def landmark_error(eye: RealEye, eye_width: float | None = EYE_WIDTH) -> dict[str, float]:
    """Mean corner and iris-centre error (px of the scaled picture) of the
    regressor refining from each of `STARTS`, and where the eye's lids are
    labelled, the mean distance of the labelled lid points from the lid
    curves found (corners and lid points joined); see the module's docstring."""
    from warpaint.engine.features.eyes.detect import refine_eyes

    image, corners, iris, f = scaled(eye, eye_width)
    mirror = bool(corners[0, 0] > corners[1, 0])
    centre = np.array([iris[0] + iris[2] / 2 - 0.5, iris[1] + iris[3] / 2 - 0.5])
    rough = [(_start(corners, dx, dy, s), mirror) for dx, dy, s in STARTS]
    found = refine_eyes(image, rough)
    corner = [float(np.linalg.norm(e.corners - corners, axis=1).mean()) for e in found]
    centre_err = [float(np.linalg.norm(e.iris_centre - centre)) for e in found]
    out = {
        "corners_px": round(float(np.mean(corner)), 2),
        "corners_max_px": round(float(np.max(corner)), 2),
        "iris_px": round(float(np.mean(centre_err)), 2),
        "iris_max_px": round(float(np.max(centre_err)), 2),
    }
    if eye.lids is not None:
        h, w = eye.image.shape[:2]
        fxy = np.array([image.shape[1] / w, image.shape[0] / h]) if f != 1.0 else np.ones(2)
        lid = []
        for e in found:
            for name, curve in (("upper", e.upper_lid), ("lower", e.lower_lid)):
                line = np.concatenate([e.corners[:1], curve, e.corners[1:]])
                labelled = (eye.lids[name] + 0.5) * fxy - 0.5
                lid.append(float(_point_to_polyline(labelled, line).mean()))
        out["lids_px"] = round(float(np.mean(lid)), 2)
    return out


def landmark_errors(
    eyes: dict[str, list[RealEye]], eye_width: float | None = EYE_WIDTH
) -> dict[str, Any]:
    """Per eye set: mean and worst corner and iris-centre errors, and each eye's."""
    out: dict[str, Any] = {}
    for name, members in eyes.items():
        per_eye = {eye.name: landmark_error(eye, eye_width) for eye in members}
        figures = list(per_eye.values())
        lids = [f["lids_px"] for f in figures if "lids_px" in f]
        out[name] = {
            **({"lids_mean_px": round(float(np.mean(lids)), 2)} if lids else {}),
            "corners_mean_px": round(float(np.mean([f["corners_px"] for f in figures])), 2),
            "corners_worst_px": max(f["corners_px"] for f in figures),
            "iris_mean_px": round(float(np.mean([f["iris_px"] for f in figures])), 2),
            "iris_worst_px": max(f["iris_px"] for f in figures),
            "per_eye": per_eye,
        }
    return out


# -- gaze ---------------------------------------------------------------------------


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)


def iris_shift(before: np.ndarray, after: np.ndarray, iris: Box) -> tuple[float, float]:
    """(dx, dy) px by which the iris disc of `before` (the ellipse in the `iris`
    box, its middle half of rows) moved in `after`: the sub-pixel shift
    minimising the squared luma difference, searched on a grid."""
    from scipy.ndimage import map_coordinates

    x, y, w, h = iris
    cx, cy, rx, ry = x + w / 2 - 0.5, y + h / 2 - 0.5, w / 2, h / 2
    ys, xs = np.mgrid[
        int(np.floor(cy - ry)) : int(np.ceil(cy + ry)) + 1,
        int(np.floor(cx - rx)) : int(np.ceil(cx + rx)) + 1,
    ]
    inside = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0) & (np.abs(ys - cy) <= ry / 2)
    px, py = xs[inside].astype(np.float64), ys[inside].astype(np.float64)
    ref = _luma(before)[py.astype(int), px.astype(int)]
    lum = _luma(after).astype(np.float64)
    reach = SEARCH_RADII * rx
    shifts_x = np.arange(-reach, reach + STEP / 2, STEP)
    shifts_y = np.arange(-reach / 2, reach / 2 + STEP / 2, 2 * STEP)
    best, best_cost = (0.0, 0.0), np.inf
    for sy in shifts_y:
        rows = np.repeat((py + sy)[None], len(shifts_x), 0)
        cols = px[None] + shifts_x[:, None]
        vals = map_coordinates(lum, [rows.ravel(), cols.ravel()], order=1, mode="nearest")
        cost = ((vals.reshape(len(shifts_x), -1) - ref) ** 2).mean(axis=1)
        i = int(np.argmin(cost))
        if cost[i] < best_cost:
            best, best_cost = (float(shifts_x[i]), float(sy)), float(cost[i])
    return best


def _redirected(image: np.ndarray, corners: np.ndarray, mirror: bool, angle: float, model: Any):  # type: ignore[no-untyped-def]
    from warpaint.engine.features.eyes.effect_gaze import redirect_patches

    out = np.array(image[..., :3], np.float32)
    for x0, y0, patch in redirect_patches(out, [(corners, mirror)], angle, 0.0, model):
        out[y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]] = patch[..., :3]
    return out


def _per_degree(
    image: np.ndarray, corners: np.ndarray, mirror: bool, iris: Box, model: Any
) -> float:
    plus = iris_shift(image, _redirected(image, corners, mirror, GAZE_ANGLE, model), iris)
    minus = iris_shift(image, _redirected(image, corners, mirror, -GAZE_ANGLE, model), iris)
    return (plus[0] - minus[0]) / (2 * GAZE_ANGLE)


def rendered_eye(seed: int, eye_width: float = EYE_WIDTH) -> tuple[np.ndarray, np.ndarray, Box]:
    """(image, [inner, outer] corners, iris box): a random rendered eye looking
    straight ahead, rendered large, scaled so its corners are `eye_width` px
    apart and set on a canvas padded with its own edge pixels."""
    import cv2

    from warpaint.engine.features.eyes.render import EyeAppearance, EyeLook, render_eye

    rng = np.random.default_rng(seed)
    size = (96, 128)
    app = EyeAppearance.random(rng)
    img, lm = render_eye(app, EyeLook(), size, seed=seed)
    width = float(np.linalg.norm(lm.corners[1] - lm.corners[0]))
    f = eye_width / width
    small = (round(size[1] * f), round(size[0] * f))
    fx, fy = small[0] / size[1], small[1] / size[0]
    img = cv2.resize(img, small, interpolation=cv2.INTER_AREA)
    pad = round(eye_width)
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    corners = (lm.corners + 0.5) * [fx, fy] - 0.5 + pad
    cx, cy = (lm.iris_centre + 0.5) * [fx, fy] - 0.5 + pad
    r = lm.iris_radius * fx
    return (
        np.clip(img, 0, 1).astype(np.float32),
        corners,
        (cx + 0.5 - r, cy + 0.5 - r, 2 * r, 2 * r),
    )


def gaze_displacement(
    eyes: dict[str, list[RealEye]],
    eye_width: float = EYE_WIDTH,
    model: Any = None,
    framing: str = "labelled",
) -> dict[str, Any]:
    """Iris displacement per degree (px / degree of horizontal gaze, at
    `eye_width` px eye width) on the real eyes of each set and on
    `RENDERED_EYES` rendered ones, and the ratio real / rendered. The eyes are
    framed (`framing`) by their "labelled" corners, by the corners the
    landmark "regressor" finds from them, or by the corners "detection"
    finds on their picture (`detected_corners`; an eye it misses is left out)."""
    from warpaint.engine.features.eyes.detect import refine_eyes

    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")

    if model is None:
        from warpaint.engine.features.eyes.effect_gaze import load_gaze_model

        model = load_gaze_model(None, "cpu")
    rendered = []
    for seed in range(RENDERED_EYES):
        image, corners, iris = rendered_eye(seed, eye_width)
        rendered.append(_per_degree(image, corners, False, iris, model))
    rendered_mean = float(np.mean(rendered))
    out: dict[str, Any] = {
        "eye_width_px": eye_width,
        "corners": FRAMINGS[framing],
        "angles_deg": [-GAZE_ANGLE, GAZE_ANGLE],
        "rendered_px_per_deg": round(rendered_mean, 4),
        "rendered_eyes": len(rendered),
        "sets": {},
    }
    for name, members in eyes.items():
        per_eye = {}
        detected = detected_corners(members) if framing == "detection" else {}
        for eye in members:
            image, corners, iris, _ = scaled(eye, eye_width)
            mirror = bool(corners[0, 0] > corners[1, 0])
            if framing == "regressor":
                corners = refine_eyes(image, [(corners, mirror)])[0].corners
            elif framing == "detection":
                at = detected[eye.name]
                if at is None:
                    continue
                corners = _to_scaled(at, eye, image)
            per_eye[eye.name] = round(_per_degree(image, corners, mirror, iris, model), 4)
        mean = float(np.mean(list(per_eye.values()))) if per_eye else float("nan")
        out["sets"][name] = {
            "px_per_deg": round(mean, 4),
            "ratio": round(mean / rendered_mean, 3) if rendered_mean else None,
            "per_eye": per_eye,
        }
    return out


FRAMINGS = {
    "labelled": "labelled",
    "regressor": "found by the landmark regressor from the labelled corners",
    "detection": "found by detect_faces on the eye's picture",
}


def _to_scaled(points: np.ndarray, eye: RealEye, image: np.ndarray) -> np.ndarray:
    """`points` (N, 2) in `eye.image`'s pixels mapped into `image`, `scaled`'s picture."""
    fx = image.shape[1] / eye.image.shape[1]
    fy = image.shape[0] / eye.image.shape[0]
    return np.asarray((points + 0.5) * [fx, fy] - 0.5, np.float64)


def detected_corners(eyes: list[RealEye]) -> dict[str, np.ndarray | None]:
    """{eye name: [inner, outer] corners (2, 2) in its picture's pixels, of the
    eye `detect_faces` finds nearest its labelled centre, or None when no
    found eye is within its labelled width of it}. Each picture is searched
    once; one under `PAD_BELOW` px is set in an edge-padded margin of half its size."""
    from warpaint.engine.features.eyes.detect import detect_faces

    found: dict[int, list[np.ndarray]] = {}
    out: dict[str, np.ndarray | None] = {}
    for eye in eyes:
        key = id(eye.image)
        if key not in found:
            image = eye.image
            pad = min(image.shape[:2]) // 2 if min(image.shape[:2]) < PAD_BELOW else 0
            if pad:
                image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
            found[key] = [e.corners - pad for face in detect_faces(image) for e in face.eyes]
        centre = eye.corners.mean(axis=0)
        width = float(np.linalg.norm(eye.corners[1] - eye.corners[0]))
        near = [c for c in found[key] if np.linalg.norm(c.mean(axis=0) - centre) < width]
        out[eye.name] = (
            min(near, key=lambda c: float(np.linalg.norm(c.mean(axis=0) - centre)))
            if near
            else None
        )
    return out


def detection_errors(
    eyes: dict[str, list[RealEye]], eye_width: float | None = EYE_WIDTH
) -> dict[str, Any]:
    """Per eye set: how many labelled eyes detection finds (`detected_corners`),
    and of those the mean corner error and mean and worst absolute width error
    (corner distance found - labelled) in px of the picture scaled so the
    labelled eye is `eye_width` px wide (None: its own size), and each eye's."""
    out: dict[str, Any] = {}
    for name, members in eyes.items():
        detected = detected_corners(members)
        per_eye: dict[str, dict[str, float] | None] = {}
        for eye in members:
            at = detected[eye.name]
            if at is None:
                per_eye[eye.name] = None
                continue
            image, corners, _iris, _ = scaled(eye, eye_width)
            found = _to_scaled(at, eye, image)
            width = float(np.linalg.norm(found[1] - found[0]))
            labelled = float(np.linalg.norm(corners[1] - corners[0]))
            per_eye[eye.name] = {
                "corners_px": round(float(np.linalg.norm(found - corners, axis=1).mean()), 2),
                "width_px": round(width, 2),
                "width_error_px": round(width - labelled, 2),
            }
        hits = [f for f in per_eye.values() if f is not None]
        corner_errors = [f["corners_px"] for f in hits]
        width_errors = [abs(f["width_error_px"]) for f in hits]
        out[name] = {
            "found": len(hits),
            "eyes": len(members),
            "corners_mean_px": round(float(np.mean(corner_errors)), 2) if hits else None,
            "width_error_mean_px": round(float(np.mean(width_errors)), 2) if hits else None,
            "width_error_worst_px": max(width_errors, default=None),
            "per_eye": per_eye,
        }
    return out


# -- the contact sheet --------------------------------------------------------------

SHEET_COLUMNS = ("original", "gaze -15", "gaze +15", "blink")


def _context() -> Any:
    from warpaint.engine.runtime.jobs import Job, JobContext

    return JobContext(Job(lambda _ctx: None, label="contact sheet", device="cpu"))


def face_edits(image: np.ndarray) -> list[np.ndarray]:
    """(H, W, 3) float32 pictures: `image` ((H, W, 3) float in [0, 1]) as it is,
    with the gaze effect at -15 and +15 degrees horizontal and with the
    attributes effect's openness at its closed end (-2), each with
    `face=all` (every detected face, as the editor and the CLI run them)."""
    import torch

    from warpaint.engine.features.eyes import effect_attributes, effect_gaze
    from warpaint.engine.features.eyes.faces import ALL_FACES

    rgba = np.concatenate([image[..., :3], np.ones((*image.shape[:2], 1), np.float32)], axis=2)
    tensor = torch.from_numpy(np.ascontiguousarray(rgba.transpose(2, 0, 1)))[None]
    ctx = _context()
    out = [np.array(image[..., :3], np.float32)]
    with torch.inference_mode():
        for angle in (-GAZE_ANGLE, GAZE_ANGLE):
            params = {"horizontal": angle, "vertical": 0.0, "which": "both", "eyes": None,
                      "face": ALL_FACES, "model": None}  # fmt: skip
            out.append(effect_gaze.run(ctx, tensor, params)[0, :3].permute(1, 2, 0).numpy())
        params = {"openness": -2.0, "face": ALL_FACES, "region": None, "model": None,
                  "mirror": False, "feather": 0.15}  # fmt: skip
        out.append(effect_attributes.run(ctx, tensor, params)[0, :3].permute(1, 2, 0).numpy())
    return [np.ascontiguousarray(p, np.float32) for p in out]


def sheet_pictures() -> list[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) float32) of the real faces on the contact sheet: the
    astronaut's face, Grace Hopper's (glasses; where the labels keep her
    picture), and the upright faces of `face_samples.group_picture`'s group
    of LFW faces (120 px faces), cut out with a margin."""
    from skimage import data

    from warpaint.engine.features.eyes.face_samples import GROUP_FACES, group_picture
    from warpaint.engine.features.eyes.real_eyes import EYE_LABELS, labelled_picture

    astronaut = np.asarray(data.astronaut(), np.float32)[40:200, 150:310] / 255.0
    out = [("astronaut", astronaut)]
    hopper = EYE_LABELS.parent / "grace_hopper.jpg"
    if hopper.is_file():
        portrait = labelled_picture(hopper)[100:360, 130:400]
        out.append(("grace_hopper", np.ascontiguousarray(portrait, np.float32) / 255.0))
    group, faces = group_picture(1600, 1000, 120, 0)
    picture = np.asarray(group, np.float32) / 255.0
    for (index, _frac, angle, _shadow), face in zip(GROUP_FACES, faces, strict=True):
        if angle:
            continue
        x, y, w, h = (int(round(v)) for v in face.box)
        m = w // 4
        crop = picture[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
        out.append((f"lfw{index}", np.ascontiguousarray(crop)))
    return out


def _eye_band(picture: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): both detected eyes of the face in `picture`, with a
    margin of 0.6 eye widths sideways and 0.7 above and below."""
    from warpaint.engine.features.eyes.effect_gaze import detect_eye_corners

    corners = np.concatenate([c for face in detect_eye_corners(picture) for c, _ in face])
    width = float(np.linalg.norm(corners[1] - corners[0]))
    h, w = picture.shape[:2]
    x0, x1 = corners[:, 0].min() - 0.6 * width, corners[:, 0].max() + 0.6 * width
    yc = float(corners[:, 1].mean())
    return (max(0, int(x0)), max(0, int(yc - 0.7 * width)), min(w, int(np.ceil(x1))),
            min(h, int(np.ceil(yc + 0.7 * width))))  # fmt: skip


def contact_sheet(height: int = 150, gap: int = 4) -> np.ndarray:
    """(H, W, 3) float32: one row per face of `sheet_pictures`, one column per
    `SHEET_COLUMNS`, each cell the band of both detected eyes (`_eye_band`)
    scaled to `height` px high (Lanczos)."""
    from PIL import Image

    rows = []
    for _name, picture in sheet_pictures():
        x0, y0, x1, y1 = _eye_band(picture)
        cells = []
        for edited in face_edits(picture):
            u8 = (np.clip(edited[y0:y1, x0:x1], 0, 1) * 255 + 0.5).astype(np.uint8)
            width = round(u8.shape[1] * height / u8.shape[0])
            big = Image.fromarray(u8).resize((width, height), Image.Resampling.LANCZOS)
            cells += [np.asarray(big, np.float32) / 255.0, np.ones((height, gap, 3), np.float32)]
        rows.append(np.concatenate(cells[:-1], axis=1))
    width = max(r.shape[1] for r in rows)
    padded = []
    for r in rows:
        full = np.ones((height, width, 3), np.float32)
        full[:, : r.shape[1]] = r
        padded += [full, np.ones((gap, width, 3), np.float32)]
    return np.concatenate(padded[:-1], axis=0)


def main(argv: list[str] | None = None) -> int:
    """Write the contact sheet (real faces: original, gaze -15 and +15 degrees,
    blink at the closed end) to a PNG."""
    import argparse

    import torch
    from PIL import Image

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="the PNG to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sheet = contact_sheet()
    Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)).save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
