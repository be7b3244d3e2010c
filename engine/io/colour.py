"""ICC colour handling: embedded profiles to sRGB on import, back on export.

Warpaint edits in sRGB. 8-bit images are converted by LittleCMS through
Pillow's `ImageCms` (any profile class: RGB, grey, CMYK, LUT-based). Pillow
has no 16-bit RGB mode, so 16-bit and float images are converted here in
float32 from the profile's matrix and tone curves (the common case: Adobe RGB,
Display P3, ProPhoto, camera matrix profiles), or, for LUT-based RGB profiles,
through a 52^3 lattice sampled by LittleCMS and interpolated trilinearly.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

from warpaint.engine.runtime.errors import BadInputError

Curve = Callable[[np.ndarray], np.ndarray]


@functools.lru_cache(maxsize=1)
def srgb_profile_bytes() -> bytes:
    """An sRGB ICC profile (LittleCMS's built-in), as embedded in exports."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


@functools.lru_cache(maxsize=1)
def _srgb_cms() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def cms_profile(data: bytes) -> ImageCms.ImageCmsProfile | None:
    """LittleCMS's view of a profile, or None when it cannot parse it."""
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(data))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def profile_description(data: bytes | None) -> str | None:
    """The profile's human-readable description (None when absent or broken)."""
    if not data:
        return None
    prof = cms_profile(data)
    if prof is None:
        return None
    text = (prof.profile.profile_description or "").strip()
    return text or "unnamed profile"


def colour_space(data: bytes) -> str:
    """The profile's data colour space: 'RGB', 'GRAY', 'CMYK', ... ('' if broken)."""
    if len(data) < 20:
        return ""
    return data[16:20].decode("latin-1").strip()


# -- parsing matrix/TRC profiles -------------------------------------------


def _s15(data: bytes, offset: int, count: int) -> list[float]:
    return [v / 65536.0 for v in struct.unpack_from(f">{count}i", data, offset)]


def _parametric(kind: int, p: list[float]) -> Curve:
    g = p[0]
    if kind == 0:
        return lambda x: np.power(np.clip(x, 0, 1), g)
    a, b = p[1], p[2]
    if kind in (1, 2):
        c = p[3] if kind == 2 else 0.0
        edge = -b / a if a else 0.0
        return lambda x: np.where(x >= edge, np.power(np.clip(a * x + b, 0, None), g) + c, c)
    c, d = p[3], p[4]
    e, f = (p[5], p[6]) if kind == 4 else (0.0, 0.0)
    return lambda x: np.where(x >= d, np.power(np.clip(a * x + b, 0, None), g) + e, c * x + f)


def _curve(data: bytes, offset: int) -> Curve:
    kind = data[offset : offset + 4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", data, offset + 8)
        if n == 0:
            return lambda x: x
        if n == 1:
            (gamma,) = struct.unpack_from(">H", data, offset + 12)
            g = gamma / 256.0
            return lambda x: np.power(np.clip(x, 0, 1), g)
        table = np.frombuffer(data, ">u2", n, offset + 12).astype(np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, n)
        return lambda x: np.interp(x, grid, table)
    if kind == b"para":
        (fn,) = struct.unpack_from(">H", data, offset + 8)
        counts = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
        if fn not in counts:
            raise ValueError(f"parametric curve type {fn}")
        return _parametric(fn, _s15(data, offset + 12, counts[fn]))
    raise ValueError(f"tone curve type {kind!r}")


def _inverse(curve: Curve, samples: int = 65536) -> Curve:
    grid = np.linspace(0.0, 1.0, samples)
    values = np.maximum.accumulate(np.clip(curve(grid), 0.0, None))
    return lambda y: np.interp(y, values, grid)


@dataclass(frozen=True)
class MatrixProfile:
    """An RGB matrix/TRC (or grey TRC) profile: linear = trc(x); XYZ = matrix @ linear."""

    trcs: tuple[Curve, ...]
    matrix: np.ndarray | None  # (3, 3) columns = rXYZ, gXYZ, bXYZ (D50 PCS); None for grey

    def inverse_trcs(self) -> tuple[Curve, ...]:
        return tuple(_inverse(t) for t in self.trcs)


def parse_matrix_profile(data: bytes) -> MatrixProfile | None:
    """Matrix and tone curves of an RGB or grey profile; None when the profile
    is LUT-based (has A2B0) or lacks those tags."""
    try:
        (count,) = struct.unpack_from(">I", data, 128)
        tags: dict[bytes, int] = {}
        for i in range(min(count, 1000)):
            sig, offset, size = struct.unpack_from(">4sII", data, 132 + 12 * i)
            if offset + size > len(data):
                return None
            tags[sig] = offset
        if b"A2B0" in tags:
            return None
        space = colour_space(data)
        if space == "GRAY" and b"kTRC" in tags:
            return MatrixProfile((_curve(data, tags[b"kTRC"]),), None)
        if space != "RGB":
            return None
        cols = [_s15(data, tags[s] + 8, 3) for s in (b"rXYZ", b"gXYZ", b"bXYZ")]
        trcs = tuple(_curve(data, tags[s]) for s in (b"rTRC", b"gTRC", b"bTRC"))
    except (KeyError, struct.error, ValueError):
        return None
    matrix = np.array(cols, np.float64).T
    if abs(np.linalg.det(matrix)) < 1e-9:
        return None
    return MatrixProfile(trcs, matrix)


@functools.lru_cache(maxsize=1)
def _srgb_matrix() -> MatrixProfile:
    parsed = parse_matrix_profile(srgb_profile_bytes())
    assert parsed is not None
    return parsed


def is_srgb_like(data: bytes) -> bool:
    """True when the profile describes sRGB closely enough to skip converting."""
    parsed = parse_matrix_profile(data)
    if parsed is None or parsed.matrix is None:
        return False
    ref = _srgb_matrix()
    assert ref.matrix is not None
    if np.abs(parsed.matrix - ref.matrix).max() > 2e-3:
        return False
    grid = np.linspace(0, 1, 256)
    return all(
        float(np.abs(a(grid) - b(grid)).max()) < 2e-3
        for a, b in zip(parsed.trcs, ref.trcs, strict=True)
    )


# -- conversion -------------------------------------------------------------


def _pil_transform(
    image: Image.Image, src: bytes | None, dst: bytes | None, out_mode: str
) -> Image.Image:
    src_p = _srgb_cms() if src is None else cms_profile(src)
    dst_p = _srgb_cms() if dst is None else cms_profile(dst)
    if src_p is None or dst_p is None:
        raise BadInputError("the colour profile is damaged")
    try:
        out = ImageCms.profileToProfile(image, src_p, dst_p, outputMode=out_mode)
    except ImageCms.PyCMSError as err:
        raise BadInputError(f"the colour profile cannot be used ({err})") from None
    assert out is not None  # only None when converting in place
    return out


def convert_8bit(
    image: Image.Image, src: bytes | None, dst: bytes | None, out_mode: str
) -> Image.Image:
    """Convert an 8-bit Pillow image (RGB, L or CMYK, no alpha) between profiles
    (None = sRGB) with LittleCMS, perceptual intent."""
    return _pil_transform(image, src, dst, out_mode)


def _lattice(src: bytes | None, dst: bytes | None, steps: int = 52) -> np.ndarray:
    levels = np.round(np.linspace(0, 255, steps)).astype(np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    grid = np.stack([r, g, b], axis=-1).reshape(steps * steps, steps, 3)
    out = _pil_transform(Image.fromarray(grid, "RGB"), src, dst, "RGB")
    return np.asarray(out, np.float32).reshape(steps, steps, steps, 3) / 255.0


def _trilinear(rgb: np.ndarray, lut: np.ndarray) -> np.ndarray:
    n = lut.shape[0] - 1
    pos = np.clip(rgb, 0, 1) * n
    i0 = np.minimum(pos.astype(np.int64), n - 1)
    f = (pos - i0).astype(np.float32)
    out = np.zeros(rgb.shape, np.float32)
    for dr in (0, 1):
        wr = f[..., 0] if dr else 1 - f[..., 0]
        for dg in (0, 1):
            wg = f[..., 1] if dg else 1 - f[..., 1]
            for db in (0, 1):
                wb = f[..., 2] if db else 1 - f[..., 2]
                corner = lut[i0[..., 0] + dr, i0[..., 1] + dg, i0[..., 2] + db]
                out += corner * (wr * wg * wb)[..., None]
    return out


def convert_float(
    rgb: np.ndarray, src: bytes | None, dst: bytes | None, rows: int = 256
) -> np.ndarray:
    """Convert (h, w, 3) float32 RGB in [0, 1] between profiles (None = sRGB),
    at float precision; works in strips of `rows` to bound memory."""
    src_m = _srgb_matrix() if src is None else parse_matrix_profile(src)
    dst_m = _srgb_matrix() if dst is None else parse_matrix_profile(dst)
    matrix_ok = (
        src_m is not None
        and dst_m is not None
        and src_m.matrix is not None
        and dst_m.matrix is not None
    )
    if matrix_ok:
        assert src_m is not None and dst_m is not None
        # Inverse curves are tabulated once, not per strip.
        fixed = _FixedInverse(dst_m, dst_m.inverse_trcs())

        def convert(part: np.ndarray) -> np.ndarray:
            return fixed.convert(part, src_m)

    else:
        lut = _lattice(src, dst)

        def convert(part: np.ndarray) -> np.ndarray:
            return _trilinear(part, lut)

    out = np.empty(rgb.shape, np.float32)
    for y in range(0, rgb.shape[0], rows):
        out[y : y + rows] = convert(rgb[y : y + rows])
    return out


@dataclass(frozen=True)
class _FixedInverse:
    dst: MatrixProfile
    inv: tuple[Curve, ...]

    def convert(self, rgb: np.ndarray, src: MatrixProfile) -> np.ndarray:
        assert src.matrix is not None and self.dst.matrix is not None
        lin = np.stack([t(rgb[..., i].astype(np.float64)) for i, t in enumerate(src.trcs)], -1)
        m = np.linalg.inv(self.dst.matrix) @ src.matrix
        out_lin = np.clip(lin @ m.T, 0.0, 1.0)
        return np.stack([self.inv[i](out_lin[..., i]) for i in range(3)], -1).astype(np.float32)


def grey_to_linear_srgb_encoded(grey: np.ndarray, src: bytes) -> np.ndarray | None:
    """(h, w) float grey under a grey profile -> (h, w) sRGB-encoded float grey,
    or None when the profile is not a usable grey TRC profile."""
    parsed = parse_matrix_profile(src)
    if parsed is None or parsed.matrix is not None:
        return None
    lin = np.clip(parsed.trcs[0](grey.astype(np.float64)), 0, 1)
    return _srgb_matrix().inverse_trcs()[0](lin).astype(np.float32)
