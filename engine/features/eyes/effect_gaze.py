"""Gaze: redirect where the eyes of a portrait look (DeepWarp).

Eyes come from the `eyes` points (two corners per eye; they override
detection) or from the detector (`warpaint.engine.features.eyes.detect`), cached per
image so slider drags never detect again. Each eye is cut out in the
canonical crop frame (`align.extract_crop`, the image-left eye mirrored);
the DeepWarp network predicts a flow and a lightness map there, and both
are applied to the eye region at the image's own resolution, blended in by
a soft elliptical weight (`apply_flow`): pixels outside the eye patches and
their blend band stay bit-identical, and angle 0 returns the input itself.

Sign conventions (as seen in the image): `horizontal` > 0 turns the eyes
toward the image's right, `vertical` > 0 makes them look up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.features.eyes.faces import ALL_FACES, chosen_faces, face_param
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import ModelFile, cached_model
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.eyes.deepwarp import DeepWarp
    from warpaint.engine.runtime.jobs import JobContext

MAX_ANGLE = 15.0
WHICH = ("both", "left", "right")

MODEL = ModelFile("gaze.safetensors", "warpaint train gaze")

SPEC = EffectSpec(
    id="gaze",
    model=MODEL,
    title="Gaze",
    category="Portrait",
    description="Redirect where the eyes look (DeepWarp); eyes are found automatically "
    "or given as two corner points per eye.",
    params=(
        Param("horizontal", "Horizontal (deg)", ParamType.NUMBER, default=0.0, min=-MAX_ANGLE,
              max=MAX_ANGLE, step=0.5, help="+ turns the eyes toward the image's right"),
        Param("vertical", "Vertical (deg)", ParamType.NUMBER, default=0.0, min=-MAX_ANGLE,
              max=MAX_ANGLE, step=0.5, help="+ looks up"),
        Param("which", "Eyes", ParamType.CHOICE, default="both", choices=WHICH,
              help="left and right as seen in the image"),
        Param("eyes", "Eye corners", ParamType.POINTS, default=None, image_bound=True,
              help="two corner points per eye (x,y;x,y;...), in image pixels; "
              "they replace detection"),
        face_param("which detected face, counted from the image's left from 0, when no eye "
                   "corners are given; 'all' (or -1): every face found, each by its own eyes"),
        Param("model", "Model file", ParamType.FILE, default=None,
              help="a gaze model from 'warpaint train gaze' (default: the shipped one)"),
    ),
)  # fmt: skip


# The demo runs on the sample document, whose bottom layer is the astronaut
# portrait: the eyes are detected there. The quick demo's 192 px copy is too
# small for the face detector, so it gets the astronaut's corners (measured
# by the detector at 512 px) scaled to 192 px.
DEMO_PARAMS: dict[str, Any] = {"horizontal": 10.0, "vertical": 5.0}
DEMO_PARAMS_QUICK: dict[str, Any] = {
    "eyes": tuple(
        (round(x * 192 / 512, 2), round(y * 192 / 512, 2))
        for x, y in ((212.8, 101.5), (191.2, 100.5), (235.9, 102.5), (256.1, 103.5))
    )
}


# -- eyes -------------------------------------------------------------------------


EyeCorners = tuple[np.ndarray, bool]  # (2, 2) [inner, outer] corners (x, y), mirrored?


def detect_eye_corners(image: np.ndarray) -> list[list[EyeCorners]]:
    """Faces from the image's left to its right, each a list of its eyes as
    ((2, 2) [inner, outer] corners in image pixels, mirror flag).

    `image` is (H, W, C) uint8 or float in [0, 1]. Detections are cached by
    the image's pixels (shared with the attributes panel, see
    `warpaint.engine.features.eyes.detect.DetectionCache`), so slider drags never
    detect again.
    """
    from warpaint.engine.features.eyes.detect import detect_faces_cached

    faces = sorted(detect_faces_cached(image), key=lambda f: f.box[0])
    return [[(np.asarray(e.corners, np.float64), bool(e.mirror)) for e in f.eyes] for f in faces]


def detected_points(image: np.ndarray, face: int = 0) -> tuple[tuple[float, float], ...]:
    """The detected eye corners of face `face` (counted from the image's left; past
    the last face, the last; `ALL_FACES`: every face, from the left) as a value
    for the `eyes` parameter: two points per eye, image-left eye first; () when
    no face is found. Cached per image."""
    faces = detect_eye_corners(image)
    if not faces:
        return ()
    picked = faces if face == ALL_FACES else [faces[min(face, len(faces) - 1)]]
    return tuple((float(x), float(y)) for eyes in picked for corners, _ in eyes for x, y in corners)


def prefill(image: np.ndarray) -> dict[str, Any]:
    """The panel hook: the detected eye points of the first face, if any."""
    points = detected_points(image)
    return {"eyes": points} if points else {}


def region(params: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The panel-preview hook: with eye points given, only the eyes' crop boxes
    can change, so a preview computes just that patch of the layer (a slider
    drag on a big portrait then costs the eyes, not the frame). None without
    points (detection needs the whole image) or at angle 0."""
    from warpaint.engine.features.eyes.align import crop_matrix, invert_affine, transform_points
    from warpaint.engine.features.eyes.deepwarp import CROP_SIZE
    from warpaint.engine.features.eyes.detect import eyes_from_points

    points = params.get("eyes")
    if not points or (params.get("horizontal") == 0 and params.get("vertical") == 0):
        return None
    try:
        eyes = eyes_from_points(np.asarray(points, np.float64).reshape(-1, 2))
    except BadInputError:
        return None
    ch, cw = CROP_SIZE
    frame = np.array([[-4, -4], [cw + 3, -4], [-4, ch + 3], [cw + 3, ch + 3]], np.float64)
    corners = np.concatenate(
        [transform_points(invert_affine(crop_matrix(e.corners, CROP_SIZE, e.mirror)), frame)
         for e in eyes]
    )  # fmt: skip
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def choose_eyes(image: np.ndarray, params: dict[str, Any], scale: float = 1.0) -> list[EyeCorners]:
    """The eyes to redirect in `image` pixels.

    `eyes` points (full-resolution pixels; `scale` maps them onto a preview)
    win over detection; without them `face` picks the detected face (or, as
    `ALL_FACES`, every one). `which` keeps one eye of each face. Raises
    BadInputError when no points are given and no eyes are found, or the face
    asked for is not there.
    """
    from warpaint.engine.features.eyes.detect import eyes_from_points

    points = params.get("eyes")
    if points:
        flat = np.asarray(points, np.float64).reshape(-1, 2) * scale
        faces = [[(e.corners, e.mirror) for e in eyes_from_points(flat)]]
    else:
        found = detect_eye_corners(image)
        if not found:
            raise BadInputError(
                "gaze: no eyes found in the image; give the eye corners as points "
                "(--set eyes=x,y;x,y;... two per eye)"
            )
        faces = chosen_faces(found, int(params.get("face", 0)), "gaze")
    which = params.get("which", "both")
    return [eye for eyes in faces for eye in _which_eyes(eyes, which)]


def _which_eyes(eyes: list[EyeCorners], which: str) -> list[EyeCorners]:
    """`eyes` (one face's, or the points given), or only the image-left or
    image-right one of them."""
    if which == "both" or len(eyes) < 2:
        return eyes
    centres = [float(corners[:, 0].mean()) for corners, _ in eyes]
    pick = int(np.argmin(centres)) if which == "left" else int(np.argmax(centres))
    return [eyes[pick]]


# -- the network ----------------------------------------------------------------


def load_gaze_model(path: str | None, device: str) -> DeepWarp:
    """The gaze network from `path` or the shipped model file, cached per file version."""
    from warpaint.engine.features.eyes.deepwarp import model_from_file

    file = Path(path) if path else MODEL.path()

    def on_device(name: str) -> DeepWarp:
        return model_from_file(name, device)

    return cached_model(file, str(device), on_device)


def blend_weight(size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 paste-back weight in the crop frame: 1 over the eye and its
    lids, easing to exactly 0 well inside the crop's border."""
    from warpaint.engine.features.eyes.align import canonical_corners

    h, w = size
    corners = canonical_corners(size)
    cx, cy = corners.mean(axis=0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot((xs - cx) / (0.44 * w), (ys - cy) / (0.40 * h))
    t = np.clip((1.0 - r) / 0.4, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def crop_angle(matrix: np.ndarray, horizontal: float, vertical: float) -> tuple[float, float]:
    """(dyaw, dpitch) in the crop frame for an image-frame redirection.

    The crop's x axis may point to the image's left (a mirrored eye): then
    "toward the image's right" is -yaw in the crop.
    """
    lin = np.asarray(matrix, np.float64)[:, :2]
    inv = np.linalg.inv(lin)
    x_axis, y_axis = inv[:, 0], inv[:, 1]
    return (
        horizontal * float(np.sign(x_axis[0]) or 1.0),
        vertical * float(np.sign(y_axis[1]) or 1.0),
    )


def redirect_patches(
    image: np.ndarray,
    eyes: list[EyeCorners],
    horizontal: float,
    vertical: float,
    model: DeepWarp,
    device: str = "cpu",
) -> list[tuple[int, int, np.ndarray]]:
    """The changed patches of `image` ((H, W, C) float32, C = 3 or 4) as
    (x0, y0, (h, w, C) float32 patch) for eyes as ([inner, outer] corners, mirror).

    Only the colour channels change; alpha is kept. Each patch is the image's
    pixels with the network's flow and lightness (computed on the canonical
    crop) applied at the image's own resolution, blended in by `blend_weight`.
    """
    import torch

    from warpaint.engine.features.eyes.align import (
        canonical_corners,
        crop_matrix,
        extract_crop,
        invert_affine,
        transform_points,
    )
    from warpaint.engine.features.eyes.deepwarp import CROP_SIZE

    if not eyes:
        return []
    ch, cw = CROP_SIZE
    h, w = image.shape[:2]
    weight_t = torch.from_numpy(blend_weight(CROP_SIZE))
    crops, boxes, matrices, angles = [], [], [], []
    for corners, mirror in eyes:
        full = crop_matrix(corners, CROP_SIZE, mirror)
        # Work on the crop's bounding box only: the rest of the image is never read.
        rect = transform_points(
            invert_affine(full), np.array([[-2, -2], [cw + 1, -2], [-2, ch + 1], [cw + 1, ch + 1]])
        )
        x0 = int(np.clip(np.floor(rect[:, 0].min()), 0, w))
        x1 = int(np.clip(np.ceil(rect[:, 0].max()) + 1, 0, w))
        y0 = int(np.clip(np.floor(rect[:, 1].min()), 0, h))
        y1 = int(np.clip(np.ceil(rect[:, 1].max()) + 1, 0, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = np.ascontiguousarray(image[y0:y1, x0:x1], np.float32)
        crop, matrix = extract_crop(region[..., :3], corners - [x0, y0], CROP_SIZE, mirror)
        crops.append(crop)
        boxes.append((x0, y0, region))
        matrices.append(matrix)
        angles.append(crop_angle(matrix, horizontal, vertical))
    if not crops:
        return []
    batch = torch.from_numpy(np.stack([c.transpose(2, 0, 1) for c in crops])).to(device)
    marks = torch.from_numpy(
        np.repeat(canonical_corners(CROP_SIZE)[None], len(crops), 0).astype(np.float32)
    ).to(device)
    with torch.inference_mode():
        out = model(batch, marks, torch.tensor(angles, dtype=torch.float32, device=device))
    patches = []
    for i, ((x0, y0, region), matrix) in enumerate(zip(boxes, matrices, strict=True)):
        rgb = apply_flow(
            region[..., :3], matrix, out["flow"][i], out["lightness"][i], weight_t.to(device)
        )
        patch = region.copy()
        patch[..., :3] = rgb
        patches.append((x0, y0, patch))
    return patches


def apply_flow(
    region: np.ndarray,
    matrix: np.ndarray,
    flow: torch.Tensor,
    lightness: torch.Tensor,
    weight: torch.Tensor,
) -> np.ndarray:
    """(h, w, 3) `region` redirected at its own resolution by a crop-frame result.

    `matrix` maps region pixels to crop pixels; `flow` (2, ch, cw) in crop
    pixels, `lightness` (1, ch, cw) the palette's share and `weight` (ch, cw)
    the paste-back weight, all in the crop frame. The network ran on a small
    crop, but its flow is applied to the region's own pixels, so a large eye
    keeps its sharpness (pasting a resampled crop would soften it, and
    pasting only the crop's change would leave the old iris's fine detail
    behind). Pixels where the weight is 0 come back bit-identical.
    """
    import torch
    import torch.nn.functional as F

    from warpaint.engine.features.eyes.deepwarp import PALETTE

    device = flow.device
    h, w = region.shape[:2]
    ch, cw = weight.shape
    m = torch.as_tensor(np.asarray(matrix, np.float64), dtype=torch.float32, device=device)
    ys = torch.arange(h, dtype=torch.float32, device=device).view(h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=device).view(1, w)
    qx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    qy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    grid = torch.stack([(2 * qx + 1) / cw - 1, (2 * qy + 1) / ch - 1], dim=-1)[None]
    maps = torch.cat([flow, lightness, weight[None]], 0)[None]
    fx, fy, light, wt = F.grid_sample(
        maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    # A crop-frame displacement f is A^-1 f in the region (A = the matrix's linear part).
    inv = torch.as_tensor(
        np.linalg.inv(np.asarray(matrix, np.float64)[:, :2]), dtype=torch.float32, device=device
    )
    dx = inv[0, 0] * fx + inv[0, 1] * fy
    dy = inv[1, 0] * fx + inv[1, 1] * fy
    src = torch.from_numpy(np.ascontiguousarray(region.transpose(2, 0, 1))).to(device)[None]
    sample = torch.stack([(2 * (xs + dx) + 1) / w - 1, (2 * (ys + dy) + 1) / h - 1], dim=-1)
    warped = F.grid_sample(
        src, sample[None], mode="bilinear", padding_mode="border", align_corners=False
    )[0]
    palette = torch.tensor(PALETTE, dtype=torch.float32, device=device).view(3, 1, 1)
    redirected = (warped * (1 - light) + palette * light).clamp(0, 1)
    base = src[0]
    out = torch.where(wt > 0, base + wt * (redirected - base), base)
    return out.permute(1, 2, 0).cpu().numpy()  # type: ignore[no-any-return]


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    horizontal, vertical = float(params["horizontal"]), float(params["vertical"])
    pixels = image[0].permute(1, 2, 0).cpu().numpy()
    eyes = choose_eyes(pixels, params, ctx.scale)
    if horizontal == 0.0 and vertical == 0.0:
        return image
    model = load_gaze_model(params.get("model"), ctx.device)
    ctx.check()
    patches = redirect_patches(pixels, eyes, horizontal, vertical, model, ctx.device)
    out = image.clone()
    for x0, y0, patch in patches:
        tensor = _to_chw(patch, image)
        out[0, :, y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]] = tensor
    return out


def _to_chw(patch: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1))).to(like.device)


# -- the demo grid ----------------------------------------------------------------

GRID_DIRECTIONS = (
    (-1, 1), (0, 1), (1, 1),
    (-1, 0), (0, 0), (1, 0),
    (-1, -1), (0, -1), (1, -1),
)  # fmt: skip


def gaze_grid(
    image: np.ndarray,
    angle: float = 10.0,
    points: Any = None,
    model: str | None = None,
    zoom: int = 3,
) -> np.ndarray:
    """(h, w, 3) float32: a 3 x 3 grid of the eye region, redirected by `angle`
    degrees toward each direction (up in the top row, the image's right in the
    right column, diagonals at the same total angle), the original in the centre.

    `image` is (H, W, 3 or 4) float32 in [0, 1]; eyes are detected unless
    `points` (as for the `eyes` parameter) are given.
    """
    from PIL import Image

    params = {"eyes": points, "which": "both", "face": 0}
    eyes = choose_eyes(image, params)
    net = load_gaze_model(model, "cpu")
    corners = np.concatenate([c for c, _ in eyes])
    width = max(float(np.hypot(*(c[1] - c[0]))) for c, _ in eyes)
    x0 = int(max(0, corners[:, 0].min() - 0.8 * width))
    x1 = int(min(image.shape[1], corners[:, 0].max() + 0.8 * width))
    y0 = int(max(0, corners[:, 1].min() - 0.9 * width))
    y1 = int(min(image.shape[0], corners[:, 1].max() + 0.9 * width))
    cells = []
    for dx, dy in GRID_DIRECTIONS:
        norm = float(np.hypot(dx, dy)) or 1.0
        out = np.array(image[..., :3], np.float32)
        if dx or dy:
            patches = redirect_patches(out, eyes, angle * dx / norm, angle * dy / norm, net, "cpu")
            for px, py, patch in patches:
                out[py : py + patch.shape[0], px : px + patch.shape[1]] = patch
        cell = (np.clip(out[y0:y1, x0:x1], 0, 1) * 255 + 0.5).astype(np.uint8)
        big = Image.fromarray(cell).resize(
            (cell.shape[1] * zoom, cell.shape[0] * zoom), Image.Resampling.LANCZOS
        )
        cells.append(np.asarray(big, np.float32) / 255.0)
    gap = 4
    ch, cw = cells[0].shape[:2]
    grid = np.ones((3 * ch + 2 * gap, 3 * cw + 2 * gap, 3), np.float32)
    for i, picture in enumerate(cells):
        r, c = divmod(i, 3)
        grid[r * (ch + gap) : r * (ch + gap) + ch, c * (cw + gap) : c * (cw + gap) + cw] = picture
    return grid


def demo_outputs(image: np.ndarray, out_dir: Path, quick: bool) -> list[Path]:
    """The demo hook: the eyes of `image` redirected +-10 degrees each way, the
    grid to judge the model by eye (skipped by `--quick`)."""
    from PIL import Image

    if quick:
        return []
    out = out_dir / "gaze-grid.png"
    Image.fromarray((gaze_grid(image, 10.0) * 255 + 0.5).astype(np.uint8)).save(out)
    return [out]
