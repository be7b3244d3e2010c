"""The headless main job in quick mode: every effect applied, exported, layered file saved."""

import numpy as np
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.io import open_document
from warpaint.engine.runtime.registry import effects


def test_quick_demo_exports_every_effect_and_a_layered_document(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--quick", "--no-screenshot", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    for effect_id in effects():
        image = Image.open(out / f"{effect_id}.png")
        assert image.size == (192, 192)
        assert np.asarray(image.convert("RGBA"))[..., 3].max() == 255, "the result is visible"
    # Every fast-style preset, side by side with the original, each captioned.
    from warpaint.engine.features.fast_style.effect import PRESETS

    sheet = np.asarray(Image.open(out / "fast-style-presets.png").convert("RGB"), np.float32)
    cells = len(PRESETS) + 1
    cols = int(np.ceil(np.sqrt(cells)))
    assert sheet.shape[1] == cols * 96 and sheet.shape[0] == int(np.ceil(cells / cols)) * 112
    pictures = [
        sheet[16 + r * 112 : (r + 1) * 112, c * 96 : (c + 1) * 96]
        for r in range(sheet.shape[0] // 112)
        for c in range(cols)
    ][:cells]
    assert all(np.abs(p - pictures[0]).mean() > 3 for p in pictures[1:]), "each preset styles"
    doc = open_document(str(out / "demo.ora"))
    names = [layer.name for layer in doc.layers]
    assert len(names) == 3 + len(effects()), "the sample's three layers plus one per effect"
    assert any("Gaussian blur" in n for n in names)


def test_demo_into_an_unwritable_place_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["demo", "--quick", "--no-screenshot", "-o", str(blocker / "sub")])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
