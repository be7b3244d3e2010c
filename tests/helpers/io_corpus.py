"""Shared helpers for the file tests: every test file is generated here.

Nothing is downloaded: valid images in every format, ICC profiles, EXIF
orientations, OpenRaster archives shaped like GIMP, Krita and MyPaint output,
and the hostile corpus are all built from code.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# D50-adapted colorants of Adobe RGB (1998), as in its ICC profile.
ADOBE_RGB_COLUMNS = (
    (0.60974, 0.31111, 0.01947),
    (0.20528, 0.62567, 0.06087),
    (0.14919, 0.06322, 0.74457),
)
D50 = (0.9642, 1.0, 0.8249)


def _s15(values: tuple[float, ...]) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def make_rgb_profile(
    description: str = "Adobe RGB like (test)",
    columns: tuple[tuple[float, float, float], ...] = ADOBE_RGB_COLUMNS,
    gamma: float = 563 / 256,
) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile, built byte by byte."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc_tag(description)),
        (b"wtpt", _xyz_tag(D50)),
        (b"rXYZ", _xyz_tag(columns[0])),
        (b"gXYZ", _xyz_tag(columns[1])),
        (b"bXYZ", _xyz_tag(columns[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0No copyright, test data\0"),
    ]
    return _assemble(b"RGB ", tags)


def make_grey_profile(gamma: float = 1.8) -> bytes:
    """A minimal ICC v2 grey TRC profile."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc_tag("Grey gamma 1.8 (test)")),
        (b"wtpt", _xyz_tag(D50)),
        (b"kTRC", curve),
        (b"cprt", b"text\0\0\0\0No copyright\0"),
    ]
    return _assemble(b"GRAY", tags)


def _assemble(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    body = b""
    for sig, data in tags:
        while (offset + len(body)) % 4:
            body += b"\0"
        table += struct.pack(">4sII", sig, offset + len(body), len(data))
        body += data
    while len(body) % 4:
        body += b"\0"
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + space
        + b"XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + _s15(D50)
        + b"\0" * 48
    )
    assert len(header) == 128, len(header)
    return header + table + body


# -- pixels -----------------------------------------------------------------


def rgba_pattern(
    height: int, width: int, dtype: type = np.uint8, opaque: bool = False
) -> np.ndarray:
    """A deterministic (h, w, 4) test picture: gradients, noise and an alpha ramp
    (alpha >= 1 everywhere, so flattening keeps every colour)."""
    top = 255 if dtype == np.uint8 else 65535
    rng = np.random.default_rng(height * 1000 + width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    r = xs / max(width - 1, 1)
    g = ys / max(height - 1, 1)
    b = rng.random((height, width))
    a = np.ones((height, width)) if opaque else 0.1 + 0.9 * ((xs + ys) % 17) / 16
    out = np.stack([r, g, b, a], axis=-1)
    if dtype == np.float32:
        return out.astype(np.float32)
    return np.clip(np.rint(out * top), 1 if not opaque else 0, top).astype(dtype)


def upright_marker(height: int = 6, width: int = 10) -> np.ndarray:
    """An asymmetric opaque RGB uint8 picture: every flip or rotation changes it."""
    out = np.zeros((height, width, 3), np.uint8)
    out[..., 0] = np.arange(width)[None, :] * 20
    out[..., 1] = np.arange(height)[:, None] * 40
    out[0, 0] = (255, 255, 255)
    out[0, 1] = (255, 0, 255)
    return out


# -- encoders independent of the engine's -------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def raw_png(
    array: np.ndarray,
    extra_chunks: tuple[tuple[bytes, bytes], ...] = (),
    declared_size: tuple[int, int] | None = None,
) -> bytes:
    """A PNG written by hand (filter 0): uint8 or uint16, 1..4 channels.

    `declared_size` overrides the IHDR size (for lying headers)."""
    if array.ndim == 2:
        array = array[..., None]
    h, w, c = array.shape
    depth = 16 if array.dtype == np.uint16 else 8
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    dw, dh = declared_size or (w, h)
    ihdr = struct.pack(">IIBBBBB", dw, dh, depth, ctype, 0, 0, 0)
    data = array.astype(">u2" if depth == 16 else np.uint8).tobytes()
    row = w * c * (depth // 8)
    raw = b"".join(b"\0" + data[y * row : (y + 1) * row] for y in range(h))
    chunks = [png_chunk(b"IHDR", ihdr)]
    chunks += [png_chunk(k, v) for k, v in extra_chunks]
    chunks += [png_chunk(b"IDAT", zlib.compress(raw)), png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def iccp_chunk(profile: bytes) -> tuple[bytes, bytes]:
    return (b"iCCP", b"test profile\0\0" + zlib.compress(profile))


def pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# -- OpenRaster ----------------------------------------------------------------


def png_of(array: np.ndarray) -> bytes:
    """8-bit RGBA/L PNG bytes through Pillow."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    mode = "L" if array.ndim == 2 else "RGBA"
    return pil_bytes(Image.fromarray(np.ascontiguousarray(array), mode), "PNG")


def make_ora(
    path: Path,
    stack_xml: str | bytes,
    members: dict[str, bytes],
    *,
    mimetype: bytes | None = b"image/openraster",
    mimetype_compressed: bool = False,
) -> Path:
    """An .ora archive with exactly the given stack.xml and members."""
    with zipfile.ZipFile(path, "w") as zf:
        if mimetype is not None:
            zf.writestr(
                "mimetype",
                mimetype,
                compress_type=zipfile.ZIP_DEFLATED if mimetype_compressed else zipfile.ZIP_STORED,
            )
        zf.writestr(
            "stack.xml",
            stack_xml if isinstance(stack_xml, bytes) else stack_xml.encode("utf-8"),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def solid(height: int, width: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    out = np.empty((height, width, 4), np.uint8)
    out[...] = rgba
    return out


def gimp_style_ora(path: Path) -> Path:
    """Like GIMP 2.10: version 0.0.3, a nested group, offsets, hidden layers."""
    xml = """<?xml version='1.0' encoding='UTF-8'?>
<image version="0.0.3" w="64" h="48">
  <stack>
    <stack composite-op="svg:src-over" name="Group" opacity="0.500" visibility="visible"
           x="0" y="0">
      <layer composite-op="svg:multiply" name="In group" opacity="1.000"
             src="data/ingroup.png" visibility="visible" x="8" y="4" />
    </stack>
    <layer composite-op="svg:src-over" name="Hidden" opacity="1.000" src="data/hidden.png"
           visibility="hidden" x="0" y="0" />
    <layer composite-op="svg:src-over" name="Background" opacity="1.000" src="data/bg.png"
           visibility="visible" x="0" y="0" />
  </stack>
</image>"""
    members = {
        "data/ingroup.png": png_of(solid(10, 12, (0, 0, 255, 255))),
        "data/hidden.png": png_of(solid(48, 64, (255, 0, 0, 255))),
        "data/bg.png": png_of(solid(48, 64, (200, 200, 200, 255))),
        "mergedimage.png": png_of(solid(48, 64, (200, 200, 200, 255))),
        "Thumbnails/thumbnail.png": png_of(solid(48, 64, (200, 200, 200, 255))),
    }
    return make_ora(path, xml, members)


def krita_style_ora(path: Path) -> Path:
    """Like Krita: xres/yres, krita-only composite ops, selected="true", groups
    with isolation, a layer without x/y/opacity."""
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<image w="32" h="32" xres="300" yres="300" version="0.0.1">
 <stack opacity="1" name="root">
  <stack opacity="1" name="Group 1" visibility="hidden" isolation="isolate"
         composite-op="svg:src-over" x="0" y="0">
   <layer opacity="0.8" name="Dodge" visibility="visible" composite-op="svg:color-dodge"
          src="data/layer3.png" x="2" y="3" selected="true"/>
  </stack>
  <layer name="Paint" src="data/layer2.png" composite-op="krita:linear_burn"/>
  <layer opacity="1" name="Background" visibility="visible" composite-op="svg:src-over"
         src="data/layer1.png" x="0" y="0"/>
 </stack>
</image>"""
    members = {
        "data/layer3.png": png_of(solid(4, 4, (0, 255, 0, 255))),
        "data/layer2.png": png_of(solid(32, 32, (10, 20, 30, 128))),
        "data/layer1.png": png_of(solid(32, 32, (255, 255, 255, 255))),
        "mergedimage.png": png_of(solid(32, 32, (255, 255, 255, 255))),
    }
    return make_ora(path, xml, members)


def mypaint_style_ora(path: Path) -> Path:
    """Like MyPaint: negative offsets, layer bigger than the canvas, mypaint
    attributes, no mergedimage namespace tricks, no thumbnail."""
    xml = """<?xml version='1.0' encoding='UTF-8'?>
<image h="40" w="40" version="0.0.5" xres="72" yres="72">
<stack>
<layer composite-op="svg:screen" mypaint_strokemap_v2="data/layer001_strokemap.dat"
 name="Ink" opacity="0.7" selected="true" src="data/layer001.png" visibility="visible"
 x="-64" y="-64" />
<layer composite-op="svg:src-over" name="" opacity="1.0" src="data/layer000.png"
 visibility="visible" x="0" y="0" />
</stack>
</image>"""
    members = {
        "data/layer001.png": png_of(solid(128, 128, (30, 60, 90, 200))),
        "data/layer001_strokemap.dat": b"\x00" * 32,
        "data/layer000.png": png_of(solid(40, 40, (250, 240, 230, 255))),
        "mergedimage.png": png_of(solid(40, 40, (250, 240, 230, 255))),
    }
    return make_ora(path, xml, members)


# -- hostile input ---------------------------------------------------------------------


def billion_laughs() -> str:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE image [", ' <!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = "&lol;" if i == 1 else f"&lol{i - 1};"
        lines.append(f' <!ENTITY lol{i} "{prev * 10}">')
    lines.append("]>")
    lines.append(
        '<image w="2" h="2"><stack><layer name="&lol9;" src="data/a.png"/></stack></image>'
    )
    return "\n".join(lines)


EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE image [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<image w="2" h="2"><stack><layer name="&xxe;" src="data/a.png"/></stack></image>"""


def one_layer_xml(
    src: str = "data/a.png", w: int | str = 2, h: int | str = 2, extra: str = ""
) -> str:
    return f'<image w="{w}" h="{h}"><stack><layer name="a" src="{src}" {extra}/></stack></image>'


def small_jpeg() -> bytes:
    return pil_bytes(
        Image.fromarray(rgba_pattern(16, 16, opaque=True)[..., :3]), "JPEG", quality=90
    )


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF header claims another size (the data stays small)."""
    pos = 2
    while pos < len(data):
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]
        pos += 2 + length
    raise ValueError("no SOF marker")


def patch_bmp_size(data: bytes, width: int, height: int) -> bytes:
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


# -- model files ------------------------------------------------------------------


def model_file(path: Path, meta_json: str, floats: int = 1) -> Path:
    """A safetensors file written by hand: one float32 tensor "w" of `floats`
    zeros and `meta_json` (any text, valid JSON or not) as Warpaint's metadata."""
    import json

    header = {
        "__metadata__": {"warpaint": meta_json},
        "w": {"dtype": "F32", "shape": [floats], "data_offsets": [0, 4 * floats]},
    }
    head = json.dumps(header).encode("utf-8")
    head += b" " * (-len(head) % 8)  # safetensors pads the header to 8 bytes
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * (4 * floats))
    return path
