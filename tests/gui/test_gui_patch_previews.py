"""Patch previews (an effect that changes a small part of the layer, as the eyes
of a portrait) one after another: the canvas redraws only where the new patch
differs from the one it shows, and what it shows is exactly the compositor's."""

from __future__ import annotations

from typing import Any

import numpy as np
from canvas_truth import assert_canvas_shows, settle
from gui_helpers import small_document

from warpaint.engine.core.tiles import Rect
from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.jobs import JobContext
from warpaint.gui import effect_session as session_module


def _patches(layer_pixels: np.ndarray, origins: list[tuple[int, int]]) -> list[EffectResult]:
    """20 x 16 patches of the layer at `origins`; the second one differs from the
    first only in a 5 x 3 block, the others are darkened throughout."""
    results = []
    for i, (x, y) in enumerate(origins):
        patch = layer_pixels[y : y + 16, x : x + 20].astype(np.float32) / 255
        patch[..., :3] *= 0.5
        if i == 1:
            patch = results[0].pixels.copy()
            patch[6:9, 4:9, :3] = (0.1, 0.9, 0.2)
        results.append(EffectResult("gaussian-blur", 0, {}, patch, origin=(x, y)))
    return results


def test_consecutive_patch_previews_redraw_only_what_differs(qtbot, make_window, monkeypatch):
    doc = small_document(300, 200)
    window = make_window(doc)
    window.canvas.actual_size()
    background = doc.layers[0]
    window.layers_panel.set_current_layer(background.id)
    patches = _patches(background.pixels.read(), [(100, 60), (100, 60), (130, 90)])
    serving = [0]  # which patch the effect returns

    def effect_job(state, layer_id, effect_id, params, *args):
        result = patches[serving[0]]

        def fn(ctx: JobContext) -> EffectResult:
            return EffectResult(effect_id, layer_id, params, result.pixels, origin=result.origin)

        return fn

    monkeypatch.setattr(session_module, "effect_job", effect_job)
    shown: list[Any] = []
    canvas = window.canvas
    original = canvas._show_state

    def noted(state, reduced, drawn=None, since=None):
        shown.append((state, since))
        original(state, reduced, drawn, since)

    monkeypatch.setattr(canvas, "_show_state", noted)
    panel = window.show_effect("gaussian-blur")
    panel.replace_radio.setChecked(True)
    settle(qtbot, window)
    first = window.session.shown.state
    assert_canvas_shows(window)

    serving[0] = 1
    window.session.preview()  # the same place, a 5 x 3 block changed
    settle(qtbot, window)
    state, since = shown[-1]
    assert state is window.session.shown.state and since is not None
    assert since[0] is first and since[1] == Rect(104, 66, 5, 3)
    assert_canvas_shows(window)

    serving[0] = 2
    window.session.preview()  # another place: the union of both patches changes
    settle(qtbot, window)
    state, since = shown[-1]
    assert since is not None and since[1] == Rect(100, 60, 50, 46)
    assert_canvas_shows(window)


def test_a_patch_preview_after_an_edit_compares_the_states_again(qtbot, make_window, monkeypatch):
    doc = small_document(300, 200)
    window = make_window(doc)
    window.canvas.actual_size()
    background = doc.layers[0]
    window.layers_panel.set_current_layer(background.id)
    patch = background.pixels.read_float(Rect(100, 60, 20, 16))
    patch[..., :3] = 1.0 - patch[..., :3]

    def effect_job(state, layer_id, effect_id, params, *args):
        def fn(ctx: JobContext) -> EffectResult:
            return EffectResult(effect_id, layer_id, params, patch.copy(), origin=(100, 60))

        return fn

    monkeypatch.setattr(session_module, "effect_job", effect_job)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    doc.set_layer_props(doc.layers[1].id, opacity=0.3)  # another state: a new preview
    settle(qtbot, window)
    assert window.session.shown is not None and window.session.shown.since is None
    assert_canvas_shows(window)
