"""OpenRaster (.ora) reading and writing.

Layout written (OpenRaster 0.0.6):

    mimetype                    "image/openraster", first member, stored
    stack.xml                   the layer stack, first <layer> = top
    data/layer-NNN.png          layer pixels at layer size (16-bit PNG for
                                16-bit and float layers)
    data/mask-NNN.png           Warpaint masks (grey PNG, layer size)
    warpaint/source-profile.icc the document's source ICC profile, if any
    mergedimage.png             the flattened canvas (always)
    Thumbnails/thumbnail.png    at most 256 x 256

Warpaint's extensions live in the namespace `WARPAINT_NS` (prefix
`warpaint`). Other programs ignore them and still see every layer and the
composite. On <layer>:

    warpaint:blend-mode  a Warpaint blend mode with no svg:* equivalent (e.g.
                         multiresolution); composite-op is then svg:src-over
    warpaint:mask        archive path of the layer's mask PNG
    warpaint:dtype, warpaint:mask-dtype
                         "float32" when float pixels were stored as 16-bit PNG
On <image>: warpaint:bit-depth, warpaint:source-format, warpaint:icc-profile.

Reading accepts what GIMP, Krita and MyPaint write: nested <stack> groups are
expanded into their layers (a group's opacity and visibility multiply into its
layers, its offsets add; a group's own blend mode is not kept), absent
x/y/opacity/visibility take the spec defaults, unknown composite-ops read as
normal. Unknown layer attributes go into `Layer.extra` and are written back.
"""

from __future__ import annotations

import io
import math
import os
import posixpath
import re
import struct
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml import DefusedXmlException
from PIL import Image

from warpaint.engine.compositing import is_blend_mode
from warpaint.engine.document import DocMeta, DocState, Layer
from warpaint.engine.errors import BadInputError
from warpaint.engine.io import pngio
from warpaint.engine.io.atomic import atomic_write
from warpaint.engine.io.limits import MIB, Limits, human_bytes
from warpaint.engine.io.raster import document_bit_depth, flatten_strips, read_raster
from warpaint.engine.tiles import TiledImage, from_float, to_float

MIMETYPE = b"image/openraster"
WARPAINT_NS = "https://warpaint.invalid/ns/openraster/1"
ORA_VERSION = "0.0.6"
THUMBNAIL_SIZE = 256
PROFILE_MEMBER = "warpaint/source-profile.icc"

ET.register_namespace("warpaint", WARPAINT_NS)

SVG_OPS: dict[str, str] = {
    "normal": "svg:src-over",
    "multiply": "svg:multiply",
    "screen": "svg:screen",
    "overlay": "svg:overlay",
    "darken": "svg:darken",
    "lighten": "svg:lighten",
    "color-dodge": "svg:color-dodge",
    "color-burn": "svg:color-burn",
    "hard-light": "svg:hard-light",
    "soft-light": "svg:soft-light",
    "difference": "svg:difference",
    "exclusion": "svg:exclusion",  # not in the OpenRaster list, but other editors write it
    "hue": "svg:hue",
    "saturation": "svg:saturation",
    "color": "svg:color",
    "luminosity": "svg:luminosity",
    "plus": "svg:plus",
    "dst-in": "svg:dst-in",
    "dst-out": "svg:dst-out",
    "src-atop": "svg:src-atop",
    "dst-atop": "svg:dst-atop",
}
MODES_BY_OP: dict[str, str] = {op: mode for mode, op in SVG_OPS.items()}


def _wp(name: str) -> str:
    return f"{{{WARPAINT_NS}}}{name}"


WP_BLEND, WP_MASK, WP_DTYPE, WP_MASK_DTYPE = (
    _wp("blend-mode"),
    _wp("mask"),
    _wp("dtype"),
    _wp("mask-dtype"),
)
_MANAGED = {
    "name",
    "src",
    "x",
    "y",
    "opacity",
    "visibility",
    "composite-op",
    WP_BLEND,
    WP_MASK,
    WP_DTYPE,
    WP_MASK_DTYPE,
}


# -- writing ------------------------------------------------------------------


def _png_bytes(array: np.ndarray, level: int) -> bytes:
    """(h, w, C) uint8/uint16/float32, C = 1 or 4 -> PNG bytes (float as 16-bit)."""
    if array.dtype == np.float32:
        array = from_float(array, np.uint16)
    if array.dtype == np.uint16:
        return pngio.encode16(array, level=level)
    mode = "L" if array.shape[2] == 1 else "RGBA"
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array[..., 0] if mode == "L" else array), mode).save(
        buf, format="PNG", compress_level=level
    )
    return buf.getvalue()


def _thumbnail(merged: np.ndarray) -> bytes:
    small = merged if merged.dtype == np.uint8 else from_float(to_float(merged), np.uint8)
    image = Image.fromarray(np.ascontiguousarray(small), "RGBA")
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _fmt_float(value: float) -> str:
    return repr(float(value))


def _stack_xml(state: DocState, srcs: list[tuple[str, str | None]]) -> bytes:
    image = ET.Element(
        "image", {"version": ORA_VERSION, "w": str(state.width), "h": str(state.height)}
    )
    if state.meta.dpi:
        image.set("xres", _fmt_float(state.meta.dpi[0]))
        image.set("yres", _fmt_float(state.meta.dpi[1]))
    image.set(_wp("bit-depth"), str(state.meta.bit_depth))
    if state.meta.source_format:
        image.set(_wp("source-format"), state.meta.source_format)
    if state.meta.icc_profile:
        image.set(_wp("icc-profile"), PROFILE_MEMBER)
    stack = ET.SubElement(image, "stack")
    for layer, (src, mask_src) in reversed(list(zip(state.layers, srcs, strict=True))):
        el = ET.SubElement(stack, "layer")
        el.set("name", layer.name)
        el.set("src", src)
        el.set("x", str(layer.x))
        el.set("y", str(layer.y))
        el.set("opacity", _fmt_float(layer.opacity))
        el.set("visibility", "visible" if layer.visible else "hidden")
        extra = dict(layer.extra)
        if layer.blend_mode in SVG_OPS:
            op = SVG_OPS[layer.blend_mode]
            if layer.blend_mode == "normal":
                # A mode read but not understood (another editor's composite-op, a
                # newer Warpaint's mode) opened as normal; while it still is normal,
                # write the original back so the other program keeps it.
                op = extra.get("composite-op", op)
                if WP_BLEND in extra:
                    el.set(WP_BLEND, extra[WP_BLEND])
            el.set("composite-op", op)
        else:
            el.set("composite-op", "svg:src-over")
            el.set(WP_BLEND, layer.blend_mode)
        if layer.pixels.dtype == np.float32:
            el.set(WP_DTYPE, "float32")
        if mask_src is not None:
            el.set(WP_MASK, mask_src)
            if layer.mask is not None and layer.mask.dtype == np.float32:
                el.set(WP_MASK_DTYPE, "float32")
        for key, value in layer.extra:
            if key not in _MANAGED:
                el.set(key, value)
    ET.indent(image)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def write_ora(state: DocState, path: str | os.PathLike[str], *, compress_level: int = 4) -> None:
    """Write `state` as OpenRaster to `path` atomically (see the module docs).

    Members are encoded one at a time straight into the temporary file, so
    memory holds one layer's PNG at a time. compress_level: zlib level 0-9
    for the PNGs; 4 is about as small as 6 at half the time, autosave uses 1.
    """
    srcs: list[tuple[str, str | None]] = [
        (f"data/layer-{i:03d}.png", f"data/mask-{i:03d}.png" if layer.mask is not None else None)
        for i, layer in enumerate(state.layers)
    ]
    with atomic_write(path) as fh, zipfile.ZipFile(fh, "w") as zf:

        def put(name: str, data: bytes, method: int = zipfile.ZIP_STORED) -> None:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=method)

        put("mimetype", MIMETYPE)
        put("stack.xml", _stack_xml(state, srcs), zipfile.ZIP_DEFLATED)
        for layer, (src, mask_src) in zip(state.layers, srcs, strict=True):
            put(src, _png_bytes(layer.pixels.to_array(), compress_level))
            if layer.mask is not None and mask_src is not None:
                put(mask_src, _png_bytes(layer.mask.to_array(), compress_level))
        if state.meta.icc_profile:
            put(PROFILE_MEMBER, bytes(state.meta.icc_profile), zipfile.ZIP_DEFLATED)
        merged_dtype = np.uint8 if document_bit_depth(state) <= 8 else np.uint16
        merged = flatten_strips(state, merged_dtype)
        put("mergedimage.png", _png_bytes(merged, compress_level))
        put("Thumbnails/thumbnail.png", _thumbnail(merged))


# -- reading --------------------------------------------------------------------


@dataclass
class LayerEntry:
    """One <layer> of stack.xml, with group effects applied, before decoding."""

    name: str
    src: str
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True
    blend_mode: str = "normal"
    mask_src: str | None = None
    float_pixels: bool = False
    float_mask: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    width: int = 0
    height: int = 0
    bits: int = 8


@dataclass
class StackInfo:
    width: int
    height: int
    layers: list[LayerEntry]  # bottom to top
    dpi: tuple[float, float] | None = None
    bit_depth: int | None = None
    source_format: str | None = None
    profile_src: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


def open_zip(path: str | os.PathLike[str], what: str) -> zipfile.ZipFile:
    """Open an .ora archive; BadInputError for anything that is not a readable zip."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise BadInputError(f"{what}: no such file") from None
    except OSError as err:
        raise BadInputError(f"{what}: cannot be read ({err.strerror or err})") from None
    if size == 0:
        raise BadInputError(f"{what}: the file is empty (0 bytes)")
    try:
        zf = zipfile.ZipFile(path)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        struct.error,
    ) as err:
        raise BadInputError(
            f"{what}: not a valid OpenRaster file (broken zip archive: {err})"
        ) from None
    return zf


def safe_member_name(src: str, what: str) -> str:
    """`src` normalised; BadInputError if it is absolute or escapes the archive."""
    if (
        not src
        or "\0" in src
        or "\\" in src
        or src.startswith("/")
        or re.match(r"^[A-Za-z]:", src)
        or ".." in src.split("/")
    ):
        raise BadInputError(f"{what}: the path {src!r} points outside the archive")
    return posixpath.normpath(src)


def read_member(
    zf: zipfile.ZipFile, name: str, limits: Limits, what: str, cap: int | None = None
) -> bytes:
    """A member's bytes, refusing oversized or over-compressed members before inflating."""
    cap = limits.max_member_bytes if cap is None else min(cap, limits.max_member_bytes)
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BadInputError(f"{what}: {name!r} is missing from the archive") from None
    if info.file_size > cap:
        raise BadInputError(
            f"{what}: {name!r} would unpack to {human_bytes(info.file_size)}, over the "
            f"limit of {human_bytes(cap)}"
        )
    if info.file_size > MIB and info.file_size > limits.max_compression_ratio * max(
        info.compress_size, 1
    ):
        raise BadInputError(
            f"{what}: {name!r} is compressed {info.file_size / max(info.compress_size, 1):.0f}:1, "
            "a likely zip bomb"
        )
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        RuntimeError,
        NotImplementedError,
        struct.error,
    ) as err:
        raise BadInputError(f"{what}: {name!r} is damaged ({err})") from None
    except Exception as err:  # zlib and friends
        raise BadInputError(f"{what}: {name!r} is damaged ({type(err).__name__})") from None
    if len(data) > info.file_size:
        raise BadInputError(f"{what}: {name!r} is larger than the archive says")
    return data


def _parse_int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return int(round(number)) if math.isfinite(number) else default


def _parse_opacity(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        number = float(value)
    except ValueError:
        return 1.0
    return min(1.0, max(0.0, number)) if math.isfinite(number) else 1.0


def _parse_stack_xml(data: bytes, what: str) -> ET.Element:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise BadInputError(
            f"{what}: stack.xml declares a DTD or entities, which Warpaint refuses "
            "(possible entity-expansion attack)"
        ) from None
    except (ET.ParseError, ValueError, UnicodeDecodeError) as err:
        raise BadInputError(f"{what}: stack.xml is broken ({_first_line(err)})") from None
    if root.tag != "image":
        raise BadInputError(f"{what}: stack.xml has no <image> root element")
    return root


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def parse_stack(zf: zipfile.ZipFile, limits: Limits, what: str) -> StackInfo:
    """Read and check stack.xml and the headers of every layer (no decoding)."""
    names = zf.namelist()
    if "mimetype" in names:
        mime = read_member(zf, "mimetype", limits, what, cap=256).strip()
        if mime != MIMETYPE:
            raise BadInputError(f"{what}: not an OpenRaster file (mimetype {mime[:40]!r})")
    if "stack.xml" not in names:
        raise BadInputError(f"{what}: not an OpenRaster file (no stack.xml)")
    root = _parse_stack_xml(
        read_member(zf, "stack.xml", limits, what, cap=limits.max_xml_bytes), what
    )
    w_text, h_text = root.get("w"), root.get("h")
    try:
        width, height = int(w_text or ""), int(h_text or "")
    except ValueError:
        raise BadInputError(
            f"{what}: stack.xml has no valid image size (w={w_text!r}, h={h_text!r})"
        ) from None
    limits.check_image(width, height, f"{what}: the canvas")
    entries: list[LayerEntry] = []
    top = root.find("stack")
    if top is not None:
        _walk(top, entries, 0, 0, 1.0, True, what)
    limits.check_layers(len(entries), what)
    entries.reverse()  # stack.xml lists top first; Warpaint keeps bottom first
    for number, entry in enumerate(entries, 1):
        entry.name = entry.name or f"Layer {number}"
    info = StackInfo(width, height, entries, attrs=dict(root.attrib))
    xres, yres = root.get("xres"), root.get("yres")
    try:
        if xres and yres and float(xres) > 0 and float(yres) > 0:
            info.dpi = (float(xres), float(yres))
    except ValueError:
        pass
    bits = root.get(_wp("bit-depth"))
    info.bit_depth = int(bits) if bits in ("8", "16", "32") else None
    info.source_format = root.get(_wp("source-format"))
    profile = root.get(_wp("icc-profile"))
    if profile:
        info.profile_src = safe_member_name(profile, what)
    _measure(zf, info, limits, what)
    return info


def _walk(
    stack: ET.Element,
    out: list[LayerEntry],
    dx: int,
    dy: int,
    opacity: float,
    visible: bool,
    what: str,
) -> None:
    for el in stack:
        if el.tag == "stack":
            _walk(
                el,
                out,
                dx + _parse_int(el.get("x"), 0),
                dy + _parse_int(el.get("y"), 0),
                opacity * _parse_opacity(el.get("opacity")),
                visible and el.get("visibility", "visible") != "hidden",
                what,
            )
        elif el.tag == "layer":
            out.append(_entry(el, dx, dy, opacity, visible, what))


def _entry(
    el: ET.Element, dx: int, dy: int, opacity: float, visible: bool, what: str
) -> LayerEntry:
    name = el.get("name") or ""  # unnamed layers are numbered bottom-up once all are read
    src = el.get("src")
    label = f"{what}: layer '{name or '(unnamed)'}'"
    if not src:
        raise BadInputError(f"{label} has no src")
    extra: list[tuple[str, str]] = [(k, v) for k, v in el.attrib.items() if k not in _MANAGED]
    op = el.get("composite-op", "svg:src-over")
    mode = MODES_BY_OP.get(op)
    if mode is None:
        mode = "normal"
        extra.append(("composite-op", op))
    wp_mode = el.get(WP_BLEND)
    if wp_mode is not None:
        if is_blend_mode(wp_mode):
            mode = wp_mode
        else:
            extra.append((WP_BLEND, wp_mode))
    mask = el.get(WP_MASK)
    return LayerEntry(
        name=name,
        src=safe_member_name(src, label),
        x=dx + _parse_int(el.get("x"), 0),
        y=dy + _parse_int(el.get("y"), 0),
        opacity=opacity * _parse_opacity(el.get("opacity")),
        visible=visible and el.get("visibility", "visible") != "hidden",
        blend_mode=mode,
        mask_src=safe_member_name(mask, label + " mask") if mask else None,
        float_pixels=el.get(WP_DTYPE) == "float32",
        float_mask=el.get(WP_MASK_DTYPE) == "float32",
        extra=tuple(extra),
    )


def _member_size(zf: zipfile.ZipFile, name: str, limits: Limits, what: str) -> tuple[int, int, int]:
    """(width, height, bits) of an image member from its header."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BadInputError(f"{what}: {name!r} is missing from the archive") from None
    try:
        with zf.open(info) as fh:
            head = fh.read(64)
    except Exception as err:  # zipfile/zlib errors on a damaged member
        raise BadInputError(f"{what}: {name!r} is damaged ({type(err).__name__})") from None
    png = pngio.read_header(head)
    if png is not None:
        return png.width, png.height, png.bit_depth
    from warpaint.engine.io.raster import read_header

    header = read_header(read_member(zf, name, limits, what), limits, f"{what}: {name}")
    return header.width, header.height, header.bit_depth


def _measure(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    total = 0
    for entry in info.layers:
        label = f"{what}: layer '{entry.name}'"
        entry.width, entry.height, entry.bits = _member_size(zf, entry.src, limits, label)
        limits.check_image(entry.width, entry.height, label)
        itemsize = 4 if entry.float_pixels else 2 if entry.bits > 8 else 1
        total += entry.width * entry.height * 4 * itemsize
        if entry.mask_src:
            mw, mh, mbits = _member_size(zf, entry.mask_src, limits, label + " mask")
            if (mw, mh) != (entry.width, entry.height):
                raise BadInputError(
                    f"{label}: the mask is {mw} x {mh}, the layer {entry.width} x {entry.height}"
                )
            total += mw * mh * (4 if entry.float_mask else 2 if mbits > 8 else 1)
        limits.check_total(total, what)


def _decode_layer(zf: zipfile.ZipFile, entry: LayerEntry, limits: Limits, what: str) -> Layer:
    label = f"{what}: layer '{entry.name}'"
    image = read_raster(
        read_member(zf, entry.src, limits, label), limits, label, convert_colour=False
    )
    pixels = image.pixels
    if entry.float_pixels:
        pixels = to_float(pixels)
    mask = None
    if entry.mask_src:
        data = read_member(zf, entry.mask_src, limits, label + " mask")
        mask_image = read_raster(data, limits, label + " mask", convert_colour=False)
        m = mask_image.pixels[..., :1]
        if entry.float_mask:
            m = to_float(m)
        if m.shape[:2] != pixels.shape[:2]:
            raise BadInputError(f"{label}: the mask's size differs from the layer's")
        mask = TiledImage.from_array(m)
    return Layer(
        name=entry.name,
        pixels=TiledImage.from_array(pixels),
        opacity=entry.opacity,
        visible=entry.visible,
        blend_mode=entry.blend_mode,
        mask=mask,
        x=entry.x,
        y=entry.y,
        extra=entry.extra,
    )


def read_ora(
    path: str | os.PathLike[str], limits: Limits | None = None, *, name: str | None = None
) -> DocState:
    """Read an OpenRaster file into a `DocState` (layers bottom to top).

    Every size is checked against `limits` (defaults: `Limits.from_env()`)
    before anything is decoded. An archive without layers opens its
    mergedimage.png as a single layer. Raises BadInputError for anything
    damaged or hostile.
    """
    from warpaint.engine.io.limits import resolve

    limits = resolve(limits)
    what = name or os.fspath(path)
    with open_zip(path, what) as zf:
        info = parse_stack(zf, limits, what)
        layers = [_decode_layer(zf, entry, limits, what) for entry in info.layers]
        if not layers and "mergedimage.png" in zf.namelist():
            merged = read_raster(
                read_member(zf, "mergedimage.png", limits, what),
                limits,
                f"{what}: mergedimage.png",
                convert_colour=False,
            )
            layers = [Layer("Merged image", TiledImage.from_array(merged.pixels))]
        icc = None
        if info.profile_src and info.profile_src in zf.namelist():
            icc = read_member(zf, info.profile_src, limits, what, cap=16 * MIB)
    depth = max(({1: 8, 2: 16, 4: 32}[lay.pixels.dtype.itemsize] for lay in layers), default=8)
    meta = DocMeta(
        source_format=info.source_format or "ora",
        bit_depth=info.bit_depth or depth,
        icc_profile=icc,
        dpi=info.dpi,
    )
    return DocState(info.width, info.height, tuple(layers), meta)


def describe_ora(path: str | os.PathLike[str], limits: Limits) -> dict[str, Any]:
    """Header facts of an .ora without decoding pixels (for `warpaint info`)."""
    what = os.fspath(path)
    with open_zip(path, what) as zf:
        info = parse_stack(zf, limits, what)
        icc = None
        if info.profile_src and info.profile_src in zf.namelist():
            icc = read_member(zf, info.profile_src, limits, what, cap=16 * MIB)
    depth = max((e.bits if not e.float_pixels else 32 for e in info.layers), default=8)
    return {
        "info": info,
        "bit_depth": info.bit_depth or depth,
        "icc_profile": icc,
    }
