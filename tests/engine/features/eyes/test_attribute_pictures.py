"""The docs pictures of the attribute sliders are made by a module, from a model file."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

from warpaint.engine.features.eyes.attribute_pictures import ASTRONAUT_EYES, RENDERED_EDITS, main


def test_the_pictures_show_the_original_first_and_the_edits_change_the_eyes(tmp_path):
    assert main([str(tmp_path)]) == 0
    rendered = np.asarray(Image.open(tmp_path / "attributes-rendered.png"))
    # 3 identities x (edit row + truth row) of 48x64 crops, 2x, 4 px gaps between identities.
    assert rendered.shape == (2 * (6 * 48 + 2 * 4), 2 * 64 * len(RENDERED_EDITS), 3)
    # Column 0 is the unedited eye in both rows: edit row equals truth row there.
    assert np.array_equal(rendered[:96, :128], rendered[96:192, :128])
    both = np.asarray(Image.open(tmp_path / "attributes-astronaut.png")).astype(np.float32)
    rows, cols = ASTRONAUT_EYES
    h, w = 3 * (rows.stop - rows.start), 3 * (cols.stop - cols.start)
    original = np.asarray(
        Image.fromarray(data.astronaut()[rows, cols]).resize((w, h), Image.Resampling.LANCZOS)
    ).astype(np.float32)
    assert np.abs(both[:h, :w] - original).mean() < 2.0  # the first tile: no edit
    blue_iris = both[h:, 3 * w : 4 * w]
    assert np.abs(blue_iris - original).mean() > 1.0  # the last edit changed the eyes
    assert (tmp_path / "attributes-astronaut-closeup.png").is_file()
