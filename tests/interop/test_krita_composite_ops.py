"""Krita draws every OpenRaster composite-op as Warpaint does (within 3/255).

One hand-written .ora per op: a varied backdrop and one canvas-sized layer in
that op; the operators that change the backdrop outside the layer (and plus)
once more with a smaller layer inset in the canvas ("inset" cases).
Warpaint follows W3C Compositing and Blending Level 1; where Krita departs
from W3C the Krita comparison is an expected failure carrying the measured
figure, and a separate test pins down what Krita does instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from krita_harness import (
    FIGURES,
    OPENRASTER_OPS,
    Krita,
    OraLayer,
    difference,
    read_png,
    to_unit,
    varied_pair,
    w3c_composite,
    write_plain_ora,
)

from warpaint.engine.core.compositing import composite
from warpaint.engine.io.ora import MODES_BY_OP, read_ora

SIZE = 64
KRITA_TOLERANCE = 3.0  # 1/255 units, premultiplied RGBA
W3C_TOLERANCE = 0.5  # Warpaint computes in float32 from the same 8-bit inputs

# Measured with Krita 5.1.5 (Debian bookworm) on `varied_pair()`; max and mean
# difference to W3C on premultiplied RGBA in 1/255.
_HSY = (
    "Krita's HSY modes weigh luma 0.299/0.587/0.114 (Rec. 601) where W3C's Lum uses 0.3/0.59/0.11"
)
# Outside a layer its source is transparent: these change the backdrop there.
INSET_OPS = ("svg:plus", "svg:dst-in", "svg:dst-out", "svg:src-atop", "svg:dst-atop")
CASES = OPENRASTER_OPS + tuple(f"{op} inset" for op in INSET_OPS)
INSET = (12, 20, 40, 40)  # x, y, w, h of the inset layer

KRITA_DEPARTS = {
    "svg:color": f"{_HSY}: max 3.4, mean 0.20 from W3C",
    "svg:luminosity": f"{_HSY}: max 3.8, mean 0.20 from W3C",
    "svg:hue": f"{_HSY}: max 3.3, mean 0.19 from W3C",
    "svg:plus": (
        "Krita draws svg:plus as its Addition blend (min(1, Cb + Cs) under "
        "source-over), not W3C's plus-lighter operator: max 61.0, mean 4.22 from W3C"
    ),
    "svg:plus inset": (
        "Krita draws svg:plus as its Addition blend (min(1, Cb + Cs) under "
        "source-over), not W3C's plus-lighter operator: max 61.9, mean 2.75 from W3C"
    ),
}


def _op(case: str) -> str:
    return case.removesuffix(" inset")


def _layers(case: str) -> tuple[np.ndarray, OraLayer]:
    """The backdrop (SIZE, SIZE, 4) uint8 and the layer in the case's op."""
    backdrop, source = varied_pair(SIZE)
    if not case.endswith(" inset"):
        return backdrop, OraLayer(case, source, op=case)
    x, y, w, h = INSET
    return backdrop, OraLayer(case, source[:h, :w], op=_op(case), x=x, y=y)


def _on_canvas(case: str) -> tuple[np.ndarray, np.ndarray]:
    """Backdrop and source as (SIZE, SIZE, 4) float64; the source is
    transparent outside the layer."""
    backdrop, layer = _layers(case)
    source = np.zeros_like(backdrop)
    h, w = layer.pixels.shape[:2]
    source[layer.y : layer.y + h, layer.x : layer.x + w] = layer.pixels
    return to_unit(backdrop), to_unit(source)


def _reference(case: str) -> np.ndarray:
    return w3c_composite(*_on_canvas(case), _op(case))


@pytest.fixture(scope="module")
def op_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ops")
    files = {}
    for case in CASES:
        backdrop, layer = _layers(case)
        files[case] = folder / f"{case.removeprefix('svg:').replace(' ', '-')}.ora"
        write_plain_ora(files[case], SIZE, SIZE, [OraLayer("Backdrop", backdrop), layer])
    return files


@pytest.fixture(scope="module")
def krita_render(krita: Krita, op_files: dict[str, Path]) -> Callable[[str], np.ndarray]:
    """Krita's flattened rendering of a case's file, (h, w, 4) float64 straight
    RGBA, made once per case when a test first asks for it."""
    renders: dict[str, np.ndarray] = {}

    def render(case: str) -> np.ndarray:
        if case not in renders:
            path = op_files[case]
            renders[case] = read_png(krita.export(path, path.with_suffix(".png")).target)
        return renders[case]

    return render


def _warpaint(path: Path, op: str) -> np.ndarray:
    state = read_ora(path)
    mode = MODES_BY_OP.get(op)
    assert mode is not None, f"Warpaint does not read composite-op {op}"
    assert [layer.blend_mode for layer in state.layers] == ["normal", mode]
    return composite(state).astype(np.float64)


def test_reference_matches_hand_computed_pixels() -> None:
    # One pixel per formula branch, computed by hand from the W3C text.
    def blend(op: str, cb: tuple[float, ...], cs: tuple[float, ...]) -> np.ndarray:
        backdrop = np.array([[[*cb, 1.0]]])
        source = np.array([[[*cs, 1.0]]])
        return w3c_composite(backdrop, source, op)[0, 0, :3]

    # soft-light, Cs > 0.5, Cb <= 0.25: D = ((16*.25 - 12)*.25 + 4)*.25 = 0.5
    assert blend("svg:soft-light", (0.25,) * 3, (0.75,) * 3) == pytest.approx([0.375] * 3)
    # color-dodge: Cb = 0 stays 0 even at Cs = 1; 0.5 / (1 - 0.75) caps at 1
    assert blend("svg:color-dodge", (0.0, 0.5, 0.2), (1.0, 0.75, 0.5)) == pytest.approx(
        [0.0, 1.0, 0.4]
    )
    # color-burn: Cb = 1 stays 1 even at Cs = 0; 1 - (1 - 0.6) / 0.8 = 0.5
    assert blend("svg:color-burn", (1.0, 0.6, 0.2), (0.0, 0.8, 0.5)) == pytest.approx(
        [1.0, 0.5, 0.0]
    )
    # luminosity: grey backdrop 0.5 takes Lum(pure red) = 0.3 -> grey 0.3
    assert blend("svg:luminosity", (0.5,) * 3, (1.0, 0.0, 0.0)) == pytest.approx([0.3] * 3)
    # color: pure red set to Lum 0.5 -> (0.5 + 0.7, 0.2, 0.2), clipped towards
    # Lum: 0.5 + 0.7 * 0.5 / 0.7 = 1.0, 0.5 - 0.3 * 0.5 / 0.7
    expected_gb = 0.5 - 0.3 * 0.5 / 0.7
    assert blend("svg:color", (0.5,) * 3, (1.0, 0.0, 0.0)) == pytest.approx(
        [1.0, expected_gb, expected_gb]
    )
    # dst-in keeps the backdrop where the source is, with the source's alpha
    half = w3c_composite(
        np.array([[[0.2, 0.4, 0.6, 1.0]]]), np.array([[[1, 1, 1, 0.5]]]), "svg:dst-in"
    )
    assert half[0, 0] == pytest.approx([0.2, 0.4, 0.6, 0.5])
    # plus adds premultiplied colours and caps at 1
    plus = w3c_composite(
        np.array([[[0.8, 0.2, 0, 1.0]]]), np.array([[[0.4, 0.2, 0, 1.0]]]), "svg:plus"
    )
    assert plus[0, 0] == pytest.approx([1.0, 0.4, 0.0, 1.0])


@pytest.mark.parametrize("case", CASES)
def test_warpaint_follows_w3c(op_files: dict[str, Path], case: str) -> None:
    gap = difference(_warpaint(op_files[case], _op(case)), _reference(case))
    assert gap.max <= W3C_TOLERANCE, f"Warpaint's {case} is {gap} from W3C"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KRITA_DEPARTS[case]))
        if case in KRITA_DEPARTS
        else case
        for case in CASES
    ],
)
def test_krita_draws_op_as_warpaint(
    op_files: dict[str, Path], krita_render: Callable[[str], np.ndarray], case: str
) -> None:
    warpaint = _warpaint(op_files[case], _op(case))
    gap = difference(krita_render(case), warpaint)
    FIGURES.ops[case] = (gap, difference(warpaint, _reference(case)))
    assert gap.max <= KRITA_TOLERANCE, f"Krita's {case} is {gap} from Warpaint's"


REC601_LUMA = (0.299, 0.587, 0.114)


@pytest.mark.parametrize("case", sorted(KRITA_DEPARTS))
def test_krita_departure_is_the_named_one(
    krita_render: Callable[[str], np.ndarray], case: str
) -> None:
    """What Krita does instead of W3C, modelled: within 3/255 of its rendering."""
    backdrop, source = _on_canvas(case)
    if _op(case) == "svg:plus":
        model = w3c_composite(
            backdrop, source, "svg:plus", blend=lambda cb, cs: np.minimum(1.0, cb + cs)
        )
    else:
        model = w3c_composite(backdrop, source, case, luma=REC601_LUMA)
    gap = difference(krita_render(case), model)
    FIGURES.other[f"Krita's {case} vs the model of its departure"] = str(gap)
    assert gap.max <= KRITA_TOLERANCE, f"Krita's {case} is {gap} from the model of its departure"
