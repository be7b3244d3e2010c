"""OpenRaster (.ora) reading and writing.

Layout written (OpenRaster 0.0.6):

    mimetype                    "image/openraster", first member, stored
    data/layer-NNN.png          each layer as other programs must draw it, at
                                its size (16-bit PNG with an sRGB iCCP chunk
                                for 16-bit and float layers)
    warpaint/pixels-NNN.png     a masked or multiresolution layer's own pixels
    data/mask-NNN.png           Warpaint masks (grey PNG, layer size)
    stack.xml                   the layer stack, first <layer> = top
    warpaint/source-profile.icc the document's source ICC profile, if any
    (members of the file the document came from that Warpaint does not
    read, under their own names, byte for byte)
    mergedimage.png             the flattened canvas (always)
    Thumbnails/thumbnail.png    at most 256 x 256

What others see is what Warpaint shows: a masked layer's src has the mask
multiplied into its alpha and keeps its mode; a multiresolution layer's src
is its splined result in normal mode (a snapshot: it goes stale in another
program once what lies below it changes there). Warpaint's extensions live in
the namespace `WARPAINT_NS` (prefix `warpaint`); other programs ignore them.
On <layer>:

    warpaint:blend-mode  a Warpaint blend mode with no svg:* equivalent (e.g.
                         multiresolution); composite-op is then svg:src-over
    warpaint:mask        archive path of the layer's mask PNG
    warpaint:pixels      archive path of the layer's own (unmasked, unsplined)
                         pixels when src holds baked ones; then also
    warpaint:baked-sha256  digest of src's pixels and offset as written
    warpaint:x, warpaint:y, warpaint:opacity
                         the layer's own offset and opacity where they differ
                         from the baked src's
    warpaint:dtype, warpaint:mask-dtype
                         "float32" when float pixels were stored as 16-bit PNG
On <image>: warpaint:bit-depth, warpaint:source-format, warpaint:icc-profile.

Reading a baked layer whose src still matches its digest opens the originals,
editable; if another program changed or moved it, its src opens as it is and
`DocMeta.warnings` says the live mask or mode was dropped. Files written
before baking (src = own pixels, no digest) open as before.

Reading accepts what GIMP, Krita, MyPaint and Drawpile write: nested <stack>
groups are expanded into their layers (a group's opacity and visibility
multiply into its layers, its offsets add; a group's own blend mode is not
kept; nesting deeper than MAX_GROUP_DEPTH is refused), absent
x/y/opacity/visibility take the spec defaults, unknown composite-ops read as
normal with a warning, a MyPaint background tile (`mypaint:background-tile`)
is repeated over the canvas. Unknown layer attributes go into `Layer.extra`
and are written back; archive members nothing reads (strokemaps, tiles,
Drawpile's extras) are listed in `DocMeta.carried` and copied into the next
save.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import posixpath
import re
import shutil
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml import DefusedXmlException
from PIL import Image

from warpaint.engine.core.compositing import (
    CANVAS_MODES,
    composite,
    is_blend_mode,
    stack_before,
    strips,
)
from warpaint.engine.core.document import DocMeta, DocState, Group, Layer, Node, map_layers
from warpaint.engine.core.tiles import Rect, TiledImage, from_float, to_float
from warpaint.engine.io import pngio
from warpaint.engine.io.atomic import atomic_write
from warpaint.engine.io.colour import srgb_profile_bytes
from warpaint.engine.io.limits import MIB, Limits, checked_offset, human_bytes
from warpaint.engine.io.raster import document_bit_depth, flatten_strips, read_raster
from warpaint.engine.runtime.errors import BadInputError

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
WP_PIXELS, WP_X, WP_Y, WP_BAKED = _wp("pixels"), _wp("x"), _wp("y"), _wp("baked-sha256")
WP_OPACITY = _wp("opacity")
# A group's mask: the mask itself on the <stack>, and for other programs a
# dst-in layer on top of the group's children drawing it (marked, with the
# digest of its pixels, so Warpaint reads it back as the mask).
WP_GROUP_MASK, WP_PASS_THROUGH = _wp("group-mask"), _wp("pass-through")
WP_LOCKED = _wp("locked")
MYPAINT_NS = "http://mypaint.org/ns/openraster"
# MyPaint's background layer: src holds the tile repeated over the canvas and
# this attribute the single tile (the older spelling has no namespace).
BACKGROUND_TILE_ATTRS = (f"{{{MYPAINT_NS}}}background-tile", "background_tile")
ET.register_namespace("mypaint", MYPAINT_NS)
# Deepest nesting of <stack> groups read; real files nest a few levels, and
# the compositor walks groups by recursion (a few frames per level).
MAX_GROUP_DEPTH = 64
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
    WP_PIXELS,
    WP_X,
    WP_Y,
    WP_BAKED,
    WP_OPACITY,
    WP_GROUP_MASK,
    WP_LOCKED,
}


# -- writing ------------------------------------------------------------------


def _stored(array: np.ndarray) -> np.ndarray:
    """Pixels as they go into a PNG: float32 becomes uint16, other dtypes stay."""
    return from_float(array, np.uint16) if array.dtype == np.float32 else array


def _png_bytes(array: np.ndarray, level: int) -> bytes:
    """(h, w, C) uint8/uint16/float32, C = 1 or 4 -> PNG bytes (float as 16-bit).

    16-bit colour PNGs carry an sRGB iCCP chunk: without a profile Krita's PNG
    import asks which one to assume in a modal dialog (a headless export
    hangs), and an sRGB chunk does not stop it. 8-bit PNGs open as sRGB
    there without one and are written as before; grey masks get none (an RGB
    profile is invalid on a grey PNG).
    """
    array = _stored(array)
    if array.dtype == np.uint16:
        icc = srgb_profile_bytes() if array.shape[2] >= 3 else None
        return pngio.encode16(array, icc_profile=icc, level=level)
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


def pixels_digest(stored: np.ndarray, x: int, y: int) -> str:
    """Hex SHA-256 of a layer as stored, (h, w, 4) uint8 or uint16, with its offset.

    Written beside a baked layer so that Warpaint can tell on reading whether
    another program changed its pixels or moved it.
    """
    h, w = stored.shape[:2]
    digest = hashlib.sha256(f"{w}x{h}{x:+d}{y:+d}:{stored.dtype.itemsize}".encode())
    digest.update(np.ascontiguousarray(stored, dtype=stored.dtype.newbyteorder("<")).data)
    return digest.hexdigest()


def unblend_normal(result: np.ndarray, backdrop: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """The least opaque layer that, laid in normal mode over `backdrop`, gives `result`.

    result, backdrop: (h, w, 4) float32 straight RGBA in [0, 1]. Returns
    (h, w, 4) uint8 or uint16 (`dtype`). Per pixel, alpha is the smallest
    value for which a colour in [0, 1] exists (rounded up to the next storable
    step), so the layer is transparent wherever `result` equals `backdrop`.
    Exact up to rounding where the backdrop is opaque or the result at least
    as opaque as the backdrop; elsewhere the nearest colour is kept.
    """
    top = float(np.iinfo(dtype).max)
    ra = result[..., 3:4].astype(np.float64)
    ba = backdrop[..., 3:4].astype(np.float64)
    rp = result[..., :3] * ra
    bp = backdrop[..., :3] * ba
    with np.errstate(divide="ignore", invalid="ignore"):
        # a + ba (1 - a) = ra  ->  a = (ra - ba) / (1 - ba), free where ba = 1.
        a = np.where(ba < 1.0, (ra - ba) / (1.0 - ba), 0.0)
        # a c + (1 - a) bp = rp with 0 <= c <= 1 needs a >= 1 - rp / bp and
        # a >= (rp - bp) / (1 - bp), per channel.
        low = np.where(bp > 0.0, (bp - rp) / bp, 0.0)
        high = np.where(bp < 1.0, (rp - bp) / (1.0 - bp), 0.0)
    a = np.maximum(a, np.maximum(low, high).max(axis=2, keepdims=True))
    # Rounded up: a smaller alpha would need a colour outside [0, 1].
    a = np.clip(np.ceil(np.clip(a, 0.0, 1.0) * top - 1e-3) / top, 0.0, 1.0)
    colour = np.divide(rp - (1.0 - a) * bp, a, out=np.zeros_like(rp), where=a > 0.0)
    out = np.concatenate([np.clip(colour, 0.0, 1.0), a], axis=2)
    return np.rint(out * top).astype(dtype)


def _bake_mask(layer: Layer) -> Layer:
    """`layer` with its mask multiplied into its alpha (mode, opacity, offset kept)."""
    assert layer.mask is not None
    pixels = layer.pixels.to_array()
    weight = to_float(layer.mask.to_array())  # (h, w, 1) in [0, 1]
    if pixels.dtype == np.float32:
        pixels[..., 3:4] *= weight
    else:
        pixels[..., 3:4] = np.rint(pixels[..., 3:4] * weight).astype(pixels.dtype)
    return layer.with_(pixels=TiledImage.from_array(pixels), mask=None)


def _bake_spline(
    state: DocState, layer: Layer, before: tuple[Node, ...], shown: dict[int, Layer]
) -> Layer:
    """A multiresolution layer as a normal-mode layer over what lies below it
    in its stack as other programs draw it.

    before: the nodes whose composite is the layer's backdrop
    (`stack_before`); shown: the baked layers already written, by id, which
    replace theirs in `before` for the backdrop a reader sees. Baked at the
    layer's opacity and written at full opacity: the blend is clipped to
    [0, 1], so a result baked at full opacity and faded by the reader differs
    where the spline overshoots (up to 4/255 measured). Baked as if visible,
    so it shows as it would in Warpaint when made visible. Cropped to its
    non-transparent pixels.
    """
    whole = DocState(state.width, state.height, before + (layer.with_(visible=True),))
    plain = DocState(
        state.width, state.height, map_layers(before, lambda lay: shown.get(lay.id, lay))
    )
    dtype = np.uint8 if layer.pixels.dtype == np.uint8 else np.uint16
    out = np.empty((state.height, state.width, 4), dtype)
    for y, h in strips(state.height, 256):
        rect = Rect(0, y, state.width, h)
        out[y : y + h] = unblend_normal(composite(whole, rect), composite(plain, rect), dtype)
    alpha = out[..., 3]
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    x0 = y0 = 0
    crop = out[:1, :1]
    if rows.size:
        y0, x0 = int(rows[0]), int(cols[0])
        crop = out[y0 : int(rows[-1]) + 1, x0 : int(cols[-1]) + 1]
    pixels = to_float(crop) if layer.pixels.dtype == np.float32 else np.ascontiguousarray(crop)
    return Layer(layer.name, TiledImage.from_array(pixels), visible=layer.visible, x=x0, y=y0)


def shown_layers(state: DocState) -> Iterator[tuple[Layer, Layer]]:
    """Each layer of `state` (in `state.layers` order) with the layer a reader
    that knows only the OpenRaster ops must draw to show what Warpaint shows.

    The second item is the layer itself when nothing needs baking; a masked
    layer has its mask multiplied into its alpha and keeps its mode; a
    multiresolution layer becomes its splined result in normal mode, as the
    least opaque pixels that, laid over what lies below it as shown, give
    Warpaint's composite. Yielded one at a time so a writer holds one baked
    layer at a time (plus those a multiresolution layer above needs).
    """
    canvas_modes = [i for i, lay in enumerate(state.layers) if lay.blend_mode in CANVAS_MODES]
    last = canvas_modes[-1] if canvas_modes else -1
    kept: dict[int, Layer] = {}
    for i, layer in enumerate(state.layers):
        if layer.blend_mode in CANVAS_MODES:
            shown = _bake_spline(state, layer, stack_before(state, layer.id), kept)
        elif layer.mask is not None:
            shown = _bake_mask(layer)
        else:
            shown = layer
        if i < last and shown is not layer:
            kept[layer.id] = shown
        yield layer, shown


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name` with a number before its extension, not yet in `taken`."""
    stem, ext = posixpath.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{stem}-{n}{ext}", n + 1
    taken.add(candidate)
    return candidate


def _layer_attrs(layer: Layer, shown: Layer, src: str) -> dict[str, str]:
    """stack.xml attributes of one layer; `shown` gives the pixels' offset."""
    attrs = {
        "name": layer.name,
        "src": src,
        "x": str(shown.x),
        "y": str(shown.y),
        "opacity": _fmt_float(shown.opacity),
        "visibility": "visible" if layer.visible else "hidden",
    }
    extra = dict(layer.extra)
    if layer.blend_mode in SVG_OPS:
        op = SVG_OPS[layer.blend_mode]
        if layer.blend_mode == "normal":
            # A mode read but not understood (another editor's composite-op, a
            # newer Warpaint's mode) opened as normal; while it still is normal,
            # write the original back so the other program keeps it.
            op = extra.get("composite-op", op)
            if WP_BLEND in extra:
                attrs[WP_BLEND] = extra[WP_BLEND]
        attrs["composite-op"] = op
    else:
        attrs["composite-op"] = "svg:src-over"
        attrs[WP_BLEND] = layer.blend_mode
    if layer.pixels.dtype == np.float32:
        attrs[WP_DTYPE] = "float32"
    if layer.locked:
        attrs[WP_LOCKED] = "true"
    for key, value in layer.extra:
        if key not in _MANAGED:
            attrs[key] = value
    return attrs


def _group_attrs(group: Group, mask_src: str | None) -> dict[str, str]:
    """stack.xml attributes of one group (a <stack>); `mask_src` names its mask.

    A pass-through group is written "auto" (OpenRaster's non-isolated group
    at full opacity and src-over) and marked, so that Warpaint reads it back
    as pass-through even where other programs isolate it: at an opacity
    below 1, or with a mask, which other programs see as a dst-in layer
    inside the group and which needs the group isolated.
    """
    attrs = {
        "name": group.name,
        "opacity": _fmt_float(group.opacity),
        "visibility": "visible" if group.visible else "hidden",
        "isolation": "isolate" if group.isolated or mask_src else "auto",
    }
    if not group.isolated:
        attrs[WP_PASS_THROUGH] = "true"
    if group.locked:
        attrs[WP_LOCKED] = "true"
    if mask_src is not None:
        assert group.mask is not None
        attrs[WP_MASK] = mask_src
        attrs[WP_X], attrs[WP_Y] = str(group.x), str(group.y)
        if group.mask.dtype == np.float32:
            attrs[WP_MASK_DTYPE] = "float32"
    op = SVG_OPS[group.blend_mode] if group.isolated else "svg:src-over"
    if group.blend_mode == "normal":
        op = dict(group.extra).get("composite-op", op)
    attrs["composite-op"] = op
    for key, value in group.extra:
        if key not in _GROUP_MANAGED:
            attrs[key] = value
    return attrs


def _stack_xml(
    state: DocState,
    elements: dict[int, dict[str, str]],
    group_masks: dict[int, tuple[str, dict[str, str]]],
) -> bytes:
    """stack.xml for the tree of `state`, given each layer's attributes by id
    and each masked group's mask member and mask-drawing layer by group id."""
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
    # Iterative, top first within each stack, as OpenRaster lists them.
    todo: list[tuple[ET.Element, tuple[Node, ...]]] = [(ET.SubElement(image, "stack"), state.root)]
    while todo:
        parent, nodes = todo.pop()
        for node in reversed(nodes):
            if isinstance(node, Group):
                mask_src, mask_layer = group_masks.get(node.id, (None, None))
                el = ET.SubElement(parent, "stack", _group_attrs(node, mask_src))
                if mask_layer is not None:
                    ET.SubElement(el, "layer", mask_layer)
                todo.append((el, node.children))
            else:
                ET.SubElement(parent, "layer", elements[node.id])
    ET.indent(image)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


_ALWAYS_WRITTEN = {"mimetype", "stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"}


def write_ora(
    state: DocState, path: str | os.PathLike[str], *, compress_level: int = 4, bake: bool = True
) -> list[str]:
    """Write `state` as OpenRaster to `path` atomically (see the module docs).

    Members are encoded one at a time straight into the temporary file, so
    memory holds one layer's PNG at a time (and the baked layers a
    multiresolution layer above them needs). compress_level: zlib level 0-9
    for the PNGs; 4 is about as small as 6 at half the time, autosave uses 1.
    bake: write masked and multiresolution layers as other programs must draw
    them (`shown_layers`), the originals beside them; False writes the
    originals as the layers' srcs, for files only Warpaint reads (recovery
    files): baking a multiresolution layer costs about 3 s on a 2048^2 canvas
    on 2 CPU cores, once its spline is computed. Members carried from the
    file the document came from (`state.meta.carried`) are copied unchanged,
    streamed. Returns notes (one line each) about carried members that could
    not be kept.
    """
    taken = set(_ALWAYS_WRITTEN) | {PROFILE_MEMBER}
    carried = [c for c in state.meta.carried if c[1] not in taken]
    taken |= {name for _, name, _, _ in carried}
    notes: list[str] = []
    with atomic_write(path) as fh, zipfile.ZipFile(fh, "w") as zf:

        def put(name: str, data: bytes, method: int = zipfile.ZIP_STORED) -> None:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=method)

        put("mimetype", MIMETYPE)
        elements: dict[int, dict[str, str]] = {}
        pairs = shown_layers(state) if bake else ((layer, layer) for layer in state.layers)
        for i, (layer, shown) in enumerate(pairs):
            src = _unique(f"data/layer-{i:03d}.png", taken)
            stored = _stored(shown.pixels.to_array())
            put(src, _png_bytes(stored, compress_level))
            attrs = _layer_attrs(layer, shown, src)
            if shown is not layer:
                original = _unique(f"warpaint/pixels-{i:03d}.png", taken)
                put(original, _png_bytes(layer.pixels.to_array(), compress_level))
                attrs[WP_PIXELS] = original
                attrs[WP_BAKED] = pixels_digest(stored, shown.x, shown.y)
                if (layer.x, layer.y) != (shown.x, shown.y):
                    attrs[WP_X], attrs[WP_Y] = str(layer.x), str(layer.y)
                if layer.opacity != shown.opacity:
                    attrs[WP_OPACITY] = _fmt_float(layer.opacity)
            del stored
            if layer.mask is not None:
                mask_src = _unique(f"data/mask-{i:03d}.png", taken)
                put(mask_src, _png_bytes(layer.mask.to_array(), compress_level))
                attrs[WP_MASK] = mask_src
                if layer.mask.dtype == np.float32:
                    attrs[WP_MASK_DTYPE] = "float32"
            elements[layer.id] = attrs
        group_masks: dict[int, tuple[str, dict[str, str]]] = {}
        for k, group in enumerate(g for g in state.groups if g.mask is not None):
            assert group.mask is not None
            mask = group.mask.to_array()
            mask_src = _unique(f"warpaint/group-mask-{k:03d}.png", taken)
            put(mask_src, _png_bytes(mask, compress_level))
            drawn = np.zeros((*mask.shape[:2], 4), mask.dtype)
            drawn[..., 3:4] = mask
            stored = _stored(drawn)
            src = _unique(f"data/group-mask-{k:03d}.png", taken)
            put(src, _png_bytes(stored, compress_level))
            group_masks[group.id] = (
                mask_src,
                {
                    "name": f"{group.name} mask",
                    "src": src,
                    "x": str(group.x),
                    "y": str(group.y),
                    "opacity": "1",
                    "visibility": "visible",
                    "composite-op": "svg:dst-in",
                    WP_GROUP_MASK: "true",
                    WP_BAKED: pixels_digest(stored, group.x, group.y),
                },
            )
        put("stack.xml", _stack_xml(state, elements, group_masks), zipfile.ZIP_DEFLATED)
        if state.meta.icc_profile:
            put(PROFILE_MEMBER, bytes(state.meta.icc_profile), zipfile.ZIP_DEFLATED)
        notes += _copy_carried(zf, carried)
        merged_dtype = np.uint8 if document_bit_depth(state) <= 8 else np.uint16
        merged = flatten_strips(state, merged_dtype)
        put("mergedimage.png", _png_bytes(merged, compress_level))
        put("Thumbnails/thumbnail.png", _thumbnail(merged))
    return notes


def _copy_carried(zf: zipfile.ZipFile, carried: list[tuple[str, str, int, int]]) -> list[str]:
    """Stream each carried member from its archive into `zf`, unchanged."""
    notes: list[str] = []
    archives: dict[str, list[tuple[str, int, int]]] = {}
    for archive, name, crc, size in carried:
        archives.setdefault(archive, []).append((name, crc, size))
    for archive, members in archives.items():
        try:
            source = zipfile.ZipFile(archive)
        except (
            OSError,
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            ValueError,
            EOFError,
            struct.error,
            NotImplementedError,
        ):
            notes.append(
                f"{len(members)} member(s) of {archive} that Warpaint does not read were not "
                "kept: that file can no longer be read"
            )
            continue
        with source:
            for name, crc, size in members:
                try:
                    info = source.getinfo(name)
                except KeyError:
                    info = None
                if info is None or (info.CRC, info.file_size) != (crc, size):
                    notes.append(
                        f"{name!r} was not kept: it changed in {archive} since it was opened"
                    )
                    continue
                out = zipfile.ZipInfo(name, date_time=info.date_time)
                out.external_attr = info.external_attr
                out.compress_type = (
                    info.compress_type
                    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                    else zipfile.ZIP_DEFLATED
                )
                out.file_size = size
                try:
                    with (
                        source.open(info) as fin,
                        zf.open(out, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as fout,
                    ):
                        shutil.copyfileobj(fin, fout, MIB)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
                    raise BadInputError(
                        f"{archive}: {name!r} could not be copied ({_first_line(err)})"
                    ) from None
    return notes


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
    # The mode composite-op gives, what other programs draw.
    shown_mode: str = "normal"
    # composite-op or warpaint:blend-mode named a mode Warpaint does not know.
    unknown_mode: bool = False
    locked: bool = False
    # Warpaint's editable originals when src holds baked pixels: the unmasked
    # pixels, their offset, and the digest of the baked pixels as written.
    pixels_src: str | None = None
    original_x: int = 0
    original_y: int = 0
    original_opacity: float = 1.0
    baked_digest: str | None = None
    originals_missing: bool = False
    # MyPaint's background: the tile repeated over the canvas from (tile_x, tile_y).
    tile_src: str | None = None
    tile_x: int = 0
    tile_y: int = 0


@dataclass
class GroupEntry:
    """One <stack> below the root: a group and its children, bottom first."""

    name: str
    children: list[LayerEntry | GroupEntry] = field(default_factory=list)
    opacity: float = 1.0
    visible: bool = True
    blend_mode: str = "normal"
    isolated: bool = True
    extra: tuple[tuple[str, str], ...] = ()
    unknown_mode: bool = False
    locked: bool = False
    # Warpaint's group mask: the member, its offset and dtype, and the layer
    # drawing it for other programs (dropped once it is found unchanged).
    mask_src: str | None = None
    mask_x: int = 0
    mask_y: int = 0
    float_mask: bool = False
    mask_layer: LayerEntry | None = None
    mask: TiledImage | None = None


@dataclass
class StackInfo:
    width: int
    height: int
    layers: list[LayerEntry]  # bottom to top
    # The layers and groups of the root stack, bottom first (groups nested).
    tree: list[LayerEntry | GroupEntry] = field(default_factory=list)
    groups: list[GroupEntry] = field(default_factory=list)
    dpi: tuple[float, float] | None = None
    bit_depth: int | None = None
    source_format: str | None = None
    profile_src: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    # Members the layers read (srcs, masks, originals, tiles).
    read_members: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


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
        # A central directory asking for a newer zip version than Python reads.
        NotImplementedError,
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


def unknown_modes_message(count: int) -> str:
    """The warning for `count` layers in blend modes Warpaint does not know."""
    if count == 1:
        return "1 layer uses a blend mode Warpaint does not know; it is shown as normal and kept"
    return (
        f"{count} layers use blend modes Warpaint does not know; they are shown as normal and kept"
    )


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
    top = root.find("stack")
    # Counted before any layer is read, so a file with millions is refused at once.
    limits.check_layers(sum(1 for _ in top.iter("layer")) if top is not None else 0, what)
    tree, entries, groups = _walk(top, what) if top is not None else ([], [], [])
    # stack.xml lists top first; Warpaint keeps bottom first.
    tree.reverse()
    for group in groups:
        group.children.reverse()
    entries.reverse()
    for number, entry in enumerate(entries, 1):
        entry.name = entry.name or f"Layer {number}"
    for number, group in enumerate(groups, 1):
        group.name = group.name or f"Group {number}"
    info = StackInfo(width, height, entries, tree=tree, groups=groups, attrs=dict(root.attrib))
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
    unknown = sum(entry.unknown_mode for entry in entries) + sum(g.unknown_mode for g in groups)
    if unknown:
        info.warnings.append(unknown_modes_message(unknown))
    _measure(zf, info, limits, what)
    return info


def _walk(
    top: ET.Element, what: str
) -> tuple[list[LayerEntry | GroupEntry], list[LayerEntry], list[GroupEntry]]:
    """The tree under `top` as stack.xml lists it (top first), with every
    layer and every group in document order too. Stack offsets are added to
    the layers' own; a group's opacity, visibility and mode stay on the group.

    Iterative, with the nesting capped at MAX_GROUP_DEPTH: a file nested
    thousands of <stack>s deep must not exhaust Python's recursion limit.
    """
    tree: list[LayerEntry | GroupEntry] = []
    layers: list[LayerEntry] = []
    groups: list[GroupEntry] = []
    # Per open group: its children still to read, where its nodes go, its offset.
    todo: list[
        tuple[Iterator[ET.Element], list[LayerEntry | GroupEntry], int, int, GroupEntry | None]
    ] = [(iter(top), tree, 0, 0, None)]
    while todo:
        children, out, dx, dy, owner = todo[-1]
        el = next(children, None)
        if el is None:
            todo.pop()
        elif el.tag == "stack":
            if len(todo) > MAX_GROUP_DEPTH:
                raise BadInputError(
                    f"{what}: stack.xml nests groups more than {MAX_GROUP_DEPTH} levels deep"
                )
            group = _group_entry(el, what)
            if group.mask_src is not None:
                group.mask_x = checked_offset(dx + _parse_int(el.get(WP_X), 0), what)
                group.mask_y = checked_offset(dy + _parse_int(el.get(WP_Y), 0), what)
            out.append(group)
            groups.append(group)
            todo.append(
                (
                    iter(el),
                    group.children,
                    dx + _parse_int(el.get("x"), 0),
                    dy + _parse_int(el.get("y"), 0),
                    group,
                )
            )
        elif el.tag == "layer":
            entry = _entry(el, dx, dy, 1.0, True, what)
            out.append(entry)
            layers.append(entry)
            if (
                el.get(WP_GROUP_MASK) == "true"
                and owner is not None
                and owner.mask_src is not None
                and owner.mask_layer is None
                and len(owner.children) == 1  # the topmost child: listed first
            ):
                owner.mask_layer = entry
    return tree, layers, groups


_GROUP_MANAGED = {
    "name",
    "x",
    "y",
    "opacity",
    "visibility",
    "composite-op",
    "isolation",
    WP_MASK,
    WP_MASK_DTYPE,
    WP_X,
    WP_Y,
    WP_PASS_THROUGH,
    WP_LOCKED,
}


def _composite_op(el: ET.Element, extra: list[tuple[str, str]]) -> tuple[str, str, bool]:
    """(composite-op, mode, unknown) of a <layer> or <stack>: an op Warpaint
    does not know reads as normal and goes into `extra`, to be written back."""
    op = el.get("composite-op", "svg:src-over")
    mode = MODES_BY_OP.get(op)
    if mode is None:
        extra.append(("composite-op", op))
        return op, "normal", True
    return op, mode, False


def _group_entry(el: ET.Element, what: str) -> GroupEntry:
    """A <stack>'s own attributes. OpenRaster isolates a group when its
    isolation is "isolate", its opacity is below 1 or its op is not
    src-over; otherwise ("auto") its children blend into what lies below."""
    extra = [(k, v) for k, v in el.attrib.items() if k not in _GROUP_MANAGED]
    op, mode, unknown = _composite_op(el, extra)
    opacity = _parse_opacity(el.get("opacity"))
    isolated = el.get("isolation") == "isolate" or opacity < 1.0 or op != "svg:src-over"
    if el.get(WP_PASS_THROUGH) == "true":
        isolated = False
    mask = el.get(WP_MASK)
    return GroupEntry(
        locked=el.get(WP_LOCKED) == "true",
        mask_src=safe_member_name(mask, f"{what}: group mask") if mask else None,
        float_mask=el.get(WP_MASK_DTYPE) == "float32",
        name=el.get("name") or "",
        opacity=opacity,
        visible=el.get("visibility", "visible") != "hidden",
        blend_mode=mode,
        isolated=isolated,
        extra=tuple(extra),
        unknown_mode=unknown,
    )


def _entry(
    el: ET.Element, dx: int, dy: int, opacity: float, visible: bool, what: str
) -> LayerEntry:
    name = el.get("name") or ""  # unnamed layers are numbered bottom-up once all are read
    src = el.get("src")
    label = f"{what}: layer '{name or '(unnamed)'}'"
    if not src:
        raise BadInputError(f"{label} has no src")
    extra: list[tuple[str, str]] = [(k, v) for k, v in el.attrib.items() if k not in _MANAGED]
    _, mode, unknown = _composite_op(el, extra)
    shown_mode = mode
    wp_mode = el.get(WP_BLEND)
    if wp_mode is not None:
        if is_blend_mode(wp_mode):
            mode = wp_mode
        else:
            extra.append((WP_BLEND, wp_mode))
            unknown = True
    mask = el.get(WP_MASK)
    pixels = el.get(WP_PIXELS)
    tile = next((el.get(a) for a in BACKGROUND_TILE_ATTRS if el.get(a)), None)
    x = checked_offset(dx + _parse_int(el.get("x"), 0), label)
    y = checked_offset(dy + _parse_int(el.get("y"), 0), label)
    return LayerEntry(
        name=name,
        src=safe_member_name(src, label),
        x=x,
        y=y,
        opacity=opacity * _parse_opacity(el.get("opacity")),
        visible=visible and el.get("visibility", "visible") != "hidden",
        blend_mode=mode,
        mask_src=safe_member_name(mask, label + " mask") if mask else None,
        float_pixels=el.get(WP_DTYPE) == "float32",
        float_mask=el.get(WP_MASK_DTYPE) == "float32",
        extra=tuple(extra),
        shown_mode=shown_mode,
        unknown_mode=unknown,
        pixels_src=safe_member_name(pixels, label) if pixels else None,
        original_x=checked_offset(dx + _parse_int(el.get(WP_X), x - dx), label),
        original_y=checked_offset(dy + _parse_int(el.get(WP_Y), y - dy), label),
        baked_digest=el.get(WP_BAKED),
        original_opacity=_parse_opacity(el.get(WP_OPACITY)),
        tile_src=safe_member_name(tile, label + " background tile") if tile else None,
        locked=el.get(WP_LOCKED) == "true",
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


def _open_depth(bits: int, is_float: bool) -> int:
    """Bits per channel a layer opens at: 1/2/4-bit and palette images open at 8."""
    return 32 if is_float else 16 if bits > 8 else 8


def _measure(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    """Read every layer's image headers and check the decoded size of the whole
    document (pixels and bytes, over all layers, masks, originals and tiles)
    against `limits` before anything is decoded."""
    names = set(zf.namelist())
    sizes: dict[str, tuple[int, int, int]] = {}

    def size_of(member: str, label: str) -> tuple[int, int, int]:
        if member not in sizes:
            sizes[member] = _member_size(zf, member, limits, label)
            limits.check_image(sizes[member][0], sizes[member][1], label)
        return sizes[member]

    pixels = nbytes = 0
    for entry in info.layers:
        label = f"{what}: layer '{entry.name}'"
        info.read_members.update(
            m for m in (entry.src, entry.mask_src, entry.pixels_src, entry.tile_src) if m
        )
        if entry.tile_src is not None and entry.tile_src not in names:
            entry.tile_src = None  # no tile to repeat: the src is drawn as it is
        entry.width, entry.height, entry.bits = size_of(entry.src, label)
        itemsize = 4 if entry.float_pixels else 2 if entry.bits > 8 else 1
        images = [(entry.width * entry.height, 4 * itemsize)]
        if entry.tile_src is not None:
            tw, th, tbits = size_of(entry.tile_src, label + " background tile")
            entry.bits = tbits
            images.append((tw * th, 4 * itemsize))
            images.append((info.width * info.height, 4 * itemsize))
            # It opens as one layer covering the canvas.
            entry.tile_x, entry.tile_y, entry.x, entry.y = entry.x, entry.y, 0, 0
            entry.width, entry.height = info.width, info.height
        size = (entry.width, entry.height)
        if entry.pixels_src is not None:
            if entry.pixels_src not in names or (entry.mask_src and entry.mask_src not in names):
                # Another program kept the attributes but not the members:
                # the src is what there is (see _resolve_originals).
                entry.originals_missing = True
            else:
                ow, oh, obits = size_of(entry.pixels_src, label)
                size = (ow, oh)
                images.append((ow * oh, 4 * (4 if entry.float_pixels else 2 if obits > 8 else 1)))
        if entry.mask_src and not entry.originals_missing:
            mw, mh, mbits = size_of(entry.mask_src, label + " mask")
            if (mw, mh) != size:
                raise BadInputError(
                    f"{label}: the mask is {mw} x {mh}, the layer {size[0]} x {size[1]}"
                )
            images.append((mw * mh, 4 if entry.float_mask else 2 if mbits > 8 else 1))
        pixels += sum(n for n, _ in images)
        nbytes += sum(n * per for n, per in images)
        limits.check_total_pixels(pixels, what)
        limits.check_total(nbytes, what)
    for group in info.groups:
        if group.mask_src is None:
            continue
        if group.mask_src not in names:
            group.mask_src = None  # handled with the other dropped masks
            continue
        info.read_members.add(group.mask_src)
        mw, mh, mbits = size_of(group.mask_src, f"{what}: group '{group.name}' mask")
        pixels += mw * mh
        nbytes += mw * mh * (4 if group.float_mask else 2 if mbits > 8 else 1)
        limits.check_total_pixels(pixels, what)
        limits.check_total(nbytes, what)


def _decode_stored(zf: zipfile.ZipFile, member: str, limits: Limits, label: str) -> np.ndarray:
    """A member decoded as stored: (h, w, 4) uint8 or uint16 RGBA."""
    return read_raster(
        read_member(zf, member, limits, label), limits, label, convert_colour=False
    ).pixels


def _resolve_originals(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    """Point each baked layer at Warpaint's editable originals when its pixels
    are as Warpaint wrote them; else keep what another program saved there,
    drop the live mask or mode, and say so in `info.warnings`."""
    digests: dict[tuple[str, int, int], str] = {}  # layers may share a src
    for entry in info.layers:
        if entry.pixels_src is None:
            continue
        label = f"{what}: layer '{entry.name}'"
        same = not entry.originals_missing and entry.baked_digest is not None
        if same:
            key = (entry.src, entry.x, entry.y)
            if key not in digests:
                digests[key] = pixels_digest(_decode_stored(zf, entry.src, limits, label), *key[1:])
            same = digests[key] == entry.baked_digest
        if same:
            entry.src, entry.x, entry.y = entry.pixels_src, entry.original_x, entry.original_y
            # A multiresolution layer is written at full opacity (its opacity is
            # baked in); an opacity another program set multiplies the original.
            entry.opacity *= entry.original_opacity
            entry.width, entry.height, entry.bits = _member_size(zf, entry.src, limits, label)
        else:
            dropped = []
            if entry.mask_src:
                dropped.append("mask")
            if entry.blend_mode != entry.shown_mode:
                dropped.append(f"{entry.blend_mode} mode")
            entry.mask_src = None
            entry.float_mask = False
            entry.blend_mode = entry.shown_mode
            info.warnings.append(
                f"layer '{entry.name}' was changed in another program; it opens as saved "
                f"there, and its live {' and '.join(dropped) or 'mask or mode'} "
                f"{'were' if len(dropped) > 1 else 'was'} dropped"
            )
        entry.pixels_src = entry.baked_digest = None
        entry.originals_missing = False


def _resolve_group_masks(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    """Keep each group's mask when the layer drawing it for other programs is
    as Warpaint wrote it (that layer then goes: the mask replaces it); else
    the group opens without its mask, the edited layer kept, and a warning."""
    for group in info.groups:
        layer = group.mask_layer
        if group.mask_src is None and layer is None:
            continue
        same = False
        if group.mask_src is not None and layer is not None and layer.baked_digest:
            label = f"{what}: group '{group.name}' mask"
            stored = _decode_stored(zf, layer.src, limits, label)
            same = pixels_digest(stored, layer.x, layer.y) == layer.baked_digest
        if same:
            assert layer is not None
            group.children.remove(layer)
            info.layers.remove(layer)
            continue
        group.mask_src = None
        if layer is not None:
            layer.baked_digest = None
        info.warnings.append(
            f"group '{group.name}' was changed in another program; it opens as saved there, "
            "and its live mask was dropped"
        )


def _decode_group_masks(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    for group in info.groups:
        if group.mask_src is None:
            continue
        label = f"{what}: group '{group.name}' mask"
        image = read_raster(
            read_member(zf, group.mask_src, limits, label), limits, label, convert_colour=False
        )
        m = image.pixels[..., :1]
        group.mask = TiledImage.from_array(to_float(m) if group.float_mask else m)


def _tile_over(tile: np.ndarray, width: int, height: int, x: int, y: int) -> np.ndarray:
    """(th, tw, C) repeated over a (height, width) canvas, one copy's corner at (x, y)."""
    th, tw = tile.shape[:2]
    sx, sy = (-x) % tw, (-y) % th
    reps = ((height + sy) // th + 1, (width + sx) // tw + 1, 1)
    return np.ascontiguousarray(np.tile(tile, reps)[sy : sy + height, sx : sx + width])


def _decode_layer(
    zf: zipfile.ZipFile,
    entry: LayerEntry,
    info: StackInfo,
    limits: Limits,
    what: str,
    shared: dict[tuple[str, bool], TiledImage],
) -> Layer:
    label = f"{what}: layer '{entry.name}'"
    if entry.tile_src is not None:
        tile = _decode_stored(zf, entry.tile_src, limits, label + " background tile")
        tile = to_float(tile) if entry.float_pixels else tile
        pixels = TiledImage.from_array(
            _tile_over(tile, info.width, info.height, entry.tile_x, entry.tile_y)
        )
    else:
        # Layers that name one src share its decoded pixels (images are immutable).
        key = (entry.src, entry.float_pixels)
        if key not in shared:
            stored = _decode_stored(zf, entry.src, limits, label)
            shared[key] = TiledImage.from_array(to_float(stored) if entry.float_pixels else stored)
        pixels = shared[key]
    mask = None
    if entry.mask_src:
        data = read_member(zf, entry.mask_src, limits, label + " mask")
        mask_image = read_raster(data, limits, label + " mask", convert_colour=False)
        m = mask_image.pixels[..., :1]
        if entry.float_mask:
            m = to_float(m)
        if m.shape[:2] != (pixels.height, pixels.width):
            raise BadInputError(f"{label}: the mask's size differs from the layer's")
        mask = TiledImage.from_array(m)
    return Layer(
        name=entry.name,
        pixels=pixels,
        opacity=entry.opacity,
        visible=entry.visible,
        blend_mode=entry.blend_mode,
        mask=mask,
        x=entry.x,
        y=entry.y,
        extra=entry.extra,
        locked=entry.locked,
    )


def _carried_members(
    zf: zipfile.ZipFile, info: StackInfo, archive: str, limits: Limits, what: str
) -> tuple[tuple[tuple[str, str, int, int], ...], list[str]]:
    """Members another program wrote that Warpaint does not read (or that a kept
    attribute names), each checked whole: (archive, name, CRC-32, size) and notes.

    Each is streamed through once to check its CRC, so a damaged one is
    dropped now, with a note, rather than failing a later save. Their total
    size is capped by the limits' memory budget.
    """
    skip = set(_ALWAYS_WRITTEN)
    if info.profile_src:
        skip.add(info.profile_src)
    named = {value for entry in info.layers for _, value in entry.extra}
    carried: list[tuple[str, str, int, int]] = []
    notes: list[str] = []
    total = 0
    seen: set[str] = set()
    # Last first: of duplicate names, zipfile reads (and so keeps) the last.
    for member in reversed(zf.infolist()):
        name = member.filename
        if member.is_dir() or name in skip or (name in info.read_members and name not in named):
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            safe_member_name(name, what)
        except BadInputError:
            notes.append(f"the archive member {name!r} points outside the archive; not kept")
            continue
        total += member.file_size
        if member.file_size > limits.max_member_bytes or total > limits.max_total_bytes:
            notes.append(f"{name!r} is too large to keep ({human_bytes(member.file_size)})")
            continue
        if member.file_size > MIB and member.file_size > limits.max_compression_ratio * max(
            member.compress_size, 1
        ):
            notes.append(f"{name!r} is compressed like a zip bomb; not kept")
            continue
        try:
            with zf.open(member) as fh:
                while fh.read(MIB):
                    pass
        except Exception as err:  # zipfile/zlib errors on a damaged member
            notes.append(f"{name!r} is damaged and was not kept ({type(err).__name__})")
            continue
        carried.append((archive, name, member.CRC, member.file_size))
    return tuple(reversed(carried)), notes


def read_ora(
    path: str | os.PathLike[str], limits: Limits | None = None, *, name: str | None = None
) -> DocState:
    """Read an OpenRaster file into a `DocState` (layers bottom to top).

    Every size is checked against `limits` (defaults: `Limits.from_env()`)
    before anything is decoded. An archive without layers opens its
    mergedimage.png as a single layer. What the user should hear about on
    open (unknown blend modes, live masks or modes dropped because another
    program changed a layer) is in `meta.warnings`; members Warpaint does not
    read are listed in `meta.carried` for the next save. Raises
    BadInputError for anything damaged or hostile.
    """
    from warpaint.engine.io.limits import resolve

    limits = resolve(limits)
    what = name or os.fspath(path)
    with open_zip(path, what) as zf:
        info = parse_stack(zf, limits, what)
        _resolve_originals(zf, info, limits, what)
        _resolve_group_masks(zf, info, limits, what)
        _decode_group_masks(zf, info, limits, what)
        shared: dict[tuple[str, bool], TiledImage] = {}
        layers = [_decode_layer(zf, entry, info, limits, what, shared) for entry in info.layers]
        root = _build_tree(info.tree, dict(zip(map(id, info.layers), layers, strict=True)))
        if not layers and "mergedimage.png" in zf.namelist():
            merged = read_raster(
                read_member(zf, "mergedimage.png", limits, what),
                limits,
                f"{what}: mergedimage.png",
                convert_colour=False,
            )
            layers = [Layer("Merged image", TiledImage.from_array(merged.pixels))]
            root = tuple(layers)
        icc = None
        if info.profile_src and info.profile_src in zf.namelist():
            icc = read_member(zf, info.profile_src, limits, what, cap=16 * MIB)
        carried, notes = _carried_members(zf, info, os.path.abspath(path), limits, what)
    depth = max(({1: 8, 2: 16, 4: 32}[lay.pixels.dtype.itemsize] for lay in layers), default=8)
    meta = DocMeta(
        source_format=info.source_format or "ora",
        bit_depth=info.bit_depth or depth,
        icc_profile=icc,
        dpi=info.dpi,
        warnings=tuple(info.warnings + notes),
        carried=carried,
    )
    return DocState(info.width, info.height, root, meta)


def _build_tree(tree: list[LayerEntry | GroupEntry], decoded: dict[int, Layer]) -> tuple[Node, ...]:
    """The document's root from the parsed tree and the decoded layers (by
    id of their entries). Iterative: groups are built innermost first."""
    order: list[GroupEntry] = []
    todo = [n for n in tree if isinstance(n, GroupEntry)]
    while todo:
        group = todo.pop()
        order.append(group)
        todo += [n for n in group.children if isinstance(n, GroupEntry)]
    built: dict[int, Group] = {}

    def node(entry: LayerEntry | GroupEntry) -> Node:
        return built[id(entry)] if isinstance(entry, GroupEntry) else decoded[id(entry)]

    for group in reversed(order):  # children before their parents
        built[id(group)] = Group(
            group.name,
            tuple(node(child) for child in group.children),
            opacity=group.opacity,
            visible=group.visible,
            blend_mode=group.blend_mode,
            isolated=group.isolated,
            mask=group.mask,
            x=group.mask_x,
            y=group.mask_y,
            extra=group.extra,
            locked=group.locked,
        )
    return tuple(node(entry) for entry in tree)


def _verify_members(zf: zipfile.ZipFile, info: StackInfo, limits: Limits, what: str) -> None:
    """Check that every image member the layers read is whole (PNGs streamed
    without decoding to pixels, other formats decoded within the limits)."""
    for member in sorted(info.read_members & set(zf.namelist())):
        label = f"{what}: {member!r}"
        try:
            with zf.open(member) as fh:
                head = fh.read(64)
            if pngio.read_header(head) is None:
                read_raster(read_member(zf, member, limits, what), limits, label)
                continue
            with zf.open(member) as fh:
                reason = pngio.verify_stream(fh.read)
        except BadInputError:
            raise
        except Exception as err:  # zipfile/zlib errors on a damaged member
            raise BadInputError(f"{label} is damaged ({type(err).__name__})") from None
        if reason is not None:
            raise BadInputError(f"{label} is damaged ({reason})")


def describe_ora(path: str | os.PathLike[str], limits: Limits) -> dict[str, Any]:
    """Facts about an .ora for `warpaint info`: headers, every layer's data
    checked whole, the layers as Warpaint opens them, and the warnings."""
    what = os.fspath(path)
    with open_zip(path, what) as zf:
        info = parse_stack(zf, limits, what)
        _verify_members(zf, info, limits, what)
        _resolve_originals(zf, info, limits, what)
        _resolve_group_masks(zf, info, limits, what)
        icc = None
        if info.profile_src and info.profile_src in zf.namelist():
            icc = read_member(zf, info.profile_src, limits, what, cap=16 * MIB)
    depths = [_open_depth(e.bits, e.float_pixels) for e in info.layers]
    return {
        "info": info,
        # Warpaint's own record first (the document's depth, as read_ora opens it).
        "bit_depth": info.bit_depth or max(depths, default=8),
        "icc_profile": icc,
        "warnings": list(info.warnings),
    }
