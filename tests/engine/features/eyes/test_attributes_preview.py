"""Attribute-slider previews compute only the region (the `region` hook) and match Apply there."""

from __future__ import annotations

import numpy as np
import pytest
from job_helpers import run_job
from skimage import data

from warpaint.engine.core.document import Document
from warpaint.engine.features.eyes.effect_attributes import SPEC, region
from warpaint.engine.runtime.apply import effect_job

pytestmark = pytest.mark.skipif(
    SPEC.unavailable_reason() is not None, reason="the eye model is not installed"
)


def test_a_preview_computes_only_the_region_and_matches_the_full_result():
    rgba = np.concatenate([data.astronaut(), np.full((512, 512, 1), 255, np.uint8)], axis=2)
    doc = Document.from_array(rgba)
    layer = doc.layers[0]
    params = {"region": (231.4, 86.7, 33.0, 24.75), "iris_colour": 1.0, "pupil": 0.5}
    box = region(params, 512, 512)
    assert box == (231, 86, 34, 26), "the region's pixel box, rounded outward"
    x, y, w, h = box

    preview = run_job(effect_job(doc.state, layer.id, "attributes", params, max_side=256))
    full = run_job(effect_job(doc.state, layer.id, "attributes", params))
    assert preview.origin == (x, y) and preview.scale == 1.0, "full size, though max_side < 512"
    assert preview.pixels.shape == (h, w, 4)
    assert np.abs(preview.pixels - full.pixels[y : y + h, x : x + w]).max() < 1e-5
    assert np.abs(preview.pixels - layer.pixels.read_float()[y : y + h, x : x + w]).max() > 0.02
    outside = np.ones((512, 512), bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(full.pixels[outside], layer.pixels.read_float()[outside])


def test_without_a_usable_region_the_preview_is_the_whole_layer():
    assert region({"region": None, "pupil": 1.0}, 100, 100) is None
    assert region({"region": (98.0, 98.0, 10.0, 10.0), "pupil": 1.0}, 100, 100) is None
    assert region({"region": (10.0, 10.0, 20.0, 20.0), "pupil": 1.0}, 100, 100) == (10, 10, 20, 20)
