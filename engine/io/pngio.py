"""PNG chunk helpers and 16-bit PNG coding.

Pillow decodes 16-bit colour PNGs to 8 bits, so 16-bit PNGs go through
`imagecodecs` (libpng) for pixels; metadata chunks (iCCP, eXIf, pHYs) are read
and written here, with every length checked and every zlib stream capped.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_ICC_BYTES = 16 << 20


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int  # 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
    interlaced: bool

    @property
    def channels(self) -> int:
        return {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(self.colour_type, 0)


def read_header(data: bytes) -> PngHeader | None:
    """The IHDR of PNG bytes, or None when `data` does not start like a PNG."""
    if len(data) < 33 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return PngHeader(w, h, depth, ctype, interlace == 1)


def iter_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) for each chunk before IEND; stops at a damaged length."""
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return
        yield kind, data[pos + 8 : end]
        if kind == b"IEND":
            return
        pos = end + 4


def _inflate_capped(payload: bytes, cap: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, cap + 1)
    except zlib.error:
        return b""
    return b"" if len(out) > cap else out


@dataclass(frozen=True)
class PngMeta:
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None


def read_meta(data: bytes) -> PngMeta:
    """iCCP profile, eXIf block and pHYs resolution of PNG bytes (all optional)."""
    icc = exif = None
    dpi = None
    for kind, payload in iter_chunks(data):
        if kind == b"iCCP":
            name_end = payload.find(b"\0")
            if 0 < name_end < 80 and len(payload) > name_end + 2:
                icc = _inflate_capped(payload[name_end + 2 :], MAX_ICC_BYTES) or None
        elif kind == b"eXIf":
            exif = payload
        elif kind == b"pHYs" and len(payload) == 9:
            px, py, unit = struct.unpack(">IIB", payload)
            if unit == 1 and px and py:
                dpi = (px * 0.0254, py * 0.0254)
    return PngMeta(icc, exif, dpi)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def insert_chunks(png: bytes, icc_profile: bytes | None, dpi: tuple[float, float] | None) -> bytes:
    """PNG bytes with iCCP and pHYs chunks added right after IHDR."""
    ihdr_end = len(SIGNATURE) + 8 + 13 + 4
    extra = b""
    if icc_profile:
        extra += _chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        extra += _chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    return png[:ihdr_end] + extra + png[ihdr_end:]


def encode16(
    array: np.ndarray,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    level: int = 6,
) -> bytes:
    """(h, w, C) uint16 (C = 1..4) -> 16-bit PNG bytes."""
    import imagecodecs

    if array.dtype != np.uint16:
        raise ValueError("encode16 needs uint16 pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    png = bytes(imagecodecs.png_encode(np.ascontiguousarray(array), level=level))
    return insert_chunks(png, icc_profile, dpi)


def decode16(data: bytes) -> np.ndarray:
    """16-bit PNG bytes -> (h, w, C) uint16 (C = 1..4).

    Damaged data raises imagecodecs' own error; callers wrap decoding in
    `raster.decoding`, which names the file.
    """
    import imagecodecs

    out = np.asarray(imagecodecs.png_decode(data))
    if out.ndim == 2:
        out = out[..., None]
    if out.dtype != np.uint16:
        out = out.astype(np.uint16) * np.uint16(257)
    return out
