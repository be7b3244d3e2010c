"""A mask stroke painted while an effect preview shows: the preview stays on the
canvas during the stroke, with the mask painted into it as Apply would leave it,
and after the stroke is committed."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from canvas_truth import assert_canvas_shows, settle
from gui_helpers import wait_canvas
from PySide6.QtCore import QPointF, Qt

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.jobs import JobContext
from warpaint.gui import effect_session as session_module


def _two_layers() -> Document:
    ys, xs = np.mgrid[0:120, 0:160]
    base = np.stack(
        [xs * 255 // 160, ys * 255 // 120, np.full_like(xs, 128), np.full_like(xs, 255)], 2
    )
    doc = Document.from_array(base.astype(np.uint8), name="Background")
    top = np.zeros((120, 160, 4), np.uint8)
    top[:, ::8] = (40, 200, 90, 255)  # stripes: a blur changes them everywhere
    top[:, 1::8] = (40, 200, 90, 255)
    top[..., 3] = np.maximum(top[..., 3], 200)
    doc.add_layer(Layer.from_array("Top", top))
    doc.mark_saved()
    return doc


def _window(make_window: Any, doc: Document, layer: int) -> Any:
    window = make_window(doc)
    window.resize(900, 600)
    window.canvas.actual_size()
    window.layers_panel.set_current_layer(doc.layers[layer].id)
    return window


def _brush(window: Any) -> None:
    window.masks.brush_action.trigger()
    window.masks.erase_check.setChecked(True)
    window.masks.size_spin.setValue(30)
    window.masks.hardness_spin.setValue(100)


def _press_and_move(qtbot: Any, window: Any) -> None:
    canvas = window.canvas
    qtbot.mousePress(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(40, 60)).toPoint()
    )
    for x in range(50, 130, 10):
        qtbot.mouseMove(canvas, canvas.to_widget(QPointF(x, 60)).toPoint())


def _release(qtbot: Any, window: Any) -> None:
    canvas = window.canvas
    qtbot.mouseRelease(
        canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(QPointF(120, 60)).toPoint()
    )


def _noting_shown(window: Any, monkeypatch: Any) -> list[Any]:
    shown: list[Any] = []
    original = window.canvas._show_state

    def noted(state: Any, *rest: Any) -> None:
        shown.append(state)
        original(state, *rest)

    monkeypatch.setattr(window.canvas, "_show_state", noted)
    return shown


def test_a_stroke_on_the_previewed_layer_paints_into_the_preview_and_it_stays(
    qtbot, make_window, monkeypatch
):
    doc = _two_layers()
    window = _window(make_window, doc, 1)
    top = doc.layers[1]
    panel = window.effects_panel.panels["gaussian-blur"]
    panel.replace_radio.setChecked(True)
    window.show_effect("gaussian-blur")  # its defaults preview at once
    settle(qtbot, window)
    previewed = window.session.shown.state.layer(top.id).pixels
    assert previewed is not top.pixels
    _brush(window)
    shown = _noting_shown(window, monkeypatch)
    steps = len(doc.history.labels)

    _press_and_move(qtbot, window)
    # Mid-stroke: the blurred layer, masked by the stroke, as Apply would leave it.
    painted = window.canvas.state.layer(top.id)
    assert painted.pixels is previewed
    assert painted.mask is not None and painted.mask.read()[60, 80, 0] == 0
    assert window.canvas.badge == "Preview: Gaussian blur"
    wait_canvas(qtbot, window)
    assert_canvas_shows(window, window.canvas.state)

    _release(qtbot, window)
    assert len(doc.history.labels) == steps + 1 and doc.history.undo_label == "Erase mask"
    committed = doc.layer(top.id).mask
    assert committed is not None and committed.read()[60, 80, 0] == 0
    after = window.session.shown
    assert after is not None and not window.session.pending, "the same result, placed again"
    assert after.state.layer(top.id).pixels is previewed
    assert after.state.layer(top.id).mask is committed
    assert window.canvas.badge == "Preview: Gaussian blur"
    settle(qtbot, window)
    assert_canvas_shows(window)
    assert all(state.layer(top.id).pixels is previewed for state in shown), (
        "the canvas never went back to the layer without the preview"
    )

    window.undo()  # the mask goes, the preview stays
    settle(qtbot, window)
    assert window.session.shown.state.layer(top.id).mask is None
    assert window.session.shown.state.layer(top.id).pixels is previewed
    assert_canvas_shows(window)


def _inverting(calls: list[str]) -> Any:
    """A slow effect: a preview (given a preview size) returns the layer inverted."""

    def effect_job(state, layer_id, effect_id, params, *args):
        layer = state.layer(layer_id)
        calls.append("preview" if args else "apply")

        def fn(ctx: JobContext) -> EffectResult:
            time.sleep(0.02)
            pixels = layer.pixels.read_float()
            pixels[..., :3] = 1.0 - pixels[..., :3]
            return EffectResult(effect_id, layer_id, dict(params), pixels)

        return fn

    return effect_job


def test_a_slow_preview_on_a_new_layer_outlives_a_stroke_on_its_source(
    qtbot, make_window, monkeypatch
):
    calls: list[str] = []
    monkeypatch.setattr(session_module, "effect_job", _inverting(calls))
    doc = _two_layers()
    window = _window(make_window, doc, 0)
    background, top = doc.layers
    panel = window.show_effect("stylize")
    panel.set_values({"style": ((top.id, 1.0),)})
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    added = window.session.shown.state.layers[1]
    assert len(window.session.shown.state.layers) == 3 and added.mask is None
    _brush(window)

    _press_and_move(qtbot, window)
    state = window.canvas.state
    assert [lay.id for lay in state.layers] == [background.id, added.id, top.id]
    assert state.layers[1] is added, "the layer Apply adds has no mask of its source"
    assert state.layers[0].mask is not None and state.layers[0].mask.read()[60, 80, 0] == 0
    wait_canvas(qtbot, window)
    assert_canvas_shows(window, state)

    _release(qtbot, window)
    settle(qtbot, window)
    assert calls == ["preview"], "the result did not change: nothing is computed again"
    shown = window.session.shown
    assert shown is not None and shown.state.layers[1].pixels is added.pixels
    assert shown.state.layers[0].mask is doc.layer(background.id).mask
    assert window.canvas.badge == "Preview: Stylize"
    assert_canvas_shows(window)


def test_a_stroke_on_a_layer_the_effect_reads_ends_a_slow_preview(qtbot, make_window, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(session_module, "effect_job", _inverting(calls))
    doc = _two_layers()
    window = _window(make_window, doc, 1)
    top = doc.layers[1]
    panel = window.show_effect("stylize")
    panel.set_values({"style": ((top.id, 1.0),)})  # its style image is the layer painted on
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert window.session.shown is not None
    _brush(window)

    _press_and_move(qtbot, window)
    assert window.canvas.state.layers[1].pixels is window.session.shown.state.layers[1].pixels
    _release(qtbot, window)
    settle(qtbot, window)
    # The style image's mask changed, so the preview no longer shows what Apply
    # would make; a slow effect previews again only on Preview.
    assert window.session.shown is None and window.canvas.badge is None
    assert_canvas_shows(window, doc.state)


def test_a_stroke_committed_while_a_quick_preview_computes_keeps_the_last_one_shown(
    qtbot, make_window, monkeypatch
):
    gate = threading.Event()
    gate.set()
    read: list[Any] = []  # the states each preview was computed from

    def effect_job(state, layer_id, effect_id, params, *args):
        layer = state.layer(layer_id)
        read.append(state)

        def fn(ctx: JobContext) -> EffectResult:
            while not gate.is_set():
                ctx.check()
                time.sleep(0.005)
            pixels = layer.pixels.read_float()
            pixels[..., :3] *= 0.1 * params["sigma"]
            return EffectResult(effect_id, layer_id, dict(params), pixels)

        return fn

    monkeypatch.setattr(session_module, "effect_job", effect_job)
    doc = _two_layers()
    window = _window(make_window, doc, 1)
    top = doc.layers[1]
    panel = window.effects_panel.panels["gaussian-blur"]
    panel.replace_radio.setChecked(True)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    previewed = window.session.shown.state.layer(top.id).pixels
    _brush(window)
    gate.clear()
    panel.set_values({"sigma": 3.0})  # a preview starts, and waits
    qtbot.waitUntil(lambda: window.session.pending, timeout=5000)

    _press_and_move(qtbot, window)
    _release(qtbot, window)
    assert window.session.shown is not None and window.session.pending
    assert window.canvas.state.layer(top.id).pixels is previewed, "the last preview stays"
    assert window.canvas.state.layer(top.id).mask is doc.layer(top.id).mask
    gate.set()
    settle(qtbot, window)
    assert read[-1] is doc.state, "the preview shown at last is computed from the stroked state"
    assert window.session.shown.state.layer(top.id).pixels is not previewed
    assert_canvas_shows(window)
