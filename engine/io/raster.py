"""Single-image formats: PNG, JPEG, TIFF, WebP and BMP.

Reading sniffs the format from the file's first bytes (not its extension),
checks the header's size against the `Limits` before decoding, converts every
pixel mode to straight RGBA at source precision (8-bit -> uint8, 16-bit ->
uint16, float TIFF -> float32), converts embedded ICC profiles to sRGB and
applies the EXIF orientation. Pillow decodes 8-bit images; 16-bit PNGs go
through `imagecodecs` and 16-bit or float TIFFs through `tifffile` because
Pillow reduces 16-bit colour to 8 bits.

Exporting flattens a `DocState`, embeds an sRGB profile (or converts back to
the document's source profile on request) and writes atomically.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from warpaint.engine.core.compositing import composite, strips
from warpaint.engine.core.document import DocState
from warpaint.engine.core.tiles import Rect, dtype_max, from_float, to_float
from warpaint.engine.io import colour, pngio
from warpaint.engine.io.atomic import atomic_write
from warpaint.engine.io.limits import Limits, check_regular_file
from warpaint.engine.runtime.errors import BadInputError

Source = str | os.PathLike[str] | bytes

PIL_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")

# tifffile logs a warning for every oddity in a damaged file, which Python
# prints to stderr; the outcome reaches the user as one BadInputError instead.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)

# Extensions the open dialog offers (content is sniffed; these are for filters).
OPEN_EXTENSIONS: tuple[str, ...] = (
    "ora",
    "png",
    "jpg",
    "jpeg",
    "jpe",
    "tif",
    "tiff",
    "webp",
    "bmp",
    "dib",
)


@dataclass(frozen=True)
class ExportFormat:
    """What an export format can hold, for the export dialog and the CLI.

    bit_depths: storable bits per channel (8 = uint8, 16 = uint16, 32 = float).
    A 16-bit document exported to an 8-bit-only format (JPEG, WebP, BMP) is
    written at 8 bits because the user chose that format; `export_image`
    reports it in `ExportResult.notes`.
    """

    name: str
    extensions: tuple[str, ...]
    bit_depths: tuple[int, ...]
    alpha: bool
    quality: bool
    icc: bool

    @property
    def supports_16bit(self) -> bool:
        return 16 in self.bit_depths

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "extensions": list(self.extensions),
            "bit_depths": list(self.bit_depths),
            "supports_16bit": self.supports_16bit,
            "alpha": self.alpha,
            "quality": self.quality,
            "icc": self.icc,
        }


_PNG = ExportFormat("PNG", ("png",), (8, 16), alpha=True, quality=False, icc=True)
_JPEG = ExportFormat("JPEG", ("jpg", "jpeg"), (8,), alpha=False, quality=True, icc=True)
_TIFF = ExportFormat("TIFF", ("tif", "tiff"), (8, 16, 32), alpha=True, quality=False, icc=True)
# WebP quality 100 means lossless.
_WEBP = ExportFormat("WebP", ("webp",), (8,), alpha=True, quality=True, icc=True)
# Pillow writes BMP alpha in a header most readers ignore; BMP exports are opaque.
_BMP = ExportFormat("BMP", ("bmp",), (8,), alpha=False, quality=False, icc=False)

EXPORT_FORMATS: dict[str, ExportFormat] = {
    ext: fmt for fmt in (_PNG, _JPEG, _TIFF, _WEBP, _BMP) for ext in fmt.extensions
}


# -- sniffing -----------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """'PNG', 'JPEG', 'TIFF', 'WEBP', 'BMP', 'ORA' (a zip) or None from the first bytes."""
    if head.startswith(pngio.SIGNATURE):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "ORA"
    return None


def display_name(source: Source, name: str | None = None) -> str:
    if name:
        return name
    if isinstance(source, bytes):
        return "the image"
    return os.fspath(source)


def read_head(source: Source, n: int = 64) -> bytes:
    """The first `n` bytes; BadInputError for missing, unreadable or empty files."""
    if isinstance(source, bytes):
        if not source:
            raise BadInputError("the image is empty (0 bytes)")
        return source[:n]
    path = Path(source)
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(n)
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except PermissionError:
        raise BadInputError(f"{path}: permission denied") from None
    except OSError as err:
        raise BadInputError(f"{path}: cannot be read ({err.strerror or err})") from None
    if not head:
        raise BadInputError(f"{path}: the file is empty (0 bytes)")
    return head


def _read_all(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    check_regular_file(source)
    try:
        return Path(source).read_bytes()
    except OSError as err:
        raise BadInputError(f"{source}: cannot be read ({err.strerror or err})") from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn any decoder failure into a one-line BadInputError about `what`.

    Decoders (Pillow, libpng, libtiff, zlib) raise many unrelated exception
    types on damaged data; all of them mean "this file is damaged".
    """
    try:
        yield
    except BadInputError:
        raise
    except MemoryError:
        raise BadInputError(f"{what}: not enough memory to decode it") from None
    except Image.DecompressionBombError as err:
        raise BadInputError(f"{what}: too large, possible decompression bomb ({err})") from None
    except Exception as err:
        raise BadInputError(f"{what}: damaged or truncated ({_first_line(err)})") from None


@contextmanager
def _naming(what: str) -> Iterator[None]:
    """Prefix `what` to a BadInputError raised without it (colour conversion
    knows the profile, not the file)."""
    try:
        yield
    except BadInputError as err:
        if str(err).startswith(what):
            raise
        raise BadInputError(f"{what}: {err}") from None


# Pillow's decompression-bomb guard is a process-wide setting; it is set to our
# limit only while `Image.open` parses a header, under this lock.
_PIL_GUARD = threading.Lock()


def _pil_open(source: Source, limits: Limits, what: str) -> Image.Image:
    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with _PIL_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Damaged headers also draw UserWarnings (e.g. TIFF tags past the end);
        # the outcome is reported through BadInputError or a clean open instead.
        warnings.simplefilter("ignore", UserWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
        try:
            with decoding(what):
                try:
                    return Image.open(fp, formats=PIL_FORMATS)
                except UnidentifiedImageError:
                    raise BadInputError(
                        f"{what}: damaged, or not an image Warpaint can open"
                    ) from None
                except Image.DecompressionBombError:
                    raise BadInputError(
                        f"{what}: over the limit of {limits.max_pixels / 1e6:.0f} megapixels "
                        "(possible decompression bomb; set WARPAINT_MAX_PIXELS to change it)"
                    ) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


# -- reading --------------------------------------------------------------------


@dataclass
class RasterImage:
    """A decoded image: (h, w, 4) straight RGBA at source precision, in sRGB."""

    pixels: np.ndarray
    format: str
    bit_depth: int
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    mode: str = "RGBA"


@dataclass(frozen=True)
class RasterHeader:
    """What a header says, before decoding (sizes are after EXIF orientation)."""

    format: str
    width: int
    height: int
    mode: str
    bit_depth: int
    icc_profile: bytes | None = None
    orientation: int = 1
    frames: int = 1


def _orientation_from_exif(exif_bytes: bytes | None) -> int:
    if not exif_bytes:
        return 1
    try:
        exif = Image.Exif()
        exif.load(exif_bytes)
        value = int(exif.get(0x0112, 1))
    except Exception:  # unreadable EXIF is ignored, never fatal
        return 1
    return value if 1 <= value <= 8 else 1


def _pil_orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # unreadable EXIF is ignored, never fatal
        return 1
    return value if 1 <= value <= 8 else 1


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (h, w, C) array so it shows upright."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.transpose(1, 0, 2)
    elif orientation == 6:
        array = array.transpose(1, 0, 2)[:, ::-1]
    elif orientation == 7:
        array = array[::-1, ::-1].transpose(1, 0, 2)
    elif orientation == 8:
        array = array.transpose(1, 0, 2)[::-1]
    return np.ascontiguousarray(array)


def _tiff_info(source: Source) -> dict[str, Any]:
    """Header facts of the first TIFF page from tifffile (no pixel decoding)."""
    import tifffile

    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with tifffile.TiffFile(fp) as tif:
        page = tif.pages.first
        tags = page.tags
        icc = tags.get(34675)
        orientation = tags.get(274)
        return {
            "shape": tuple(page.shape),
            "axes": page.axes,
            "dtype": np.dtype(page.dtype) if page.dtype is not None else None,
            "bits": int(page.bitspersample),
            "photometric": int(page.photometric),
            "extrasamples": tuple(int(v) for v in (page.extrasamples or ())),
            "icc": bytes(icc.value) if icc is not None else None,
            "orientation": int(orientation.value) if orientation is not None else 1,
            "width": int(page.imagewidth),
            "height": int(page.imagelength),
            "frames": len(tif.pages),
        }


def _raster_kind(source: Source, what: str) -> str:
    """The raster format sniffed from the content; anything else is refused."""
    kind = sniff(read_head(source))
    if kind is None or kind == "ORA":
        raise BadInputError(
            f"{what}: not an image Warpaint can open (PNG, JPEG, TIFF, WebP, BMP or OpenRaster)"
        )
    return kind


def read_header(source: Source, limits: Limits, name: str | None = None) -> RasterHeader:
    """Format, size, mode, depth and profile from the header; checks the limits."""
    what = display_name(source, name)
    kind = _raster_kind(source, what)
    if kind == "TIFF":
        with decoding(what):
            info = _tiff_info(source)
        w, h = info["width"], info["height"]
        limits.check_image(w, h, what)
        if info["orientation"] in (5, 6, 7, 8):
            w, h = h, w
        return RasterHeader(
            "TIFF",
            w,
            h,
            _tiff_mode(info),
            info["bits"],
            info["icc"],
            info["orientation"],
            info["frames"],
        )
    im = _pil_open(source, limits, what)
    with im:
        limits.check_image(im.width, im.height, what)
        bits = 8
        mode = im.mode
        icc = im.info.get("icc_profile") or None
        orientation = 1
        with decoding(what):
            if kind == "PNG":
                head = read_head(source, 64)
                png = pngio.read_header(head)
                if png is not None:
                    bits = png.bit_depth
                    if bits == 16:
                        mode = {0: "L;16", 2: "RGB;16", 4: "LA;16", 6: "RGBA;16"}.get(
                            png.colour_type, mode
                        )
                meta = pngio.read_meta(_read_all(source))
                icc = meta.icc_profile or icc
                orientation = _orientation_from_exif(meta.exif) if meta.exif else 1
            if orientation == 1:
                orientation = _pil_orientation(im)
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                bits = 16
            elif mode in ("I", "F"):
                bits = 32
            frames = getattr(im, "n_frames", 1)
        w, h = im.size
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return RasterHeader(kind, w, h, mode, bits, icc, orientation, frames)


def _tiff_mode(info: dict[str, Any]) -> str:
    photometric = {0: "L", 1: "L", 2: "RGB", 3: "P", 5: "CMYK", 6: "YCbCr"}.get(
        info["photometric"], f"photometric {info['photometric']}"
    )
    if info["extrasamples"]:
        photometric += "A"
    bits = info["bits"]
    return photometric if bits == 8 else f"{photometric};{bits}"


def read_raster(
    source: Source,
    limits: Limits,
    name: str | None = None,
    *,
    convert_colour: bool = True,
) -> RasterImage:
    """Decode one image to straight RGBA at source precision, upright, in sRGB.

    source: a path or the file's bytes. `name` names it in error messages.
    Raises BadInputError (one line) for anything that cannot be opened.
    """
    what = display_name(source, name)
    kind = _raster_kind(source, what)
    if kind == "PNG":
        head = pngio.read_header(read_head(source, 64))
        if head is not None and head.bit_depth == 16:
            return _read_png16(source, limits, what, convert_colour)
    if kind == "TIFF":
        with decoding(what):
            info = _tiff_info(source)
        limits.check_image(info["width"], info["height"], what)
        if info["bits"] > 8 or (info["dtype"] is not None and info["dtype"].kind == "f"):
            return _read_tiff_deep(source, info, limits, what, convert_colour)
    return _read_pil(source, kind, limits, what, convert_colour)


def _check_bytes(limits: Limits, w: int, h: int, itemsize: int, what: str) -> None:
    limits.check_image(w, h, what)
    limits.check_total(w * h * 4 * itemsize, what)


def _read_png16(source: Source, limits: Limits, what: str, convert: bool) -> RasterImage:
    data = _read_all(source)
    head = pngio.read_header(data)
    assert head is not None
    _check_bytes(limits, head.width, head.height, 2, what)
    with decoding(what):
        meta = pngio.read_meta(data)
        raw = pngio.decode16(_pixel_chunks(data))
    if raw.shape[0] != head.height or raw.shape[1] != head.width:
        raise BadInputError(f"{what}: damaged (decoded size differs from the header)")
    orientation = _orientation_from_exif(meta.exif)
    pixels, icc = _deep_to_rgba(raw, meta.icc_profile, convert, what)
    return RasterImage(orient(pixels, orientation), "PNG", 16, icc, meta.dpi, _mode_name(raw, 16))


# Chunks libpng checks and warns about on stderr (a raw "PNG warning: iCCP:
# ..." line) without failing; their content is read by `pngio.read_meta`.
_METADATA_CHUNKS = frozenset(
    {
        b"iCCP",
        b"sRGB",
        b"gAMA",
        b"cHRM",
        b"pHYs",
        b"eXIf",
        b"tEXt",
        b"zTXt",
        b"iTXt",
        b"tIME",
        b"bKGD",
        b"hIST",
        b"sBIT",
        b"sPLT",
    }
)


def _pixel_chunks(data: bytes) -> bytes:
    """PNG bytes without the metadata chunks, for the pixel decoder; anything
    after the last well-formed chunk (a truncated tail) is kept as it is."""
    out = [data[: len(pngio.SIGNATURE)]]
    pos = len(pngio.SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            break
        if data[pos + 4 : pos + 8] not in _METADATA_CHUNKS:
            out.append(data[pos:end])
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def _mode_name(raw: np.ndarray, bits: int) -> str:
    base = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(raw.shape[2], "?")
    return f"{base};{bits}"


def _read_tiff_deep(
    source: Source, info: dict[str, Any], limits: Limits, what: str, convert: bool
) -> RasterImage:
    import tifffile

    dtype = info["dtype"]
    itemsize = 4 if dtype is not None and dtype.kind == "f" else 2
    _check_bytes(limits, info["width"], info["height"], itemsize, what)
    if info["photometric"] not in (0, 1, 2):
        raise BadInputError(
            f"{what}: {_tiff_mode(info)} TIFF is not supported at {info['bits']} bits "
            "(Warpaint opens grey and RGB TIFFs at 16 bits or float)"
        )
    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with decoding(what), tifffile.TiffFile(fp) as tif:
        page = tif.pages.first
        raw = page.asarray()
        axes = page.axes
        resolution = _tiff_dpi(page)
    if "S" in axes and axes.index("S") == 0 and raw.ndim == 3:
        raw = np.moveaxis(raw, 0, -1)
    if raw.ndim == 2:
        raw = raw[..., None]
    if raw.ndim != 3 or raw.shape[:2] != (info["height"], info["width"]):
        raise BadInputError(f"{what}: TIFF layout {axes} is not supported")
    raw = raw[..., :4]
    if raw.dtype.kind == "f":
        raw = np.clip(np.nan_to_num(raw.astype(np.float32)), 0.0, 1.0)
        bits = 32
    elif raw.dtype == np.uint16:
        bits = 16
    else:
        scale = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else 1.0
        raw = from_float(
            np.clip(raw.astype(np.float64) / scale, 0, 1).astype(np.float32), np.uint16
        )
        bits = 16
    if info["photometric"] == 0:  # min-is-white
        top = raw.dtype.type(1.0 if raw.dtype.kind == "f" else dtype_max(raw.dtype))
        raw[..., :1] = top - raw[..., :1]
    if info["extrasamples"][:1] == (1,) and raw.shape[2] in (2, 4):  # associated alpha
        f = to_float(raw)
        alpha = f[..., -1:]
        np.divide(f[..., :-1], alpha, out=f[..., :-1], where=alpha > 0)
        raw = from_float(np.clip(f, 0, 1), raw.dtype)
    pixels, icc = _deep_to_rgba(raw, info["icc"], convert, what)
    return RasterImage(
        orient(pixels, info["orientation"]), "TIFF", bits, icc, resolution, _mode_name(raw, bits)
    )


def _tiff_dpi(page: Any) -> tuple[float, float] | None:
    try:
        xres, yres = page.tags.get(282), page.tags.get(283)
        unit = page.tags.get(296)
        if xres is None or yres is None:
            return None
        x = xres.value[0] / xres.value[1]
        y = yres.value[0] / yres.value[1]
        if unit is not None and int(unit.value) == 3:
            x, y = x * 2.54, y * 2.54
        return (float(x), float(y))
    except Exception:  # resolution is optional metadata, never fatal
        return None


def _deep_to_rgba(
    raw: np.ndarray, icc: bytes | None, convert: bool, what: str
) -> tuple[np.ndarray, bytes | None]:
    """(h, w, 1..4) uint16/float32 -> (h, w, 4) RGBA in sRGB, and the kept profile."""
    h, w, c = raw.shape
    top = 1.0 if raw.dtype == np.float32 else dtype_max(raw.dtype)
    out = np.empty((h, w, 4), raw.dtype)
    grey = c in (1, 2)
    colour_part = raw[..., :1] if grey else raw[..., :3]
    alpha = raw[..., -1] if c in (2, 4) else None
    space = colour.colour_space(icc) if icc else ""
    wanted = "GRAY" if grey else "RGB"
    if icc and (space != wanted or colour.cms_profile(icc) is None):
        # A profile for another colour space, or one LittleCMS cannot read,
        # does not describe these pixels (as for 8-bit images).
        icc = None
    if icc and convert and not colour.is_srgb_like(icc):
        with _naming(what):
            if grey:
                converted = colour.grey_to_linear_srgb_encoded(to_float(colour_part)[..., 0], icc)
                if converted is not None:
                    colour_part = from_float(converted, raw.dtype)[..., None]
            else:
                colour_part = from_float(
                    colour.convert_float(to_float(colour_part), icc, None), raw.dtype
                )
    out[..., :3] = colour_part
    out[..., 3] = top if alpha is None else alpha
    return out, icc


def _read_pil(source: Source, kind: str, limits: Limits, what: str, convert: bool) -> RasterImage:
    im = _pil_open(source, limits, what)
    with im:
        limits.check_image(im.width, im.height, what)
        deep = im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
        limits.check_total(
            im.width * im.height * 4 * (4 if im.mode == "F" else 2 if deep else 1), what
        )
        with decoding(what):
            im.load()
            orientation = _pil_orientation(im)
            icc = im.info.get("icc_profile") or None
            dpi = _pil_dpi(im)
            mode = im.mode
            if deep:
                pixels, icc, bits = _pil_deep(im, icc, convert, what)
            else:
                pixels, icc = _pil_8bit(im, icc, convert, what)
                bits = 8
    return RasterImage(orient(pixels, orientation), kind, bits, icc, dpi, mode)


def _pil_dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    try:
        if dpi and len(dpi) == 2 and float(dpi[0]) > 0 and float(dpi[1]) > 0:
            return (float(dpi[0]), float(dpi[1]))
    except (TypeError, ValueError):
        pass
    return None


def _pil_deep(
    im: Image.Image, icc: bytes | None, convert: bool, what: str
) -> tuple[np.ndarray, bytes | None, int]:
    arr = np.asarray(im)
    raw: np.ndarray
    if im.mode == "F":
        raw = np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0)[..., None]
        bits = 32
    else:
        raw = np.clip(arr.astype(np.int64), 0, 65535).astype(np.uint16)[..., None]
        bits = 16
    pixels, icc = _deep_to_rgba(raw, icc, convert, what)
    return pixels, icc, bits


def _pil_8bit(
    im: Image.Image, icc: bytes | None, convert: bool, what: str
) -> tuple[np.ndarray, bytes | None]:
    mode = im.mode
    has_trns = "transparency" in im.info and mode in ("L", "RGB", "P", "1")
    if has_trns or mode in ("P", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "L", "LA", "CMYK", "1"):
        try:
            im = im.convert("RGBA" if mode.endswith(("A", "a")) else "RGB")
        except ValueError:
            raise BadInputError(f"{what}: pixel mode {mode} is not supported") from None
    if im.mode == "1":
        im = im.convert("L")
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    base = {"RGBA": "RGB", "LA": "L"}.get(im.mode, im.mode)
    body = im.convert(base) if base != im.mode else im
    space = colour.colour_space(icc) if icc else ""
    wanted = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}[base]
    if icc and (space != wanted or colour.cms_profile(icc) is None):
        icc = None  # a profile for another colour space does not describe these pixels
    if icc and convert and not (base == "RGB" and colour.is_srgb_like(icc)):
        with _naming(what):
            rgb = colour.convert_8bit(body, icc, None, "RGB")
    else:
        rgb = body.convert("RGB")
    out = np.empty((im.height, im.width, 4), np.uint8)
    out[..., :3] = np.asarray(rgb)
    out[..., 3] = 255 if alpha is None else np.asarray(alpha)
    return out, icc


# -- exporting --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What `export_image` wrote; `notes` say where the file holds less than the document."""

    path: str
    format: str
    bit_depth: int
    notes: tuple[str, ...] = ()


def document_bit_depth(state: DocState) -> int:
    """8, 16 or 32: the deepest layer's precision (the metadata's when no layers)."""
    bits = [{1: 8, 2: 16, 4: 32}[layer.pixels.dtype.itemsize] for layer in state.layers]
    return max(bits) if bits else state.meta.bit_depth


def flatten_strips(
    state: DocState,
    dtype: np.dtype | type,
    background: tuple[float, ...] | None = None,
    rows: int = 256,
) -> np.ndarray:
    """(H, W, 4) flattened canvas of `dtype`, optionally over an opaque colour."""
    out = np.empty((state.height, state.width, 4), np.dtype(dtype))
    for y, h in strips(state.height, rows):
        rect = Rect(0, y, state.width, h)
        back = None
        if background is not None:
            back = np.empty((h, state.width, 4), np.float32)
            back[...] = np.asarray(background, np.float32)
        out[y : y + h] = from_float(composite(state, rect, background=back), out.dtype)
    return out


def export_image(
    state: DocState,
    path: str | os.PathLike[str],
    *,
    quality: int = 92,
    bit_depth: int | None = None,
    keep_profile: bool = False,
    format: str | None = None,
) -> ExportResult:
    """Flatten `state` and write it as PNG, JPEG, TIFF, WebP or BMP, atomically.

    format: an extension key of EXPORT_FORMATS; default from `path`'s suffix.
    bit_depth: 8, 16 or 32; default the document's depth, capped to what the
        format holds (a 16-bit document exported as JPEG is 8-bit: the format
        is the user's choice, and the result's notes say so). Asking for a
        depth the format cannot hold raises BadInputError.
    keep_profile: convert to and embed the document's source ICC profile
        (`state.meta.icc_profile`, RGB profiles only) instead of sRGB.
    Formats without alpha (JPEG) are flattened over white.
    """
    key = (format or Path(path).suffix).lower().lstrip(".")
    fmt = EXPORT_FORMATS.get(key)
    if fmt is None:
        known = ", ".join(sorted(EXPORT_FORMATS))
        raise BadInputError(f"{path}: unknown export format {key!r} (use one of: {known})")
    notes: list[str] = []
    doc_bits = document_bit_depth(state)
    if bit_depth is None:
        bits = max(b for b in fmt.bit_depths if b <= doc_bits) if doc_bits >= 8 else 8
        if bits < doc_bits:
            notes.append(
                f"{fmt.name} holds {bits}-bit channels; the {doc_bits}-bit document was reduced"
            )
    elif bit_depth not in fmt.bit_depths:
        depths = "/".join(str(b) for b in fmt.bit_depths)
        raise BadInputError(
            f"{fmt.name} cannot store {bit_depth}-bit images (it holds {depths}-bit)"
        )
    else:
        bits = bit_depth
    if fmt.quality and not 1 <= int(quality) <= 100:
        raise BadInputError(f"quality must be between 1 and 100, got {quality}")
    target_icc = _export_profile(state, keep_profile, notes)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.float32}[bits]
    pixels = flatten_strips(state, dtype, None if fmt.alpha else (1.0, 1.0, 1.0, 1.0))
    if target_icc is not None and not colour.is_srgb_like(target_icc):
        pixels = _convert_from_srgb(pixels, target_icc)
    embed: bytes | None = target_icc if target_icc is not None else colour.srgb_profile_bytes()
    if not fmt.icc:
        embed = None
        if keep_profile:
            notes.append(f"{fmt.name} cannot embed a colour profile")
    dpi = _storable_dpi(state.meta.dpi, fmt.name, notes)
    with atomic_write(path) as fh:
        _WRITERS[fmt.name](fh, pixels, embed, dpi, int(quality))
    return ExportResult(os.fspath(path), fmt.name, bits, tuple(notes))


# The largest resolution each format's field holds: JFIF's density is a 16-bit
# count; PNG's pHYs and BMP's header count pixels per metre in 31 bits (about
# 54.5 million dpi); TIFF stores 32-bit rationals. WebP stores none.
_MAX_DPI = {
    "JPEG": 65535.0,
    "PNG": (2**31 - 1) * 0.0254,
    "BMP": (2**31 - 1) * 0.0254,
    "TIFF": float(2**32 - 1),
}


def _storable_dpi(
    dpi: tuple[float, float] | None, fmt: str, notes: list[str]
) -> tuple[float, float] | None:
    """`dpi` if `fmt` can store it; else None and a note (a value out of range
    would be refused by the encoder, or, in JPEG, wrapped around silently)."""
    if dpi is None or fmt not in _MAX_DPI:
        return None
    top = _MAX_DPI[fmt]
    if all(math.isfinite(d) and 1.0 <= d <= top for d in dpi):
        return dpi
    shown = " x ".join(f"{d:g}" for d in dpi)
    notes.append(
        f"the resolution of {shown} dpi cannot be stored in {fmt} (1 to {top:,.0f} dpi); "
        "written without one"
    )
    return None


def _export_profile(state: DocState, keep: bool, notes: list[str]) -> bytes | None:
    if not keep:
        return None
    icc = state.meta.icc_profile
    if not icc:
        notes.append("the document has no source profile; wrote sRGB")
        return None
    if colour.colour_space(icc) != "RGB" or colour.cms_profile(icc) is None:
        desc = colour.profile_description(icc) or "unreadable"
        raise BadInputError(
            f"cannot keep the original profile '{desc}': only RGB profiles can be kept "
            "(export without keeping the profile to write sRGB)"
        )
    return icc


def _convert_from_srgb(pixels: np.ndarray, icc: bytes, rows: int = 256) -> np.ndarray:
    if pixels.dtype == np.uint8:
        out = pixels.copy()
        for y in range(0, pixels.shape[0], rows):
            part = Image.fromarray(np.ascontiguousarray(pixels[y : y + rows, :, :3]), "RGB")
            out[y : y + rows, :, :3] = np.asarray(colour.convert_8bit(part, None, icc, "RGB"))
        return out
    out = pixels.copy()
    out[..., :3] = from_float(
        colour.convert_float(to_float(pixels[..., :3]), None, icc), pixels.dtype
    )
    return out


def _opaque(pixels: np.ndarray) -> bool:
    top = 1.0 if pixels.dtype == np.float32 else dtype_max(pixels.dtype)
    return bool(np.all(pixels[..., 3] == top))


def _write_png(fh: IO[bytes], px: np.ndarray, icc: bytes | None, dpi: Any, quality: int) -> None:
    if _opaque(px):
        px = px[..., :3]
    if px.dtype == np.uint16:
        fh.write(pngio.encode16(px, icc, dpi))
        return
    image = Image.fromarray(np.ascontiguousarray(px), "RGB" if px.shape[2] == 3 else "RGBA")
    kwargs: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if dpi:
        kwargs["dpi"] = dpi
    image.save(fh, format="PNG", compress_level=6, **kwargs)


def _write_jpeg(fh: IO[bytes], px: np.ndarray, icc: bytes | None, dpi: Any, quality: int) -> None:
    image = Image.fromarray(np.ascontiguousarray(px[..., :3]), "RGB")
    kwargs: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if dpi:
        kwargs["dpi"] = tuple(round(d) for d in dpi)
    # Chroma subsampling blurs colour edges; skip it at high quality settings.
    image.save(fh, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2, **kwargs)


def _write_webp(fh: IO[bytes], px: np.ndarray, icc: bytes | None, dpi: Any, quality: int) -> None:
    image = Image.fromarray(np.ascontiguousarray(px), "RGBA")
    kwargs: dict[str, Any] = {"icc_profile": icc} if icc else {}
    image.save(fh, format="WEBP", quality=quality, lossless=quality >= 100, exact=True, **kwargs)


def _write_bmp(fh: IO[bytes], px: np.ndarray, icc: bytes | None, dpi: Any, quality: int) -> None:
    image = Image.fromarray(np.ascontiguousarray(px[..., :3]), "RGB")
    kwargs: dict[str, Any] = {"dpi": tuple(round(d) for d in dpi)} if dpi else {}
    image.save(fh, format="BMP", **kwargs)


def _write_tiff(fh: IO[bytes], px: np.ndarray, icc: bytes | None, dpi: Any, quality: int) -> None:
    import tifffile

    alpha = not _opaque(px)
    data = np.ascontiguousarray(px if alpha else px[..., :3])
    kwargs: dict[str, Any] = {}
    if icc:
        kwargs["iccprofile"] = icc
    if dpi:
        kwargs["resolution"] = (float(dpi[0]), float(dpi[1]))
        kwargs["resolutionunit"] = "INCH"
    # tifffile wants a named file or a BytesIO, not an fd-backed handle.
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        data,
        photometric="rgb",
        extrasamples=("unassalpha",) if alpha else None,
        compression="zlib",
        predictor=data.dtype != np.float32,
        software="Warpaint",
        metadata=None,
        **kwargs,
    )
    fh.write(buffer.getbuffer())


_WRITERS = {
    "PNG": _write_png,
    "JPEG": _write_jpeg,
    "WebP": _write_webp,
    "BMP": _write_bmp,
    "TIFF": _write_tiff,
}
