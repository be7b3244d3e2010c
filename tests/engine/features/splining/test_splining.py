"""The splining effect, its CLI form, the multiresolution blend mode and its .ora round trip."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.core import pyramid as P
from warpaint.engine.core.compositing import blend_mode_names, composite, flatten
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.tiles import Rect, TiledImage
from warpaint.engine.runtime.registry import get_effect


def test_levels_accepts_auto_on_the_command_line():
    levels = get_effect("splining").param("levels")
    assert levels.parse("auto") == 0
    assert levels.parse("5") == 5
    assert levels.to_json()["auto"] is True


def test_cli_splines_generated_images(tmp_path):
    h, w = 48, 64
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 220  # red where the mask is white
    b = np.zeros((h, w, 3), np.uint8)
    b[..., 2] = 200  # blue where it is black
    m = np.zeros((h, w), np.uint8)
    m[:, : w // 2] = 255
    for name, arr in (("a.png", a), ("b.png", b), ("m.png", m)):
        Image.fromarray(arr).save(tmp_path / name)
    out = tmp_path / "out.png"
    code = main(
        [
            "apply", "splining", str(tmp_path / "a.png"), "--set", f"other={tmp_path / 'b.png'}",
            "--set", f"mask={tmp_path / 'm.png'}", "--set", "levels=auto", "-o", str(out),
        ]
    )  # fmt: skip  # argv: flags beside their values
    assert code == 0
    result = np.asarray(Image.open(out).convert("RGB")).astype(int)
    # Far from the seam each side keeps its own colour (full-depth pyramids
    # let a trace of the coarsest band cross over).
    assert abs(result[h // 2, 0, 0] - 220) <= 8 and result[h // 2, 0, 2] <= 8
    assert abs(result[h // 2, -1, 2] - 200) <= 8 and result[h // 2, -1, 0] <= 8
    # Across the seam the colours change gradually, not in one step.
    row = result[h // 2, :, 0]
    assert np.abs(np.diff(row)).max() < 60
    assert 40 < row[w // 2] < 180


def test_effect_refuses_a_missing_mask(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    code = main(
        ["apply", "splining", str(tmp_path / "a.png"), "--set", f"other={tmp_path / 'a.png'}",
         "-o", str(tmp_path / "o.png")]
    )  # fmt: skip  # argv: flags beside their values
    assert code == 2


# -- multiresolution blend mode ------------------------------------------------


def _multires_state(offset=(0, 0)):
    rng = np.random.default_rng(3)
    h, w = 70, 90
    bottom = rng.random((h, w, 4), dtype=np.float32)
    bottom[..., 3] = 1.0
    bottom[..., :3] = 0.25 + 0.2 * bottom[..., :3]
    top = rng.random((50, 60, 4), dtype=np.float32)
    top[..., 3] = 1.0
    top[..., :3] = 0.55 + 0.2 * top[..., :3]
    mask = np.zeros((50, 60, 1), np.float32)
    mask[10:40, 12:48] = 1.0
    wash = np.full((h, w, 4), 0.3, np.float32)
    layers = (
        Layer.from_array("bottom", bottom),
        Layer(
            "spliced",
            TiledImage.from_array(top),
            blend_mode="multiresolution",
            mask=TiledImage.from_array(mask),
            x=offset[0],
            y=offset[1],
        ),
        Layer.from_array("wash", wash, blend_mode="screen", opacity=0.5),
    )
    return DocState(w, h, layers)


def test_multiresolution_is_a_blend_mode_layers_accept():
    assert "multiresolution" in blend_mode_names()
    with pytest.raises(ValueError):
        Layer.from_array("x", np.zeros((2, 2, 4), np.float32), blend_mode="no-such-mode")


def test_multiresolution_rect_equals_the_crop_of_the_full_canvas():
    state = _multires_state(offset=(17, 9))
    full = composite(state)
    for rect in (Rect(0, 0, 32, 32), Rect(30, 20, 41, 33), Rect(64, 48, 26, 22)):
        part = composite(state, rect)
        np.testing.assert_array_equal(
            part, full[rect.y : rect.bottom, rect.x : rect.right], err_msg=str(rect)
        )


def test_multiresolution_layer_is_the_spline_of_itself_into_the_backdrop():
    state = _multires_state()
    bottom, top = state.layers[0], state.layers[1]
    b = torch.from_numpy(bottom.pixels.read_float()).permute(2, 0, 1)[None]
    over = b.clone()
    over[:, :, :50, :60] = torch.from_numpy(top.pixels.read_float()).permute(2, 0, 1)
    weight = torch.zeros(1, 1, 70, 90)
    weight[0, 0, :50, :60] = torch.from_numpy(top.mask.read_float()[..., 0])
    expected = P.spline(over, b, weight)[0].permute(1, 2, 0).numpy()
    got = composite(DocState(90, 70, state.layers[:2]))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mask_edit_changes_the_multiresolution_result():
    state = _multires_state()
    before = composite(state)
    layer = state.layers[1]
    mask = np.zeros((50, 60, 1), np.float32)
    edited = state.replace_layer(layer.with_(mask=TiledImage.from_array(mask)))
    after = composite(edited)
    np.testing.assert_allclose(
        after, composite(DocState(90, 70, (state.layers[0], state.layers[2]))), atol=1e-5
    )
    assert np.abs(before - after).max() > 0.1


def test_merge_down_of_a_multiresolution_layer_bakes_the_spline():
    from warpaint.engine.core.document import merge_layers

    state = _multires_state()
    merged = merge_layers(state.layers[0], state.layers[1])
    expected = composite(DocState(90, 70, state.layers[:2]))
    np.testing.assert_allclose(merged.pixels.read_float(), expected, atol=1e-5)


def test_ora_keeps_a_multiresolution_layer_and_its_mask(tmp_path):
    from warpaint.engine.io.ora import read_ora, write_ora

    state = _multires_state(offset=(5, 4))
    path = tmp_path / "m.ora"
    write_ora(state, path)
    again = read_ora(path)
    layer = again.layers[1]
    assert layer.blend_mode == "multiresolution"
    assert (layer.x, layer.y) == (5, 4)
    np.testing.assert_allclose(
        layer.mask.read_float(), state.layers[1].mask.read_float(), atol=1 / 255
    )
    assert np.abs(flatten(again).astype(int) - flatten(state).astype(int)).max() <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_spline_matches_the_cpu():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 4, 301, 257, generator=g), torch.rand(1, 4, 301, 257, generator=g)
    m = torch.rand(1, 1, 301, 257, generator=g)
    cpu = P.spline(a, b, m)
    gpu = P.spline(a.cuda(), b.cuda(), m.cuda()).cpu()
    assert (cpu - gpu).abs().max() < 1e-4
    # The auto backend is the fused Triton path when the GPU runs it.
    if P.triton_ready(torch.device("cuda"), 4):
        convs = P.spline(a.cuda(), b.cuda(), m.cuda(), backend="torch").cpu()
        assert (convs - gpu).abs().max() < 1e-5
        assert not torch.equal(convs, gpu)  # really two paths (rounding differs)
    lap = P.laplacian_pyramid(a.cuda(), 5)
    assert (P.collapse(lap).cpu() - a).abs().max() < 1e-5
    # Host-memory pyramids with the bands on the GPU (short GPU memory).
    streamed = P.spline(a, b, m, compute="cuda")
    assert streamed.device.type == "cpu"
    assert (cpu - streamed).abs().max() < 1e-4


def test_splining_does_not_import_torch_to_list_effects():
    import subprocess

    code = (
        "import sys; from warpaint.engine.runtime.registry import effects; "
        "effects()['splining']; sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
