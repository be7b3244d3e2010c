"""The `batch` benchmark's inputs: the splining recipe and its files, and the
photos `apply` is timed on."""

import json

import numpy as np
from PIL import Image

from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document
from warpaint.engine.runtime import bench_batch
from warpaint.engine.runtime.recipes import load_recipe, run_recipe


def test_the_splining_recipe_splines_each_photo_into_a_second_picture(tmp_path):
    side = 64
    (photo,) = bench_batch.photos(tmp_path, 1, side)
    bench_batch.splining_files(tmp_path, side)
    recipe = tmp_path / "splining.json"
    recipe.write_text(json.dumps(bench_batch.RECIPES["splining"]))

    doc = run_recipe(open_document(photo), load_recipe(recipe), device="cpu")
    result = flatten(doc.state, np.uint8)[..., :3].astype(int)
    source = np.asarray(Image.open(photo), np.int32)
    other = np.asarray(Image.open(tmp_path / bench_batch.OTHER_NAME), np.int32)
    assert np.abs(other - source).mean() > 20
    # The photo shows on the left (the mask's white half), the other picture on the right.
    left, right = slice(0, side // 4), slice(3 * side // 4, side)
    assert np.abs(result[:, left] - source[:, left]).mean() < 8
    assert np.abs(result[:, right] - other[:, right]).mean() < 8


def test_apply_is_timed_on_every_fifth_photo_of_a_full_run_and_all_of_a_quick_one(tmp_path):
    files = [tmp_path / f"photo{i:03d}.jpg" for i in range(200)]
    sample = bench_batch.apply_sample(files, quick=False)
    assert len(sample) == 40
    assert sample == [files[i] for i in range(0, 200, 5)]
    assert bench_batch.apply_sample(files[:20], quick=True) == files[:20]
