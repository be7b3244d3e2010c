"""Masked and multiresolution layers look the same in Krita as in Warpaint.

Krita knows nothing of Warpaint's masks or its multiresolution mode: it draws
what the .ora's plain OpenRaster part says (layer PNGs, composite-ops), and
re-saves the file without Warpaint's extension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from krita_harness import FIGURES, Krita, difference, read_png

from warpaint.engine.core.compositing import MULTIRESOLUTION, composite
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io.ora import read_ora, write_ora

TOLERANCE = 3.0  # 1/255 units, premultiplied RGBA
W, H = 96, 64


def _backdrop() -> np.ndarray:
    """(H, W, 4) uint8: opaque stripes and a gradient, detail at every scale."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.empty((H, W, 4), np.uint8)
    out[..., 0] = np.where((xx // 8) % 2 == 0, 230, 40)
    out[..., 1] = yy * 255 // (H - 1)
    out[..., 2] = (xx * 255 // (W - 1))[::-1]
    out[..., 3] = 255
    return out


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    out[..., 3] = 255
    return out


def _mask(h: int, w: int) -> TiledImage:
    """(h, w, 1) uint8: a soft left-to-right ramp with a hard hole in the middle."""
    ramp = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    ramp[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 0
    return TiledImage.from_array(ramp[..., None])


def _state(case: str) -> DocState:
    back = Layer.from_array("Backdrop", _backdrop())
    lh, lw = 40, 60
    layer = Layer.from_array("Layer", _picture(lh, lw, 7), x=20, y=12)
    if case == "masked normal":
        layer = layer.with_(mask=_mask(lh, lw), opacity=0.9)
    elif case == "masked multiply":
        layer = layer.with_(mask=_mask(lh, lw), blend_mode="multiply")
    elif case == "multiresolution":
        layer = layer.with_(blend_mode=MULTIRESOLUTION)
    elif case == "multiresolution masked":
        layer = layer.with_(blend_mode=MULTIRESOLUTION, mask=_mask(lh, lw))
    return DocState(W, H, (back, layer))


@pytest.mark.parametrize(
    "case", ["masked normal", "masked multiply", "multiresolution", "multiresolution masked"]
)
def test_krita_draws_layer_as_warpaint(krita: Krita, tmp_path: Path, case: str) -> None:
    state = _state(case)
    path = tmp_path / "layers.ora"
    write_ora(state, path)
    call = krita.export(path, tmp_path / "layers.png")
    gap = difference(read_png(call.target), composite(state).astype(np.float64))
    FIGURES.other[f"{case} layer, Krita vs Warpaint"] = str(gap)
    assert gap.max <= TOLERANCE, f"Krita draws the {case} layer {gap} from Warpaint"


@pytest.mark.parametrize(
    "case", ["masked normal", "masked multiply", "multiresolution", "multiresolution masked"]
)
def test_layer_resaved_by_krita_looks_the_same_in_warpaint(
    krita: Krita, tmp_path: Path, case: str
) -> None:
    state = _state(case)
    path = tmp_path / "layers.ora"
    write_ora(state, path)
    resaved = read_ora(krita.export(path, tmp_path / "krita.ora").target)
    gap = difference(composite(resaved).astype(np.float64), composite(state).astype(np.float64))
    FIGURES.other[f"{case} layer, Krita-saved vs Warpaint-saved"] = str(gap)
    assert gap.max <= TOLERANCE, f"the {case} layer re-saved by Krita opens {gap} off"
