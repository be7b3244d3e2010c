"""PNG chunk helpers and 16-bit PNG coding.

Pillow decodes 16-bit colour PNGs to 8 bits, so 16-bit PNGs go through
`imagecodecs` (libpng) for pixels; metadata chunks (iCCP, eXIf, pHYs) are read
and written here, with every length checked and every zlib stream capped.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
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


# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def raw_size(header: PngHeader) -> int:
    """Bytes of filtered scanlines the IDAT stream must inflate to (Adam7 passes
    counted separately when interlaced); 0 for an unknown colour type."""
    bits = header.channels * header.bit_depth
    if not bits:
        return 0

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not header.interlaced:
        return rows(header.width, header.height)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        pw = (header.width - x0 + dx - 1) // dx if header.width > x0 else 0
        ph = (header.height - y0 + dy - 1) // dy if header.height > y0 else 0
        total += rows(pw, ph)
    return total


_CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")
_PIECE = 1 << 20


def verify_stream(read: Callable[[int], bytes]) -> str | None:
    """Check a whole PNG read through `read(n)` without decoding it to pixels.

    Reads chunk by chunk in pieces of at most 1 MiB, checks the CRC of every
    critical chunk and inflates the image data only until it has the bytes the
    header promises (output discarded), so memory stays small and a stream
    that inflates forever stops early. Returns None when the data is complete,
    else a short reason ("truncated", "damaged image data", ...). A missing
    IEND after complete image data is accepted, as libpng and Pillow accept it.
    """
    if read(len(SIGNATURE)) != SIGNATURE:
        return "not a PNG"
    header: PngHeader | None = None
    need = 0
    got = 0
    inflater = zlib.decompressobj()
    while True:
        head = read(8)
        if len(head) < 8:
            break
        (length,) = struct.unpack(">I", head[:4])
        kind = head[4:]
        if length > 0x7FFFFFFF:
            return f"damaged {kind.decode('latin-1')} chunk length"
        crc = zlib.crc32(kind)
        left = length
        first = b""
        while left:
            piece = read(min(left, _PIECE))
            if not piece:
                return "truncated" if got < need or header is None else None
            left -= len(piece)
            crc = zlib.crc32(piece, crc)
            if kind == b"IHDR" and not first:
                first = piece
            if kind == b"IDAT" and header is not None and got < need:
                try:
                    out = inflater.decompress(piece, _PIECE)
                    got += len(out)
                    while inflater.unconsumed_tail and got < need:
                        got += len(inflater.decompress(inflater.unconsumed_tail, _PIECE))
                except zlib.error:
                    return "damaged image data"
        stored = read(4)
        if len(stored) < 4:
            return "truncated" if got < need or header is None else None
        if kind in _CRITICAL and struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
            return f"damaged {kind.decode('latin-1')} chunk (checksum mismatch)"
        if kind == b"IHDR":
            header = read_header(SIGNATURE + head + first + stored)
            need = raw_size(header) if header is not None else 0
            if not need:
                return "damaged header"
        if kind == b"IEND":
            break
    if header is None:
        return "truncated"
    if got < need:
        return "truncated" if not inflater.eof else "damaged image data (too short)"
    return None
