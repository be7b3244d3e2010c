"""Seamless mosaic (N-way multiresolution blend) and the hole filling it needs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.pyramid import fill_transparent
from warpaint.engine.core.tiles import TiledImage, from_float
from warpaint.engine.runtime.apply import effect_job
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import JobRunner, JobState


def _run(state: DocState, layer_id: int, params: dict) -> np.ndarray:
    runner = JobRunner("cpu")
    job = runner.submit(effect_job(state, layer_id, "mosaic", params), "mosaic")
    deadline = time.monotonic() + 60
    while job.state not in (JobState.DONE, JobState.FAILED) and time.monotonic() < deadline:
        time.sleep(0.01)
    if job.state is JobState.FAILED:
        raise job.error  # type: ignore[misc]
    return job.result.pixels


def _layer(name: str, rgba: np.ndarray, **kw) -> Layer:
    return Layer(name, TiledImage.from_array(from_float(rgba, np.uint8)), **kw)


def test_fill_transparent_keeps_opaque_pixels_and_fills_holes_from_around():
    rgb = torch.full((1, 3, 64, 64), 0.3)
    rgb[:, :, 20:40, 20:40] = 1.0  # garbage colour under the hole
    alpha = torch.ones(1, 1, 64, 64)
    alpha[:, :, 20:40, 20:40] = 0.0
    filled = fill_transparent(rgb, alpha)
    opaque = alpha.expand_as(rgb) == 1
    assert torch.equal(filled[opaque], rgb[opaque])
    assert torch.allclose(filled[:, :, 20:40, 20:40], torch.tensor(0.3), atol=1e-4)


def _two_layer_state(offset: int = 0) -> tuple[DocState, Layer, Layer]:
    side = 64
    red = np.zeros((side, side, 4), np.float32)
    red[..., 0], red[..., 3] = 0.9, 1.0
    red[:, side // 2 :, 3] = 0.0  # visible on the left half only
    blue = np.zeros((side, side, 4), np.float32)
    blue[..., 2], blue[..., 3] = 0.8, 1.0
    bottom = _layer("blue", blue)
    top = _layer("red", red, x=offset)
    return DocState(side + offset, side, (bottom, top)), bottom, top


def test_stack_overlap_shows_the_first_layer_where_visible_and_blends_the_seam():
    state, bottom, top = _two_layer_state()
    # Three levels: the join spans about 2^3 px each side, so far from it each
    # layer shows pure (a full-depth pyramid would also even out the means).
    out = _run(state, bottom.id, {"layers": ((top.id, 1.0), (bottom.id, 1.0)), "levels": 3})
    assert np.allclose(out[:, :8, :3], (0.9, 0.0, 0.0), atol=0.03)
    assert np.allclose(out[:, -8:, :3], (0.0, 0.0, 0.8), atol=0.03)
    assert np.allclose(out[..., 3], 1.0)
    seam = out[32, 28:36, 0]
    assert np.all(np.diff(seam) <= 1e-6) and 0.05 < seam.mean() < 0.85, "a gradual join"


def test_average_overlap_shares_by_weight():
    state, bottom, top = _two_layer_state()
    out = _run(
        state, bottom.id, {"layers": ((top.id, 1.0), (bottom.id, 1.0)), "overlap": "average"}
    )
    assert np.allclose(out[:, :4, :3], (0.45, 0.0, 0.4), atol=0.03)


def test_layers_are_read_where_they_lie_on_the_canvas():
    state, bottom, top = _two_layer_state(offset=16)
    out = _run(state, bottom.id, {"layers": ((top.id, 1.0), (bottom.id, 1.0)), "levels": 2})
    # The red layer starts 16 px right of the blue one: its visible half covers
    # blue columns 16..48, so blue shows at the far left and right.
    assert np.allclose(out[:, :4, :3], (0.0, 0.0, 0.8), atol=0.05)
    assert np.allclose(out[:, 26:38, :3], (0.9, 0.0, 0.0), atol=0.05)
    assert np.allclose(out[:, -4:, :3], (0.0, 0.0, 0.8), atol=0.05)


def test_a_layer_mask_hides_what_the_mosaic_uses_of_that_layer():
    state, bottom, top = _two_layer_state()
    hide_all = TiledImage.from_array(np.zeros((64, 64, 1), np.uint8))
    masked = top.with_(mask=hide_all)
    state = state.replace_layer(masked)
    out = _run(state, bottom.id, {"layers": ((masked.id, 1.0), (bottom.id, 1.0))})
    assert np.allclose(out[..., :3], (0.0, 0.0, 0.8), atol=0.01)


def test_one_layer_is_not_a_mosaic():
    state, bottom, _ = _two_layer_state()
    with pytest.raises(BadInputError, match="at least two layers"):
        _run(state, bottom.id, {"layers": ((bottom.id, 1.0),)})
