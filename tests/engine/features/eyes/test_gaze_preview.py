"""Gaze previews compute only the eye patches (the `region` hook) and match Apply there."""

from __future__ import annotations

import numpy as np
from job_helpers import run_job
from skimage import data

from warpaint.engine.core.document import Document
from warpaint.engine.features.eyes.effect_gaze import detected_points, region
from warpaint.engine.runtime.apply import effect_job


def test_a_preview_computes_only_the_eye_patch_and_matches_the_full_result():
    rgba = np.concatenate([data.astronaut(), np.full((512, 512, 1), 255, np.uint8)], axis=2)
    doc = Document.from_array(rgba)
    layer = doc.layers[0]
    points = detected_points(rgba[..., :3].astype(np.float32) / 255.0)
    params = {"horizontal": 10.0, "vertical": -5.0, "eyes": points}
    box = region(params, 512, 512)
    assert box is not None
    x, y, w, h = box
    assert w * h < 0.1 * 512 * 512, "the eyes, not the frame"

    preview = run_job(effect_job(doc.state, layer.id, "gaze", params, max_side=1024))
    full = run_job(effect_job(doc.state, layer.id, "gaze", params))
    assert preview.origin == (x, y)
    assert preview.pixels.shape == (h, w, 4)
    assert np.abs(preview.pixels - full.pixels[y : y + h, x : x + w]).max() < 1e-5
    outside = np.ones((512, 512), bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(full.pixels[outside], layer.pixels.read_float()[outside])


def test_without_points_or_at_angle_zero_the_preview_is_the_whole_layer():
    assert region({"horizontal": 5.0, "vertical": 0.0, "eyes": None}, 100, 100) is None
    points = ((10.0, 10.0), (20.0, 10.0), (40.0, 10.0), (50.0, 10.0))
    assert region({"horizontal": 0.0, "vertical": 0.0, "eyes": points}, 100, 100) is None
    assert region({"horizontal": 5.0, "vertical": 0.0, "eyes": points}, 100, 100) is not None
