"""The effect session without a window: placing previews, and the life of its jobs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from gui_helpers import small_document

from warpaint.engine.core.lod import shared_lod
from warpaint.engine.core.tiles import Rect
from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.jobs import JobRunner, JobState
from warpaint.engine.runtime.registry import get_effect
from warpaint.gui.bridge import JobBridge
from warpaint.gui.effect_session import EffectSession, place_preview, preview_level


def test_preview_level_is_the_finest_power_of_two_that_fits() -> None:
    assert preview_level(1000, 800, 1024) == 0
    assert preview_level(4000, 3000, 1024) == 2  # 1000 px
    assert preview_level(4097, 100, 1024) == 3  # 1025 > 1024 at level 2


def test_a_patch_is_written_into_the_layer_apply_would_add_sharing_every_other_tile() -> None:
    doc = small_document(600, 300)
    source = doc.layers[0]
    patch = np.zeros((10, 20, 4), np.float32)
    patch[..., 3] = 1.0
    result = EffectResult("gaussian-blur", source.id, {}, patch, origin=(300, 100))
    shown = place_preview(doc.state, result, "new_layer", None, preview_layer_id=7)
    added = shown.state.layers[1]
    assert added.id == 7 and shown.reduced is None
    assert np.all(added.pixels.read(Rect(300, 100, 20, 10))[..., :3] == 0)
    shared = [
        k for k in source.pixels.tile_keys() if source.pixels.tile(*k) is added.pixels.tile(*k)
    ]
    assert len(shared) == len(list(source.pixels.tile_keys())) - 1, "one tile rewritten"
    replaced = place_preview(doc.state, result, "replace", None, preview_layer_id=7).state
    assert [lay.id for lay in replaced.layers] == [lay.id for lay in doc.layers]


def test_a_reduced_preview_keeps_the_layer_outside_the_selection() -> None:
    doc = small_document(64, 48)
    source = doc.layers[0]
    small = np.zeros((12, 16, 4), np.float32)  # the layer at level 2, all black
    small[..., 3] = 1.0
    result = EffectResult("gaussian-blur", source.id, {}, small, scale=0.25)
    mask = np.zeros((48, 64), np.float32)
    mask[:, :32] = 1.0  # the left half is selected
    shown = place_preview(doc.state, result, "replace", mask, 7, level=2)
    assert shown.state is doc.state and shown.reduced is not None
    pixels = shown.reduced.pixels.read()
    original = shared_lod().image_at(source.pixels, 2).read()
    assert np.all(pixels[:, :8, :3] == 0) and np.array_equal(pixels[:, 8:], original[:, 8:])


class _Controls:
    """An effect panel's part the session talks to, without widgets."""

    def __init__(self, effect_id: str, values: dict[str, Any]) -> None:
        self.spec = get_effect(effect_id)
        self._values = values
        self.target, self.restrict_to_selection, self.live_preview = "replace", False, True
        self.resets = 0

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def prefill(self, values: dict[str, Any]) -> list[str]:
        return []

    def take_values(self, values: dict[str, Any]) -> None:
        self._values.update(values)

    def reset_image_bound(self) -> None:
        self.resets += 1

    def set_busy(self, busy: bool) -> None: ...

    def show_progress_data(self, data: Any) -> None: ...

    def clear_progress_data(self) -> None: ...

    def remember_images(self) -> None: ...


@pytest.fixture
def session(qtbot: Any) -> Any:
    bridge = JobBridge(JobRunner("cpu"))
    yield EffectSession(bridge, 1024, lambda: None)
    bridge.shutdown()


def test_the_session_previews_a_quick_effect_and_lets_go_of_it_for_another_layer(
    qtbot: Any, session: Any
) -> None:
    doc = small_document()
    blur = _Controls("gaussian-blur", {"sigma": 2.0})
    session.panels = [blur]
    session.set_document(doc)
    session.set_layer(doc.layers[0].id)
    session.set_effect(blur)  # a blur previews from the start
    qtbot.waitUntil(lambda: session.shown is not None, timeout=10_000)
    assert session.shown_state().layer(doc.layers[0].id).pixels is not doc.layers[0].pixels
    session.set_layer(doc.layers[1].id)
    assert blur.resets == 2, "image-bound values reset for another document and another layer"
    qtbot.waitUntil(lambda: session.shown is not None and not session.pending, timeout=10_000)
    assert session.shown_state().layer(doc.layers[0].id).pixels is doc.layers[0].pixels


def test_a_slow_preview_on_the_long_lane_is_cancelled_when_the_effect_changes(
    qtbot: Any, session: Any
) -> None:
    doc = small_document()
    slow = _Controls("stylize", {"style": ((doc.layers[1].id, 1.0),), "size": 32})
    session.set_document(doc)
    session.set_layer(doc.layers[0].id)
    session.set_effect(slow)
    assert not session.pending, "a slow effect does not preview on its own"
    job = session.preview(explicit=True)
    assert job is not None and job.lane == "long"
    session.set_effect(_Controls("gaussian-blur", {}))
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.state is JobState.CANCELLED


def test_apply_cancels_a_slow_preview_that_would_hold_the_long_lane_before_it(
    qtbot: Any, session: Any, monkeypatch: Any
) -> None:
    from warpaint.gui import effect_session

    def endless(state: Any, layer_id: int, effect_id: str, params: Any, *args: Any) -> Any:
        def fn(ctx: Any) -> Any:
            while True:
                ctx.check()
                time.sleep(0.01)

        return fn

    monkeypatch.setattr(effect_session, "effect_job", endless)
    doc = small_document()
    slow = _Controls("stylize", {})
    session.set_document(doc)
    session.set_layer(doc.layers[0].id)
    session.set_effect(slow)
    preview = session.preview(explicit=True)
    qtbot.waitUntil(lambda: preview.state is JobState.RUNNING, timeout=5000)
    run = session.apply(slow)
    qtbot.waitUntil(lambda: preview.finished and run.state is JobState.RUNNING, timeout=5000)
    assert preview.state is JobState.CANCELLED
    session.bridge.cancel(run)
