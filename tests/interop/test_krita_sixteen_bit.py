"""Krita opens Warpaint's 16-bit .ora promptly and sees the saved pixels."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
from krita_harness import FIGURES, Krita, difference, read_png

from warpaint.engine.core.compositing import composite
from warpaint.engine.core.document import DocMeta, DocState, Layer
from warpaint.engine.io.ora import write_ora

OPEN_WITHIN_S = 60.0
TOLERANCE = 2.0  # 1/255 units, premultiplied RGBA


def _sixteen_bit_state() -> DocState:
    """A 16-bit document: an opaque smooth backdrop and a half-covering layer.

    The values fall between 8-bit steps (not multiples of 257), so a reader
    that dropped to 8 bits on the way would still be within the tolerance,
    but one that misread the byte order or the depth would not.
    """
    h, w = 48, 80
    yy, xx = np.mgrid[0:h, 0:w]
    back = np.empty((h, w, 4), np.uint16)
    back[..., 0] = xx * 65535 // (w - 1)
    back[..., 1] = yy * 65535 // (h - 1)
    back[..., 2] = (xx * 811 + yy * 1297) % 65536
    back[..., 3] = 65535
    rng = np.random.default_rng(16)
    top = rng.integers(0, 65536, (32, 40, 4), dtype=np.uint16)
    top[..., 3] = np.linspace(0, 65535, 40, dtype=np.uint16)[None, :]
    layers = (
        Layer.from_array("Backdrop", back),
        Layer.from_array("Glaze", top, x=30, y=9, opacity=0.75),
    )
    return DocState(w, h, layers, DocMeta(bit_depth=16))


def test_krita_opens_sixteen_bit_ora_and_sees_the_pixels(krita: Krita, tmp_path: Path) -> None:
    state = _sixteen_bit_state()
    path = tmp_path / "sixteen.ora"
    write_ora(state, path)
    call = krita.export(path, tmp_path / "sixteen.png", timeout=OPEN_WITHIN_S)
    seen = read_png(call.target)
    gap = difference(seen, composite(state).astype(np.float64))
    bits = 16 if imagecodecs.png_decode(call.target.read_bytes()).dtype == np.uint16 else 8
    FIGURES.other["16-bit .ora in Krita"] = (
        f"opened and exported ({bits}-bit PNG) in {call.seconds:.1f} s, {gap}"
    )
    assert gap.max <= TOLERANCE, f"Krita sees Warpaint's 16-bit layers {gap} off"
