"""A drawn upper lid: the blink of the eye-attribute sliders on real eyes.

The eye autoencoder learnt "openness" from rendered eyes only; on a photo its
decoded blink is a grey-orange blob over the iris (docs/attributes.md). A
closing eye is simpler than that: the upper lid comes down over the eyeball.
So at negative openness the attributes effect draws that lid, from the eye's
own landmarks and the picture's own skin, instead of decoding the openness
direction:

- **Where.** The region frames the eye (its corners at 20 % and 80 % of its
  width, 55 % of its height: `attributes.eye_region`); the eye-landmark
  regressor (`landmarks.py`, through `detect.refine_eyes` with the corners
  kept) finds the upper lid U(x) and the lower lid L(x) between them. Found
  once per region content (`ShapeCache`), so a slider drag runs no network.
- **How far.** The lid's lower edge is E(x) = U(x) + c (L(x) - U(x)) with
  c = -openness / 2: -1 half closes the eye, -2 closes it. The lid is solid
  from a little above U (the old lash line goes under it) down to E, and
  fades into the skin above it.
- **Its skin.** Column by column, the lid's colour runs from the picture's
  skin just above it (where it fades in) to the lower lid's skin just below
  the closed eye, so it meets both without a seam, keeping the upper skin's
  colour for most of its height (under-eye skin is often redder or darker
  than a lid); those colours are smoothed along the eye, taken from the
  trimmed range of each band's brightness and kept near its trimmed median
  (a crease, a brow hair or a glasses frame across the band cannot darken
  the lid). Fine texture is the high-pass of the skin above, reflected
  downward.
- **Shading.** Lighter where the lid bulges over the cornea, darker toward
  its rolled edge, a faint crease where the open lid's margin was; a dark
  lash line runs along E, with short lashes hanging from it as the eye
  closes. Its ends fade into the corners, and the whole lid fades in over
  the first tenth of the slider, so the picture changes continuously from
  openness 0.

Everything here works in the eye's frame (the region flipped for a
subject's right eye, inner corner on the left), on torch tensors on the
image's device.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.eyes.attributes import Box

# The slider the lid replaces (the built-in eye model's).
LID_SLIDER = "openness"
# The slider value that closes the eye.
CLOSED_AT = -2.0
# Lengths, in corner distances D.
COVER_ABOVE = 0.08  # the lid is solid from this far above the upper lid (the old lash line)
FADE_ABOVE = 0.08  # and fades into the skin above over this height
SKIN_BAND = 0.12  # height of the skin bands sampled above the lid and below the lower lid
SMOOTH = 0.2  # width of the smoothing of lid curves and colours along the eye
END_FADE = 0.07  # fade at each corner
LASH_WIDTH = 0.045  # thickness of the lash line (at least 1.2 px)
LASH_LENGTH = 0.09  # lashes hanging below the closed lid's edge
# The lid appears over the first FADE_IN of the slider's closing range.
FADE_IN = 0.1
# Lash colour: the skin's hue at this fraction of its brightness.
LASH_DARKNESS = 0.3
# A column's skin colour stays within these factors of the band's trimmed median
# brightness (a lit brow bone above the eye must not make a bright lid).
SKIN_SPREAD = (0.8, 1.08)
# The lower lid moves down a dark eye by at most this many D (`_settle_lower`).
LOWER_REACH = 0.2
# The drawn lash line is as sharp as a Gaussian edge of this sigma (px); a
# picture softer than that (a small face enlarged, a blurred photo) gets a
# line softened to match (`picture_blur`), at most to MAX_SOFTEN px.
DRAWN_SIGMA = 0.7
MAX_SOFTEN = 4.0


def closure(openness: float) -> float:
    """How far the lid has come down, 0 (open) .. 1 (closed), for an openness value."""
    return float(np.clip(openness / CLOSED_AT, 0.0, 1.0))


def _smooth_along(values: np.ndarray, width: float) -> np.ndarray:
    """A moving average of a (W,) curve over `width` columns, its ends repeated."""
    k = max(1, int(round(width)) | 1)
    if k == 1 or len(values) < 2:
        return values
    padded = np.pad(values, k // 2, mode="edge")
    return np.convolve(padded, np.full(k, 1.0 / k), mode="valid")


@dataclass(frozen=True)
class LidShape:
    """An eye's lids in its frame's pixels (x right from the inner corner, y down)."""

    corners: np.ndarray  # (2, 2) [inner, outer] (x, y)
    upper: np.ndarray  # (K, 2) upper lid points, inner to outer
    lower: np.ndarray  # (K, 2)

    @property
    def width(self) -> float:
        """Corner distance D in pixels."""
        return float(np.linalg.norm(self.corners[1] - self.corners[0]))

    def curves(self, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """(U, L): the upper and lower lid's y at each column 0..columns-1 (the
        corners' heights beyond them), smoothed along the eye (the regressor's
        points make a polygon), U never below L."""
        xs = np.arange(columns, dtype=np.float64)

        def along(points: np.ndarray) -> np.ndarray:
            p = np.concatenate([self.corners[:1], points, self.corners[1:]])
            p = p[np.argsort(p[:, 0], kind="stable")]
            return _smooth_along(np.interp(xs, p[:, 0], p[:, 1]), SMOOTH * self.width)

        upper, lower = along(self.upper), along(self.lower)
        return np.minimum(upper, lower), lower


def frame_corners(height: int, width: int) -> np.ndarray:
    """(2, 2) [inner, outer] where the eye frame puts the corners in a height x width
    region (pixel centres at integers; the inner corner on the left)."""
    from warpaint.engine.features.eyes.render import INNER_CORNER, OUTER_CORNER

    return np.array(
        [
            [INNER_CORNER[0] * width - 0.5, INNER_CORNER[1] * height - 0.5],
            [OUTER_CORNER[0] * width - 0.5, OUTER_CORNER[1] * height - 0.5],
        ]
    )


def find_shape(patch: np.ndarray) -> LidShape:
    """The lids of the eye in `patch` ((h, w, 3) float in [0, 1], in the eye frame).

    The corners are where the frame puts them; the landmark regressor finds
    the lids between them (`detect.refine_eyes`, corners kept: on blurred
    20 px eyes its own corners wander by a quarter of the eye). Without its
    weights file the renderer's average eye between the corners is used.
    """
    from warpaint.engine.features.eyes.detect import refine_eyes

    h, w = patch.shape[:2]
    rgb = np.clip(np.ascontiguousarray(patch, np.float32), 0.0, 1.0)
    eye = refine_eyes(rgb, [(frame_corners(h, w), False)], keep_corners=True)[0]
    width = float(np.linalg.norm(eye.corners[1] - eye.corners[0]))
    lower = _settle_lower(rgb, eye.upper_lid, eye.lower_lid, width)
    return LidShape(eye.corners.copy(), eye.upper_lid.copy(), lower)


def _settle_lower(
    rgb: np.ndarray, upper: np.ndarray, lower: np.ndarray, width: float
) -> np.ndarray:
    """The lower lid's points moved down to the bottom of the dark eye below them.

    On a blurred small eye the regressor puts the lower lid inside the dark
    smudge of the iris; a lid closed onto it would leave the smudge's lower
    half under the lash line. From each lower-lid point on a pixel darker
    than halfway from the region's skin (its median) to the eye's darkest
    pixel, count how far down its column the pixels stay that dark (at most
    `LOWER_REACH` D); the median of those drops lowers the whole lid, most
    in the middle and not at the corners, so it keeps its smooth curve.
    """
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    h, w = luma.shape
    settled = np.array(lower, dtype=np.float64, copy=True)
    cols = np.clip(np.round(settled[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.round(settled[:, 1]).astype(int), 0, h - 1)
    top = int(np.clip(np.floor(np.min(upper[:, 1])), 0, h - 1))
    aperture = luma[top : int(rows.max()) + 1, int(cols.min()) : int(cols.max()) + 1]
    darkest = float(aperture.min()) if aperture.size else float(luma.min())
    threshold = 0.5 * (float(np.median(luma)) + darkest)
    reach = int(np.ceil(LOWER_REACH * width))
    drops = []
    for col, row in zip(cols, rows, strict=True):
        y = row
        while y + 1 < h and y + 1 <= row + reach and luma[y + 1, col] < threshold:
            y += 1
        drops.append(y + 0.5 - row if luma[row, col] < threshold else 0.0)
    drop = max(0.0, float(np.median(drops)))
    along = np.linspace(0.0, 1.0, len(settled) + 2)[1:-1]
    settled[:, 1] += drop * np.sin(np.pi * along)
    return settled


def _ramp(x: torch.Tensor) -> torch.Tensor:
    """Smoothstep of x clamped to [0, 1]."""
    t = x.clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _band_skin(
    patch: torch.Tensor,
    rows: torch.Tensor,
    start: torch.Tensor,
    stop: torch.Tensor,
    inside: torch.Tensor,
    width: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skin colours of the band between rows `start` and `stop` (W,), columns `inside`.

    Returns ((3, W) each column's colour, smoothed along the eye over `width`
    columns and held within `SKIN_SPREAD` of the band's brightness; (3,) the
    band's trimmed median colour). Columns outside `inside` get their
    nearest inside column's colour.
    """
    import torch
    import torch.nn.functional as F

    h, w = patch.shape[-2:]
    mask = (rows >= start.clamp(0.0, h - 1.0)[None]) & (rows < stop.clamp(1.0, float(h))[None])
    mask = mask & inside[None]
    if int(mask.sum()) < 3:
        mask = inside[None].expand(h, w) if int(inside.sum()) else torch.ones_like(mask)
    pixels = patch[:, mask]  # (3, N)
    luma = _luma(pixels)
    # Trimmed: brows, lashes and a crease are the dark end, highlights the bright end.
    q = torch.tensor([0.35, 0.9], dtype=luma.dtype, device=luma.device)
    lo, hi = torch.quantile(luma, q)
    keep = (luma >= lo) & (luma <= hi)
    median = (
        pixels[:, keep].median(dim=1).values if int(keep.sum()) else pixels.median(dim=1).values
    )
    # Each column's colour from the same trimmed range: a glasses frame or a
    # brow across the band must not darken the lid under it.
    luma_2d = _luma(patch)
    trimmed = mask & (luma_2d >= lo) & (luma_2d <= hi)
    weight = torch.where(trimmed.any(dim=0, keepdim=True), trimmed, mask).to(patch.dtype)
    count = weight.sum(dim=0)
    columns = (patch * weight[None]).sum(dim=1) / count.clamp(min=1.0)  # (3, W)
    # Columns without samples take the nearest sampled column's colour.
    have = torch.nonzero(count > 0)[:, 0]
    if len(have):
        x = torch.arange(w, device=patch.device)
        nearest = have[(x[:, None] - have[None]).abs().argmin(dim=1)]
        columns = columns[:, nearest]
    else:
        columns = median[:, None].expand(3, w)
    k = max(1, int(round(width)) | 1)
    if k > 1:
        columns = F.avg_pool1d(F.pad(columns[None], (k // 2, k // 2), mode="replicate"), k, 1)[0]
    target = _luma(median).clamp(min=1e-3)
    gain = (_luma(columns) / target).clamp(*SKIN_SPREAD)
    columns = median[:, None] * gain[None] * _chroma_ratio(columns, median)
    return columns, median


def _chroma_ratio(columns: torch.Tensor, median: torch.Tensor) -> torch.Tensor:
    """(3, W) per-channel factors that carry each column's hue, at the median's brightness."""
    own = columns / _luma(columns).clamp(min=1e-3)[None]
    ref = median / _luma(median).clamp(min=1e-3)
    return (own / ref.clamp(min=1e-3)[:, None]).clamp(0.8, 1.25)


def _texture(
    patch: torch.Tensor, top: torch.Tensor, band: float, rows: torch.Tensor
) -> torch.Tensor:
    """(H, W) fine luma texture for the lid: the high-pass of the skin band above
    `top`, reflected downward (mirrored back and forth inside the band)."""
    import torch
    import torch.nn.functional as F

    luma = _luma(patch)[None, None]
    blurred = F.avg_pool2d(F.pad(luma, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    detail = (luma - blurred)[0, 0].clamp(-0.06, 0.06)
    period = max(2.0, band)
    depth = (rows - top[None]).clamp(min=0.0)
    folded = torch.remainder(depth, 2.0 * period)
    back = torch.where(folded < period, folded, 2.0 * period - folded)
    source = (top[None] - 1.0 - back).round().clamp(0, patch.shape[-2] - 1).long()
    return torch.gather(detail, 0, source)


@dataclass(frozen=True)
class LidSkin:
    """A lid before it comes down: everything that does not depend on how far,
    made once per region (the eye frame's (H, W) pixels, on their device)."""

    shape: LidShape
    upper: torch.Tensor  # (W,) U
    lower: torch.Tensor  # (W,) L
    skin: torch.Tensor  # (3, H, W) colour, bulge and grain
    above: torch.Tensor  # (H, W) the fade into the skin above
    across: torch.Tensor  # (W,) the fades into the corners
    lash_colour: torch.Tensor  # (3,)
    # Gaussian kernel (1D, odd length) that softens the lash line to the
    # picture's own sharpness; None where the picture is as sharp as the line.
    soften: torch.Tensor | None = None


def picture_blur(patch: torch.Tensor) -> float:
    """The blur of `patch` (3, H, W) as the sigma (px) of a Gaussian edge:
    a step of contrast C blurred by sigma s has a steepest slope of
    C / (s sqrt(2 pi)), so s is the patch's luma contrast (5th to 95th
    percentile) over its steepest slope (99th percentile of the gradient
    magnitude). An eye always holds a strong edge (iris, lids, lashes)."""
    import torch

    luma = _luma(patch)
    if luma.numel() < 16:
        return DRAWN_SIGMA
    gy = luma[1:, :-1] - luma[:-1, :-1]
    gx = luma[:-1, 1:] - luma[:-1, :-1]
    slope = float(torch.quantile(torch.sqrt(gx * gx + gy * gy).flatten().float(), 0.99))
    values = luma.flatten().float()
    contrast = float(torch.quantile(values, 0.95) - torch.quantile(values, 0.05))
    if slope <= 1e-6 or contrast <= 1e-3:
        return DRAWN_SIGMA
    return contrast / (slope * math.sqrt(2.0 * math.pi))


def _soften_kernel(blur: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    """The Gaussian that takes the drawn line's sharpness to `blur` (px), or None."""
    import torch

    extra = math.sqrt(max(0.0, blur * blur - DRAWN_SIGMA * DRAWN_SIGMA))
    extra = min(extra, MAX_SOFTEN)
    if extra < 0.5:
        return None
    radius = max(1, math.ceil(3.0 * extra))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (x / extra) ** 2)
    return kernel / kernel.sum()


def _soften(alpha: torch.Tensor, kernel: torch.Tensor | None) -> torch.Tensor:
    """(H, W) `alpha` blurred by the separable `kernel` (edges repeated)."""
    if kernel is None:
        return alpha
    from torch.nn import functional as F

    r = kernel.numel() // 2
    x = F.pad(alpha[None, None], (r, r, r, r), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x[0, 0]


def lid_skin(patch: torch.Tensor, shape: LidShape) -> LidSkin:
    """The lid's skin over `patch` (3, H, W) (the eye frame's pixels) for the eye `shape`."""
    import torch

    _, h, w = patch.shape
    dev, dt = patch.device, patch.dtype
    d = max(shape.width, 2.0)
    upper_np, lower_np = shape.curves(w)
    upper = torch.from_numpy(upper_np).to(dev, dt)
    lower = torch.from_numpy(lower_np).to(dev, dt)
    rows = torch.arange(h, device=dev, dtype=dt)[:, None].expand(h, w)
    x = torch.arange(w, device=dev, dtype=dt)
    x_in, x_out = float(shape.corners[:, 0].min()), float(shape.corners[:, 0].max())
    fade_end = END_FADE * d
    across = _ramp((x - (x_in - fade_end)) / fade_end) * _ramp(((x_out + fade_end) - x) / fade_end)
    inside = (x >= x_in) & (x <= x_out)

    lash = max(1.2, LASH_WIDTH * d)
    fade = max(FADE_ABOVE * d, 1.0)
    fade_top = upper - COVER_ABOVE * d - fade
    band = max(SKIN_BAND * d, 2.0)
    # The skin where the lid fades in, and the lower lid's below the closed eye.
    top, top_median = _band_skin(patch, rows, fade_top - band, fade_top + 0.5 * fade, inside,
                                 SMOOTH * d)  # fmt: skip
    below_lid = lower + 0.5 * lash + 1.0
    bottom, _ = _band_skin(patch, rows, below_lid, below_lid + band, inside, SMOOTH * d)
    t = ((rows - fade_top[None]) / (lower - fade_top).clamp(min=1.0)[None]).clamp(0.0, 1.0)
    # A closed upper lid is the upper lid's skin; it takes on the lower lid's
    # colour only near its edge (under-eye skin is often redder or darker).
    tc = t * t
    colour = top[:, None] * (1.0 - tc[None]) + bottom[:, None] * tc[None]
    # Lighter where the lid bulges over the cornea; the texture scales the
    # colour (an added grey would pull the lid off the skin's hue).
    centre = 0.5 * (x_in + x_out)
    bulge = torch.exp(-(((x - centre) / (0.35 * d)) ** 2))[None] * (4.0 * t * (1.0 - t))
    grain = 1.0 + _texture(patch, fade_top, band, rows) / float(_luma(top_median).clamp(min=0.05))
    return LidSkin(
        shape=shape,
        upper=upper,
        lower=lower,
        skin=colour * ((1.0 + 0.03 * bulge) * grain)[None],
        above=_ramp((rows - fade_top[None]) / fade),
        across=across,
        lash_colour=top_median * LASH_DARKNESS,
        soften=_soften_kernel(picture_blur(patch), dev, dt),
    )


def close_lid(
    lid: LidSkin, amount: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The lid closed by `amount` (0..1]: (skin (3, H, W), skin alpha (H, W),
    lash colour (3,), lash alpha (H, W)). Composite the skin over the eye
    frame's pixels, then the lash colour over that. Alphas are 0 where
    nothing is drawn; the skin alpha grows pointwise with `amount`."""
    import torch

    _, h, w = lid.skin.shape
    dev, dt = lid.skin.device, lid.skin.dtype
    shape, upper = lid.shape, lid.upper
    d = max(shape.width, 2.0)
    c = float(np.clip(amount, 0.0, 1.0))
    edge = upper + c * (lid.lower - upper)
    rows = torch.arange(h, device=dev, dtype=dt)[:, None].expand(h, w)
    x = torch.arange(w, device=dev, dtype=dt)
    x_in, x_out = float(shape.corners[:, 0].min()), float(shape.corners[:, 0].max())
    lash = max(1.2, LASH_WIDTH * d)
    fade_in = float(_ramp(torch.tensor(c / FADE_IN)))
    below = (edge[None] + 0.5 * lash - rows + 0.5).clamp(0.0, 1.0)
    skin_alpha = lid.above * below * lid.across[None] * fade_in

    # Darker toward the rolled edge, a faint crease where the open lid's margin was.
    rolled = torch.exp(-(edge[None] - rows).clamp(min=0.0) / (0.06 * d + 0.5))
    crease_y = upper - 0.5 * COVER_ABOVE * d
    crease = (
        _soften(torch.exp(-(((rows - crease_y[None]) / (0.03 * d + 0.6)) ** 2)), lid.soften) * c
    )
    skin = lid.skin * ((1.0 - 0.12 * rolled) * (1.0 - 0.08 * crease))[None]

    # The lash line along the edge, and lashes hanging below it (longer toward the
    # outer corner, slanting outward) as the lid closes.
    margin = (0.5 * lash - (rows - edge[None]).abs() + 0.5).clamp(0.0, 1.0)
    along = ((x - x_in) / max(x_out - x_in, 1.0)).clamp(0.0, 1.0)
    length = c * LASH_LENGTH * d * (0.4 + 0.6 * along)
    hang = (rows - edge[None] - 0.5 * lash).clamp(min=0.0)
    period = max(2.0, 0.05 * d)
    strands = 0.5 + 0.5 * torch.cos(2.0 * torch.pi * (x[None] - 0.6 * hang) / period)
    lashes = (1.0 - hang / length.clamp(min=1e-3)[None]).clamp(0.0, 1.0) * strands * 0.7
    lashes = torch.where(rows > edge[None] + 0.5 * lash, lashes, torch.zeros_like(lashes))
    # As soft as the picture: a crisp line drawn on a blurred face looks pasted on.
    lash_alpha = _soften(torch.maximum(margin, lashes), lid.soften) * lid.across[None] * fade_in
    return skin.clamp(0.0, 1.0), skin_alpha, lid.lash_colour, lash_alpha


def lid_layer(
    patch: torch.Tensor, shape: LidShape, amount: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`close_lid(lid_skin(patch, shape), amount)`: the lid over `patch` (3, H, W)."""
    return close_lid(lid_skin(patch, shape), amount)


class ShapeCache:
    """Lids of recent regions (`find_shape`, `lid_skin`), keyed by a hash of the
    region's pixels in the eye frame and their device: a drag over the
    openness slider finds the eye and samples its skin once."""

    def __init__(self, capacity: int = 32) -> None:
        self._items: OrderedDict[str, LidSkin] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity
        self.hits = 0

    def get(self, frame: torch.Tensor) -> LidSkin:
        """`lid_skin(frame, find_shape(frame's pixels))` of `frame` (3, H, W), remembered."""
        patch = np.ascontiguousarray(frame.detach().permute(1, 2, 0).cpu().numpy(), np.float32)
        digest = hashlib.blake2b(patch.tobytes(), digest_size=16).hexdigest()
        key = f"{patch.shape}:{frame.device}:{frame.dtype}:{digest}"
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self.hits += 1
                self._items.move_to_end(key)
                return hit
        lid = lid_skin(frame, find_shape(patch))
        with self._lock:
            self._items[key] = lid
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return lid


_shapes = ShapeCache()


def shape_cache() -> ShapeCache:
    """The shared cache of lids."""
    return _shapes


def draw_lid(
    out: torch.Tensor,
    image: torch.Tensor,
    box: Box,
    mirror: bool,
    amount: float,
    band: float,
    cache: ShapeCache | None = None,
) -> None:
    """Draw the lid closed by `amount` (0..1] over the eye framed by `box` of `out` (1, C, H, W).

    The eye's shape and skin come from `image` (the unedited picture, same
    size); only `out`'s RGB inside the box changes, through the region's
    window (`attributes.taper` of `band` px), so the box's border pixels and
    everything outside stay as they are.
    """
    from warpaint.engine.features.eyes.attributes import taper

    x0, y0, x1, y1 = box
    region = image[0, :3, y0:y1, x0:x1].to(out.dtype)
    if image.shape[1] == 4:
        a = image[0, 3:4, y0:y1, x0:x1].to(out.dtype)
        region = region * a + 0.5 * (1.0 - a)
    frame = region.flip(-1) if mirror else region
    lid = (cache if cache is not None else _shapes).get(frame)
    skin, skin_alpha, lash_colour, lash_alpha = close_lid(lid, amount)
    if mirror:
        skin, skin_alpha, lash_alpha = skin.flip(-1), skin_alpha.flip(-1), lash_alpha.flip(-1)
    window = taper(y1 - y0, x1 - x0, band, out)[0, 0]
    skin_alpha, lash_alpha = skin_alpha * window, lash_alpha * window
    target = out[0, :3, y0:y1, x0:x1]
    target = target * (1.0 - skin_alpha) + skin * skin_alpha
    target = target * (1.0 - lash_alpha) + lash_colour[:, None, None] * lash_alpha
    out[0, :3, y0:y1, x0:x1] = target.clamp(0.0, 1.0)
