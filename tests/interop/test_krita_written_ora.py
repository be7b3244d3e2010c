"""A Krita-written .ora opens in Warpaint with its layers' names, modes,
visibility, opacity, offsets and pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from krita_harness import OPENRASTER_OPS, Krita, OraLayer, png_bytes, write_plain_ora

from warpaint.engine.core.document import Layer
from warpaint.engine.io.ora import MODES_BY_OP, read_ora

W, H = 120, 80


def _layers() -> list[OraLayer]:
    """One opaque layer per composite-op, each at its own offset (bottom first).

    Opaque pixels: Krita crops a layer to its non-transparent pixels when it
    writes, so only opaque layers keep their offset and size exactly.
    """
    rng = np.random.default_rng(4)
    layers = []
    for i, op in enumerate(OPENRASTER_OPS):
        pixels = rng.integers(0, 256, (10 + i, 14 + 2 * i, 4), dtype=np.uint8)
        pixels[..., 3] = 255
        layers.append(
            OraLayer(
                name=f"{i:02d} {op.removeprefix('svg:')} «ü & <x>»",
                pixels=pixels,
                op=op,
                x=(7 * i) % 60,
                y=(5 * i) % 40,
                opacity=(0.2, 0.6, 1.0)[i % 3],
                visible=i % 4 != 1,
            )
        )
    return layers


def _on_canvas(pixels: np.ndarray, x: int, y: int) -> np.ndarray:
    """(h, w, 4) layer pixels placed on an empty (H, W, 4) canvas."""
    canvas = np.zeros((H, W, 4), pixels.dtype)
    canvas[y : y + pixels.shape[0], x : x + pixels.shape[1]] = pixels
    return canvas


def _placed(layer: Layer) -> np.ndarray:
    return _on_canvas(layer.pixels.to_array(), layer.x, layer.y)


@pytest.fixture(scope="module")
def krita_written(krita: Krita, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("krita-written")
    source = folder / "source.ora"
    write_plain_ora(source, W, H, _layers())
    return krita.export(source, folder / "krita.ora").target


def test_krita_ora_keeps_names_modes_visibility_opacity(krita_written: Path) -> None:
    state = read_ora(krita_written)
    expected = _layers()
    assert (state.width, state.height) == (W, H)
    assert [layer.name for layer in state.layers] == [layer.name for layer in expected]
    assert [layer.blend_mode for layer in state.layers] == [
        MODES_BY_OP.get(layer.op, f"(unknown {layer.op})") for layer in expected
    ]
    assert [layer.visible for layer in state.layers] == [layer.visible for layer in expected]
    # Krita keeps opacity as 8-bit.
    assert [layer.opacity for layer in state.layers] == pytest.approx(
        [layer.opacity for layer in expected], abs=0.5 / 255
    )


def test_krita_ora_keeps_offsets_and_pixels(krita_written: Path) -> None:
    state = read_ora(krita_written)
    expected = _layers()
    for got, want in zip(state.layers, expected, strict=True):
        assert np.array_equal(_placed(got), _on_canvas(want.pixels, want.x, want.y)), got.name
    # Ops that change the backdrop outside the layer are written canvas-sized
    # by Krita; every other layer keeps its own offset and size.
    for got, want in zip(state.layers, expected, strict=True):
        if want.op not in ("svg:dst-in", "svg:dst-atop"):
            assert (got.x, got.y, got.pixels.width, got.pixels.height) == (
                want.x,
                want.y,
                want.pixels.shape[1],
                want.pixels.shape[0],
            ), got.name


def test_krita_ora_from_png_opens_with_the_png_pixels(krita: Krita, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (30, 50, 4), dtype=np.uint8)
    pixels[:10, :, 3] = 0
    pixels[10:, :, 3] = 255
    source = tmp_path / "picture.png"
    source.write_bytes(png_bytes(pixels))
    state = read_ora(krita.export(source, tmp_path / "picture.ora").target)
    assert len(state.layers) == 1
    visible = pixels[..., 3] > 0
    assert np.array_equal(_placed(state.layers[0])[:30, :50][visible], pixels[visible])
