"""Attribute vectors in an autoencoder's latent space, and region edits with them.

Vectors (White 2016; Larsen et al. 2016):
- paired: v = mean_i(e(x2_i) - e(x1_i)) over pairs that differ in one attribute;
- unpaired: v = mean(e(with)) - mean(e(without));
- balanced (an attribute file with many correlated attributes): least squares
  z_i = b + sum_k y_ik w_k over all labelled images (y in {-1, +1}), v_k = 2 w_k.
  With uncorrelated, balanced labels this equals the unpaired difference of
  means; with correlated ones (e.g. "beard" and "male") each w_k is the
  change of z with attribute k while the others are held fixed, so a slider
  does not drag its correlates along.

Edits: z = e(crop), z' = z + sum_k alpha_k v_k; only the decoded difference
d(z') - d(z) is added to the original crop, so the crop's detail (which the
autoencoder blurs) survives. The difference is resized back to the region and
pasted through a smooth window that is 1 inside and falls to 0 over a band at
the region's edge: a difference image that fades to zero joins the image
without a seam, and pixels outside the region are never written. All sliders
at 0 return the input unchanged (bit for bit). The eye model's blink
(openness below 0) is a lid drawn over the eye (`lid.py`), not decoded: the
decoded blink smears a rendered eye's lid colour over a real eye.

The parser for CelebA-style attribute files and the header reader need no
torch; torch is imported inside the functions that use it.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import ModelFile, read_meta

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.eyes.autoencoder import AttributeModel

DEFAULT_MODEL_NAME = "eye-attributes.safetensors"
MODEL = ModelFile(DEFAULT_MODEL_NAME, "warpaint train autoencoder --eyes")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# -- CelebA-style attribute files ---------------------------------------------


@dataclass(frozen=True)
class AttributeTable:
    """A parsed attribute file: `values[i, k]` is +1/-1 for file i, attribute k."""

    names: tuple[str, ...]
    filenames: tuple[str, ...]
    values: np.ndarray  # (N, K) int8 in {-1, +1}

    def column(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise BadInputError(
                f"no attribute {name!r} (the file has {', '.join(self.names)})"
            ) from None


def parse_attribute_file(path: str | os.PathLike[str]) -> AttributeTable:
    """Read a CelebA-style attribute file.

    Line 1: the number of images; line 2: the attribute names; then one line
    per image: `filename v1 .. vK` with each v 1 or -1 (0 is read as -1,
    as some exports write absent attributes as 0). Blank lines are ignored.
    Raises BadInputError naming the file and line for anything malformed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInputError(f"{file}: no such attribute file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{file}: cannot read the attribute file ({exc})") from None
    lines = [(i + 1, line.split()) for i, line in enumerate(text.splitlines())]
    lines = [(n, parts) for n, parts in lines if parts]
    if len(lines) < 2:
        raise BadInputError(f"{file}: an attribute file needs a count line and a names line")
    n_line, count_parts = lines[0]
    if len(count_parts) != 1 or not count_parts[0].isdigit():
        raise BadInputError(
            f"{file}:{n_line}: the first line must be the number of images, "
            f"got {' '.join(count_parts)[:40]!r}"
        )
    count = int(count_parts[0])
    names_line, names = lines[1]
    for name in names:
        # CelebA's names include "5_o_Clock_Shadow"; a bare number or a file
        # name here means the names line is missing.
        bare_number = re.fullmatch(r"[-+]?\d+", name)
        if bare_number or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_\-]*", name):
            raise BadInputError(
                f"{file}:{names_line}: {name!r} is not an attribute name "
                "(line 2 must list the attribute names)"
            )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BadInputError(f"{file}:{names_line}: attribute {dup!r} is named twice")
    rows = lines[2:]
    if len(rows) != count:
        raise BadInputError(f"{file}: line 1 says {count} images but {len(rows)} lines follow")
    k = len(names)
    values = np.empty((len(rows), k), np.int8)
    filenames: list[str] = []
    for r, (n, parts) in enumerate(rows):
        # CelebA's header lacks a column title for the filenames.
        if len(parts) != k + 1:
            raise BadInputError(
                f"{file}:{n}: expected a filename and {k} values, got {len(parts) - 1} values"
            )
        filenames.append(parts[0])
        for c, token in enumerate(parts[1:]):
            if token in ("1", "+1"):
                values[r, c] = 1
            elif token in ("-1", "0"):
                values[r, c] = -1
            else:
                raise BadInputError(f"{file}:{n}: value {token!r} for {names[c]!r} is not 1 or -1")
    if len(set(filenames)) != len(filenames):
        dup = next(f for f in filenames if filenames.count(f) > 1)
        raise BadInputError(f"{file}: {dup!r} is listed twice")
    return AttributeTable(tuple(names), tuple(filenames), values)


def write_attribute_file(
    path: str | os.PathLike[str], names: Sequence[str], filenames: Sequence[str], values: np.ndarray
) -> None:
    """Write a table in CelebA's format (values: (N, K), > 0 means present)."""
    lines = [str(len(filenames)), " ".join(names)]
    for f, row in zip(filenames, values, strict=True):
        lines.append(f + " " + " ".join(" 1" if v > 0 else "-1" for v in row))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- vectors ------------------------------------------------------------------


def paired_vector(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """(N, L) codes of x1 and x2 -> (L,) v = mean(z2 - z1)."""
    if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[0] == 0:
        raise BadInputError("pairs need as many 'after' images as 'before' images (at least 1)")
    return (z2 - z1).mean(dim=0)


def unpaired_vector(z_without: torch.Tensor, z_with: torch.Tensor) -> torch.Tensor:
    """(N0, L), (N1, L) codes -> (L,) mean(with) - mean(without)."""
    if z_without.ndim != 2 or z_with.ndim != 2 or not len(z_without) or not len(z_with):
        raise BadInputError("a slider needs at least one image 'without' and one 'with'")
    return z_with.mean(dim=0) - z_without.mean(dim=0)


def balanced_vectors(z: torch.Tensor, labels: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """(N, L) codes, (N, K) labels in {-1, +1} -> (K, L) vectors, balanced.

    Least squares z = b + y W (ridge-regularised, intercept free); v_k = 2 W_k,
    the change of z from -1 to +1 in attribute k with the others held fixed.
    """
    import torch

    if z.ndim != 2 or labels.ndim != 2 or z.shape[0] != labels.shape[0]:
        raise ValueError(f"codes {tuple(z.shape)} and labels {tuple(labels.shape)} disagree")
    n, k = labels.shape
    if n <= k:
        raise BadInputError(f"{n} labelled images cannot separate {k} attributes")
    for j in range(k):
        col = labels[:, j]
        if bool((col > 0).all()) or bool((col <= 0).all()):
            raise BadInputError(f"attribute {j + 1} is the same for every image: no direction")
    y = labels.to(torch.float64)
    zc = z.to(torch.float64)
    y_mean, z_mean = y.mean(0, keepdim=True), zc.mean(0, keepdim=True)
    yc = y - y_mean
    gram = yc.T @ yc + ridge * n * torch.eye(k, dtype=torch.float64, device=z.device)
    w = torch.linalg.solve(gram, yc.T @ (zc - z_mean))
    return (2.0 * w).to(z.dtype)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (> 0 positive), ties halved."""
    scores = np.asarray(scores, np.float64)
    pos = np.asarray(labels) > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# -- images to crops ------------------------------------------------------------


def to_crop(image: np.ndarray, size: tuple[int, int], alignment: str) -> np.ndarray:
    """(H, W, C>=3) float image -> (h, w, 3) float32 crop for a model of `size`.

    "centre-crop" cuts the largest centred box of the crop's aspect first
    (CelebA's usual preparation); "stretch" and "eye-corners" (images that
    are already eye crops) resize the whole image.
    """
    import torch
    import torch.nn.functional as F

    if image.ndim != 3 or image.shape[2] < 3:
        raise BadInputError(f"expected a colour image, got shape {image.shape}")
    rgb = image[..., :3].astype(np.float32)
    if image.shape[2] == 4:
        # Transparent pixels count as mid-grey rather than as their hidden colour.
        a = image[..., 3:4].astype(np.float32)
        rgb = rgb * a + 0.5 * (1.0 - a)
    h, w = rgb.shape[:2]
    th, tw = size
    if alignment == "centre-crop":
        scale = min(h / th, w / tw)
        ch, cw = max(1, round(th * scale)), max(1, round(tw * scale))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    down = t.shape[-2] > th or t.shape[-1] > tw
    out = F.interpolate(t, size=(th, tw), mode="bilinear", align_corners=False, antialias=down)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in `folder`, sorted by name; BadInputError if none."""
    path = Path(folder)
    if not path.is_dir():
        raise BadInputError(f"{path}: no such folder")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BadInputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_crops(
    files: Sequence[str | os.PathLike[str]], size: tuple[int, int], alignment: str
) -> np.ndarray:
    """(N, h, w, 3) float32 crops of image files (see `to_crop`)."""
    from warpaint.engine.io import read_image_array

    crops = [to_crop(read_image_array(str(f)), size, alignment) for f in files]
    if not crops:
        raise BadInputError("no images given")
    return np.stack(crops)


def encode_crops(
    model: AttributeModel, crops: np.ndarray, batch: int = 256, device: Any = "cpu"
) -> torch.Tensor:
    """(N, h, w, 3) crops -> (N, L) codes on the CPU."""
    import torch

    net = model.net.to(device).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch])).to(device)
            out.append(net.encode(x.permute(0, 3, 1, 2).float()).cpu())
    return torch.cat(out)


def slider_from_sets(
    model: AttributeModel, without: np.ndarray, with_: np.ndarray, device: Any = "cpu"
) -> torch.Tensor:
    """(L,) unpaired vector from crops (N, h, w, 3) without / with the attribute."""
    return unpaired_vector(
        encode_crops(model, without, device=device), encode_crops(model, with_, device=device)
    )


def slider_from_pairs(
    model: AttributeModel, before: np.ndarray, after: np.ndarray, device: Any = "cpu"
) -> torch.Tensor:
    """(L,) paired vector from crops (N, h, w, 3): after[i] is before[i] with the attribute."""
    if len(before) != len(after):
        raise BadInputError(f"{len(before)} 'before' images but {len(after)} 'after' images")
    return paired_vector(
        encode_crops(model, before, device=device), encode_crops(model, after, device=device)
    )


def sliders_from_table(
    model: AttributeModel,
    table: AttributeTable,
    folder: str | os.PathLike[str],
    balance: bool = True,
) -> dict[str, torch.Tensor]:
    """{attribute: (L,) vector} from an attribute file and the folder its filenames live in.

    Files named in the table but missing from the folder are an error (a
    silently smaller set would change the vectors without a word).
    """
    import torch

    root = Path(folder)
    missing = [f for f in table.filenames if not (root / f).is_file()]
    if missing:
        raise BadInputError(
            f"{len(missing)} files of the attribute file are not in {root} (first: {missing[0]})"
        )
    crops = load_crops([root / f for f in table.filenames], model_size(model), model.alignment)
    z = encode_crops(model, crops)
    labels = torch.from_numpy(table.values.astype(np.float32))
    if balance:
        vecs = balanced_vectors(z, labels)
        return {name: vecs[k] for k, name in enumerate(table.names)}
    return {
        name: unpaired_vector(z[labels[:, k] <= 0], z[labels[:, k] > 0])
        for k, name in enumerate(table.names)
    }


def crops_from_images(
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    alignment: str,
    region: Sequence[float] | None = None,
    mirror: bool = False,
) -> np.ndarray:
    """(N, h, w, 3) float32 crops of (H, W, C>=3) float images (layers, loaded files).

    Without `region` each whole image is prepared as `to_crop` does for the
    model's alignment; with `region` (x, y, w, h in each image's own pixels)
    that box is cut out first, as the effect cuts the region it edits, and
    flipped left-right if `mirror` (the eye model's subject's right eye).
    """
    crops = []
    for image in images:
        if image.ndim != 3 or image.shape[2] < 3:
            raise BadInputError(f"expected a colour image, got shape {image.shape}")
        if region is not None:
            x0, y0, x1, y1 = region_box(region, image.shape[0], image.shape[1])
            crop = to_crop(image[y0:y1, x0:x1], size, "stretch")
        else:
            crop = to_crop(image, size, alignment)
        crops.append(crop[:, ::-1] if mirror else crop)
    if not crops:
        raise BadInputError("no images given")
    return np.ascontiguousarray(np.stack(crops))


def model_size(model: AttributeModel) -> tuple[int, int]:
    return model.config.height, model.config.width


def slider_name(text: str) -> str:
    """A slider name from free text ('Eyeglasses' -> 'eyeglasses', 'Big Nose' -> 'big_nose')."""
    name = re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "attr_" + name
    return name


# -- region edits -------------------------------------------------------------


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end exclusive


def region_box(region: Sequence[float], height: int, width: int) -> Box:
    """The integer pixel box of a (x, y, w, h) region, clipped to the image."""
    if len(region) != 4:
        raise BadInputError(f"region needs x, y, w, h, got {tuple(region)!r}")
    x, y, w, h = (float(v) for v in region)
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise BadInputError(f"region {x:g},{y:g},{w:g},{h:g} needs a positive width and height")
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(width, int(np.ceil(x + w))), min(height, int(np.ceil(y + h)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise BadInputError(
            f"region {x:g},{y:g},{w:g},{h:g} has less than 4x4 pixels inside the "
            f"{width}x{height} image"
        )
    return x0, y0, x1, y1


def eye_region(
    corners: Sequence[Sequence[float]], size: tuple[int, int] = (48, 64)
) -> tuple[tuple[float, float, float, float], bool]:
    """(region (x, y, w, h), mirror) framing an eye like the eye model's crop.

    `corners` is [inner, outer] (x, y) in the image. The crop frame puts the
    inner corner at (0.2 W, 0.55 H) and the outer at (0.8 W, 0.55 H)
    (`warpaint.engine.features.eyes.align`); an eye whose inner corner is on the right
    (the subject's right eye) is mirrored into that frame. Rotation is
    ignored: the region is axis-aligned.
    """
    (ix, iy), (ox, oy) = (tuple(float(v) for v in c) for c in corners)
    dist = float(np.hypot(ox - ix, oy - iy))
    if dist < 2.0:
        raise BadInputError("the eye corners are less than 2 pixels apart")
    w = dist / 0.6
    h = w * size[0] / size[1]
    cx, cy = (ix + ox) / 2.0, (iy + oy) / 2.0
    return (cx - w / 2.0, cy - 0.55 * h, w, h), ix > ox


def taper(height: int, width: int, band: float, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) window: 1 inside, a raised cosine to 0 across `band` px at each edge.

    The outermost pixels get weight 0, so a difference pasted through it
    leaves the region's border pixels, and everything outside, unchanged.
    """
    import torch

    def ramp(n: int) -> torch.Tensor:
        b = max(1.0, min(band, (n - 1) / 2.0))
        i = torch.arange(n, dtype=torch.float32, device=like.device)
        d = torch.minimum(i, (n - 1) - i)  # distance from the nearer edge
        return 0.5 - 0.5 * torch.cos(torch.pi * (d / b).clamp(0.0, 1.0))

    return (ramp(height)[:, None] * ramp(width)[None, :])[None, None]


def extract(image: torch.Tensor, box: Box, size: tuple[int, int], mirror: bool) -> torch.Tensor:
    """(1, C>=3, H, W) straight RGBA -> (1, 3, h, w) model crop of `box` (mirrored if asked)."""
    import torch.nn.functional as F

    x0, y0, x1, y1 = box
    region = image[:, :3, y0:y1, x0:x1].float()
    if image.shape[1] == 4:
        a = image[:, 3:4, y0:y1, x0:x1].float()
        region = region * a + 0.5 * (1.0 - a)
    down = region.shape[-2] > size[0] or region.shape[-1] > size[1]
    crop = F.interpolate(region, size=size, mode="bilinear", align_corners=False, antialias=down)
    crop = crop.clamp(0.0, 1.0)
    return crop.flip(-1) if mirror else crop


def paste_difference(
    image: torch.Tensor, box: Box, delta: torch.Tensor, band: float, mirror: bool
) -> torch.Tensor:
    """`image` (1, C, H, W) with the crop-sized difference `delta` (1, 3, h, w) added in `box`.

    The difference is resized to the box (bicubic), weighted by `taper`, added
    to the RGB channels and clamped to [0, 1]; alpha and every pixel outside
    the box are copied unchanged.
    """
    out = image.clone()
    _add_difference(out, box, delta, band, mirror)
    return out


def _add_difference(
    out: torch.Tensor, box: Box, delta: torch.Tensor, band: float, mirror: bool
) -> None:
    """`paste_difference` into `out` itself."""
    import torch.nn.functional as F

    x0, y0, x1, y1 = box
    if mirror:
        delta = delta.flip(-1)
    d = F.interpolate(delta, size=(y1 - y0, x1 - x0), mode="bicubic", align_corners=False)
    w = taper(y1 - y0, x1 - x0, band, d)
    patch = out[:, :3, y0:y1, x0:x1]
    out[:, :3, y0:y1, x0:x1] = (patch + w * d.to(patch.dtype)).clamp(0.0, 1.0)


class EncodingCache:
    """Codes and decodings of recent crops, so a slider drag only decodes.

    Keyed by the model's identity (`AttributeModel.uid`: a model file loaded
    again, e.g. retrained, is a new model) and a hash of the crop's bytes (a
    crop is a few tens of kB, hashing it costs microseconds), so another
    image or region misses; holds the `capacity` most recently used crops.
    """

    def __init__(self, capacity: int = 8) -> None:
        self._items: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity
        self.hits = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, model: AttributeModel, crop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (1, L), d(z) (1, 3, h, w)) of `crop` (1, 3, h, w)."""
        digest = hashlib.blake2b(
            crop.detach().contiguous().cpu().numpy().tobytes(), digest_size=16
        ).hexdigest()
        key = (model.uid, f"{digest}:{crop.device}")
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self.hits += 1
                self._items.move_to_end(key)
                return hit  # type: ignore[no-any-return]
        z = model.net.encode(crop)
        base = model.net.decode(z)
        with self._lock:
            self._items[key] = (z, base)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return z, base


def edit_region(
    model: AttributeModel,
    image: torch.Tensor,
    region: Sequence[float],
    values: dict[str, float],
    feather: float = 0.15,
    mirror: bool = False,
    cache: EncodingCache | None = None,
) -> torch.Tensor:
    """Apply slider `values` to `region` (x, y, w, h) of `image` (1, 4, H, W) straight RGBA.

    Returns a new (1, 4, H, W) tensor: the box of the region gets
    d(z + sum alpha v) - d(z) through a window whose band is `feather` times
    the box's shorter side; everything else is copied. All-zero sliders
    return an exact copy. The model must already be on the image's device.
    """
    return edit_regions(model, image, [(region, mirror)], values, feather, cache)


def edit_regions(
    model: AttributeModel,
    image: torch.Tensor,
    regions: Sequence[tuple[Sequence[float], bool]],
    values: dict[str, float],
    feather: float = 0.15,
    cache: EncodingCache | None = None,
) -> torch.Tensor:
    """`edit_region` for several (region (x, y, w, h), mirror) at once: the eyes
    of every face in a photo.

    Each region is encoded from `image` as given and its decoded difference
    added to the result, so overlapping boxes add their differences. Pixels
    outside every region's box are copied bit for bit; every region is checked
    (`region_box`) before any is edited. An eye model's openness below 0 is
    not decoded: a lid is drawn over each region's eye instead
    (`lid.draw_lid`, see `lid_closure`), after the other sliders' difference.
    """
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] not in (3, 4):
        raise ValueError(f"expected a (1, 4, H, W) image, got {tuple(image.shape)}")
    if all(float(v) == 0.0 for v in values.values()):
        return image.clone()
    boxes = [(region_box(r, image.shape[2], image.shape[3]), bool(m)) for r, m in regions]
    closing = lid_closure(model, values)
    if closing > 0.0:
        # The blink is a drawn lid (`lid.py`), not the decoded openness direction.
        from warpaint.engine.features.eyes.lid import LID_SLIDER, draw_lid

        values = {k: v for k, v in values.items() if k != LID_SLIDER}
    decoding = any(float(v) != 0.0 for v in values.values())
    cache = cache if cache is not None else EncodingCache(max(1, len(boxes)))
    direction = model.direction(values, image.device)[None]
    out = image.clone()
    for box, mirror in boxes:
        band = feather * min(box[2] - box[0], box[3] - box[1])
        if decoding:
            crop = extract(image, box, model_size(model), mirror)
            z, base = cache.get(model, crop)
            edited = model.net.decode(z + direction)
            _add_difference(out, box, edited - base, band, mirror)
        if closing > 0.0:
            draw_lid(out, image, box, mirror, closing, band)
    return out


def lid_closure(model: AttributeModel, values: dict[str, float]) -> float:
    """How far the drawn lid closes the eye (0 .. 1) for slider `values`: nonzero
    only for an eye model ("eye-corners" alignment) with an openness slider
    moved below 0. Openness above 0 (a wider eye) stays the decoded direction."""
    from warpaint.engine.features.eyes.lid import LID_SLIDER, closure

    if model.alignment != "eye-corners" or LID_SLIDER not in model.attributes:
        return 0.0
    return closure(float(values.get(LID_SLIDER, 0.0)))


# -- model files without torch ------------------------------------------------------


def default_model_path() -> Path:
    """The shipped (or user's) eye model, else where the shipped one belongs."""
    return MODEL.default_path()


def read_model_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The Warpaint metadata of an autoencoder model file, read without torch
    (listing a model's sliders needs nothing else)."""
    file = Path(path)
    meta = read_meta(file, "autoencoder")
    attributes = meta.get("attributes")
    if not isinstance(attributes, list):
        raise BadInputError(f"{file}: the model lists no attributes")
    if not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in attributes):
        raise BadInputError(f"{file}: an attribute entry is not an object with a name")
    return meta
