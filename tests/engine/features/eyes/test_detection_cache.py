"""One eye detection per layer content, shared by the attributes and gaze effects."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from warpaint.engine.features.eyes import detect
from warpaint.engine.features.eyes import effect_attributes as attributes
from warpaint.engine.features.eyes import effect_gaze as gaze


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> detect.DetectionCache:
    """A fresh shared cache in front of the real detector."""
    cache = detect.DetectionCache(capacity=2)
    monkeypatch.setattr(detect, "_CACHE", cache)
    return cache


def astronaut() -> np.ndarray:
    rgb = data.astronaut().astype(np.float32) / 255.0
    return np.concatenate([rgb, np.ones((*rgb.shape[:2], 1), np.float32)], axis=2)


def test_the_attributes_and_gaze_panels_share_one_detection(counted):
    image = astronaut()
    region = attributes.prefill(image)["region"]
    points = gaze.prefill(image.copy())["eyes"]  # equal pixels, another array
    assert counted.detections == 1
    # Both answers come from the same eye: the attributes region frames the
    # image-right eye, whose corners are gaze's last two points.
    x, y, w, h = region
    for px, py in points[2:]:
        assert x < px < x + w and y < py < y + h
    assert gaze.detected_points(image) == points
    assert counted.detections == 1


def test_any_edit_of_the_layer_detects_again_and_old_entries_leave(counted):
    image = astronaut()
    first = attributes.prefill(image)
    edited = image.copy()
    edited[300, 400, 0] = 1.0 - edited[300, 400, 0]  # one pixel, far from the eyes
    assert attributes.prefill(edited) == first
    assert counted.detections == 2
    blank = np.zeros_like(image)
    assert attributes.prefill(blank) == {}
    assert counted.detections == 3
    attributes.prefill(image)  # pushed out by the two newer images (capacity 2)
    assert counted.detections == 4


def test_cached_answers_cannot_be_changed_by_a_caller(counted):
    image = astronaut()
    faces = detect.detect_faces_cached(image)
    faces.clear()
    assert len(detect.detect_faces_cached(image)) >= 1 and counted.detections == 1
