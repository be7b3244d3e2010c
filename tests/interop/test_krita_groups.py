"""Groups between Krita and Warpaint: Krita draws Warpaint's groups as Warpaint
does (isolated groups with modes and opacity, clipping by dst-in inside a group,
a group mask, a hidden group), and a Krita-written .ora opens in Warpaint with
its tree: names, nesting, visibility and opacity of groups and layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from krita_harness import FIGURES, Krita, difference, read_png

from warpaint.engine.core.compositing import composite
from warpaint.engine.core.document import DocState, Group, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io.ora import read_ora, write_ora

TOLERANCE = 3.0  # 1/255 units, premultiplied RGBA
W, H = 96, 64


def _opaque(h: int, w: int, seed: int) -> np.ndarray:
    out = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    out[..., 3] = 255
    return out


def _state(with_mask: bool) -> DocState:
    """Backdrop > "Outer" (isolated, multiply, 0.7) holding a layer and "Inner"
    (isolated) whose top layer clips it (dst-in, half alpha); a hidden group on top."""
    clip = np.zeros((30, 40, 4), np.uint8)
    clip[..., 3] = 128
    inner = Group(
        "Inner",
        (
            Layer.from_array("Paint", _opaque(36, 50, 2), x=30, y=10),
            Layer.from_array("Clip", clip, x=36, y=14, blend_mode="dst-in"),
        ),
    )
    mask = None
    if with_mask:
        ramp = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (50, 1))[..., None]
        mask = TiledImage.from_array(ramp)
    outer = Group(
        "Outer",
        (Layer.from_array("Tint", _opaque(40, 60, 3), x=4, y=6, opacity=0.8), inner),
        blend_mode="multiply",
        opacity=0.7,
        mask=mask,
        x=8,
        y=4,
    )
    hidden = Group("Hidden", (Layer.from_array("Cover", _opaque(H, W, 4)),), visible=False)
    return DocState(W, H, (Layer.from_array("Backdrop", _opaque(H, W, 1)), outer, hidden))


def _tree(nodes) -> list:
    return [
        (n.name, n.visible, _tree(n.children)) if isinstance(n, Group) else (n.name, n.visible)
        for n in nodes
    ]


@pytest.mark.parametrize("with_mask", [False, True], ids=["groups", "group mask"])
def test_krita_draws_warpaint_groups_as_warpaint(
    krita: Krita, tmp_path: Path, with_mask: bool
) -> None:
    state = _state(with_mask)
    write_ora(state, tmp_path / "groups.ora")
    call = krita.export(tmp_path / "groups.ora", tmp_path / "groups.png")
    gap = difference(read_png(call.target), composite(state).astype(np.float64))
    FIGURES.other[f"{'masked ' if with_mask else ''}groups, Krita vs Warpaint"] = str(gap)
    assert gap.max <= TOLERANCE, f"Krita draws the groups {gap} from Warpaint"


def test_krita_written_groups_open_with_their_tree(krita: Krita, tmp_path: Path) -> None:
    state = _state(with_mask=False)
    write_ora(state, tmp_path / "groups.ora")
    resaved = read_ora(krita.export(tmp_path / "groups.ora", tmp_path / "krita.ora").target)
    assert _tree(resaved.root) == _tree(state.root)
    outer = resaved.root[1]
    # Krita keeps opacity as 8 bits, rounded down (0.7 -> 178/255).
    assert outer.opacity == pytest.approx(0.7, abs=1 / 255)
    assert outer.isolated and outer.blend_mode == "multiply"
    assert resaved.layers[1].opacity == pytest.approx(0.8, abs=1 / 255)
    gap = difference(composite(resaved).astype(np.float64), composite(state).astype(np.float64))
    FIGURES.other["groups, Krita-saved vs Warpaint-saved"] = str(gap)
    assert gap.max <= TOLERANCE, f"the groups re-saved by Krita open {gap} off"
