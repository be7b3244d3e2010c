"""What the canvas shows while an effect previews is a document state, composited
like any other: regression tests for previews drawn over the canvas."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from canvas_truth import assert_canvas_shows, drawn, expected, settle
from gui_helpers import astronaut_document, small_document, wait_delivered
from PIL import Image

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.jobs import JobContext, JobState
from warpaint.gui import effect_session as session_module


def _window(make_window: Any, doc: Any) -> Any:
    window = make_window(doc)
    window.canvas.actual_size()  # one canvas pixel per image pixel
    return window


def test_bug2_a_hidden_layer_selected_while_a_preview_shows_is_not_drawn_even_after_undo(
    qtbot, make_window
):
    doc = small_document()
    window = _window(make_window, doc)
    background, square = doc.layers
    window.layers_panel.set_current_layer(background.id)
    doc.set_layer_props(square.id, visible=False)
    window.show_effect("gaussian-blur")  # its defaults preview at once
    settle(qtbot, window)
    assert window.session.shown is not None
    assert_canvas_shows(window)

    window.layers_panel.set_current_layer(square.id)  # the hidden layer
    settle(qtbot, window)
    assert window.session.shown is not None, "the hidden layer is previewed, as Apply would make it"
    assert_canvas_shows(window)
    assert np.array_equal(drawn(window), expected(doc.state)), "nothing of the hidden layer shows"

    window.undo_action.trigger()  # Ctrl+Z: the square is visible again, and its preview with it
    settle(qtbot, window)
    assert doc.layer(square.id).visible
    assert_canvas_shows(window)
    window.undo_action.trigger()  # nothing left to undo changes nothing either
    settle(qtbot, window)
    assert_canvas_shows(window)


def test_bug3_a_preview_shows_through_the_layers_blend_mode_and_opacity(qtbot, make_window):
    doc = small_document()
    window = _window(make_window, doc)
    square = doc.layers[1]
    doc.set_layer_props(square.id, blend_mode="difference", opacity=0.4)
    window.layers_panel.set_current_layer(square.id)
    panel = window.effects_panel.panels["gaussian-blur"]
    panel.replace_radio.setChecked(True)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    shown = window.session.shown.state
    previewed = shown.layer(square.id)
    assert (previewed.blend_mode, previewed.opacity) == ("difference", 0.4)
    assert previewed.pixels is not doc.layer(square.id).pixels
    assert_canvas_shows(window)

    panel.new_layer_radio.setChecked(True)  # the preview follows where the result goes
    qtbot.waitUntil(lambda: len(window.session.shown_state().layers) == 3, timeout=10_000)
    settle(qtbot, window)
    shown = window.session.shown.state
    added = shown.layers[shown.index_of(square.id) + 1]
    assert (added.blend_mode, added.opacity) == ("difference", 0.4)
    assert_canvas_shows(window)


def test_bug3_a_patch_preview_of_the_eye_is_blended_like_its_layer(qtbot, make_window):
    doc = astronaut_document()
    window = _window(make_window, doc)
    doc.set_layer_props(doc.layers[0].id, blend_mode="difference", opacity=0.4)
    panel = window.show_effect("attributes")
    qtbot.waitUntil(lambda: panel.values()["region"] is not None, timeout=30_000)
    slider = panel.widgets["iris_colour"].slider
    slider.setValue(slider.maximum())
    qtbot.waitUntil(lambda: window.session.shown is not None, timeout=30_000)
    settle(qtbot, window)
    shown = window.session.shown.state
    added = shown.layers[1]
    assert (added.blend_mode, added.opacity) == ("difference", 0.4)
    assert_canvas_shows(window)


def test_bug6_after_apply_with_live_preview_the_canvas_shows_the_effect_once(qtbot, make_window):
    doc = small_document()
    window = _window(make_window, doc)
    window.layers_panel.set_current_layer(doc.layers[1].id)
    panel = window.show_effect("gaussian-blur")
    panel.set_values({"sigma": 4.0})
    settle(qtbot, window)
    assert window.canvas.badge == "Preview: Gaussian blur"
    previewed = expected(window.session.shown.state)

    wait_delivered(qtbot, window, window.apply_effect(panel))
    qtbot.wait(200)  # anything a commit could start has been started
    settle(qtbot, window)
    assert window.session.shown is None and window.canvas.badge is None
    assert_canvas_shows(window, doc.state)
    assert np.array_equal(drawn(window), previewed), "Apply gives what the preview showed"


def _fake_effect_job(calls: list[str]) -> Any:
    """A slow effect: a preview (given a preview size) returns the layer inverted after
    a short while; a full run waits until cancelled."""

    def effect_job(state, layer_id, effect_id, params, *args):
        layer = state.layer(layer_id)
        calls.append("preview" if args else "apply")

        def fn(ctx: JobContext) -> EffectResult:
            if args:
                time.sleep(0.05)
                pixels = layer.pixels.read_float()
                pixels[..., :3] = 1.0 - pixels[..., :3]
                return EffectResult(effect_id, layer_id, dict(params), pixels)
            while True:
                ctx.check()
                time.sleep(0.01)

        return fn

    return effect_job


def test_a_slow_effect_previews_only_when_asked_and_shows_a_badge(qtbot, make_window, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(session_module, "effect_job", _fake_effect_job(calls))
    doc = small_document()
    window = _window(make_window, doc)
    background, square = doc.layers
    window.layers_panel.set_current_layer(background.id)
    panel = window.show_effect("stylize")
    assert panel.preview_button.isVisible() and not panel.preview_check.isVisible()
    panel.set_values({"style": ((square.id, 1.0),)})  # ticking a style image
    window.layers_panel.set_current_layer(square.id)  # selecting another layer
    window.layers_panel.set_current_layer(background.id)
    qtbot.wait(200)
    assert calls == [] and not window.session.pending and window.bridge.long_jobs == []

    panel.preview_button.click()
    assert calls == ["preview"] and window.bridge.long_jobs, "it runs on the long lane"
    settle(qtbot, window)
    assert window.canvas.badge == f"Preview: {panel.spec.title}"
    assert_canvas_shows(window)


def test_bug9_switching_to_another_effect_cancels_a_running_slow_preview(
    qtbot, make_window, monkeypatch
):
    def endless(state, layer_id, effect_id, params, *args):
        def fn(ctx: JobContext) -> EffectResult:
            while True:
                ctx.check()
                time.sleep(0.01)

        return fn

    monkeypatch.setattr(session_module, "effect_job", endless)
    window = _window(make_window, small_document())
    panel = window.show_effect("stylize")
    job = window.session.preview(explicit=True)
    assert job is not None and job.lane == "long"
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    window.effects_panel.chooser.setCurrentIndex(
        window.effects_panel.chooser.findData("gaussian-blur")
    )
    qtbot.waitUntil(lambda: job.state is JobState.CANCELLED, timeout=5000)
    assert window.effects_panel.current is not panel


def _save(doc: Any, path: str, mirrored: bool) -> None:
    rgba = doc.layers[0].pixels.read()
    Image.fromarray(rgba[:, ::-1] if mirrored else rgba, "RGBA").save(path)


def test_bug4_opening_another_photo_finds_its_eyes_again_and_keeps_the_settings(
    qtbot, make_window, tmp_path
):
    first, second = os.path.join(tmp_path, "a.png"), os.path.join(tmp_path, "b.png")
    _save(astronaut_document(), first, mirrored=False)
    _save(astronaut_document(), second, mirrored=True)
    window = make_window()
    assert window.open_path(first)
    blur = window.show_effect("gaussian-blur")
    blur.set_values({"sigma": 7.0})
    gaze = window.show_effect("gaze")
    qtbot.waitUntil(lambda: len(gaze.values()["eyes"] or ()) == 4, timeout=30_000)
    eyes_first = np.asarray(gaze.values()["eyes"])
    gaze.set_values({"horizontal": 10.0})
    attributes = window.show_effect("attributes")
    qtbot.waitUntil(lambda: attributes.values()["region"] is not None, timeout=30_000)
    region_first = attributes.values()["region"]
    window.show_effect("gaze")

    assert window.open_path(second)
    assert window.session.shown is None, "nothing of the previous photo is previewed"
    assert attributes.values()["region"] is None, "the region belonged to the previous photo"
    qtbot.waitUntil(lambda: len(gaze.values()["eyes"] or ()) == 4, timeout=30_000)
    eyes_second = np.asarray(gaze.values()["eyes"])
    # The photo is mirrored: the eyes it finds are mirrored too, not the old points.
    assert abs(eyes_second[:, 0].mean() - (512 - eyes_first[:, 0].mean())) < 8
    assert gaze.values()["horizontal"] == 10.0 and blur.values()["sigma"] == 7.0, "settings stay"
    window.show_effect("attributes")
    qtbot.waitUntil(lambda: attributes.values()["region"] is not None, timeout=30_000)
    assert attributes.values()["region"] != region_first


def test_apply_goes_from_the_preview_to_the_committed_state_without_the_bare_document(
    qtbot, make_window, monkeypatch
):
    doc = small_document()
    window = _window(make_window, doc)
    panel = window.show_effect("gaussian-blur")
    settle(qtbot, window)
    before = doc.state
    assert window.canvas.state is not before, "a preview shows"
    shown: list[Any] = []
    original = window.canvas._show_state

    def noted(state: Any, *rest: Any) -> None:
        shown.append(state)
        original(state, *rest)

    monkeypatch.setattr(window.canvas, "_show_state", noted)
    wait_delivered(qtbot, window, window.apply_effect(panel))
    settle(qtbot, window)
    assert shown and shown[-1] is doc.state is not before
    assert before not in shown, "the canvas never went back to the document without the effect"
    assert_canvas_shows(window, doc.state)


def test_a_declined_keep_after_cancel_leaves_the_canvas_exactly_the_document(
    qtbot, make_window, monkeypatch
):
    def reporting(state, layer_id, effect_id, params, *args):
        def fn(ctx: JobContext) -> EffectResult:
            picture = np.zeros((12, 12, 4), np.float32)
            picture[..., 1:] = 1.0
            ctx.report(0.5, preview=picture)
            while True:
                ctx.check()
                time.sleep(0.01)

        return fn

    doc = small_document()
    window = _window(make_window, doc)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    assert window.session.shown is not None
    monkeypatch.setattr(session_module, "effect_job", reporting)
    window.prompter.dialog_setup = lambda dialog: False  # "No" to keeping the picture
    job = window.apply_effect(window.effects_panel.current)
    qtbot.waitUntil(lambda: job.progress >= 0.5, timeout=5000)
    qtbot.wait(50)
    window.cancel_jobs_action.trigger()
    wait_delivered(qtbot, window, job)
    settle(qtbot, window)
    assert job.state is JobState.CANCELLED and window.prompter.dialogs
    assert window.session.shown is None and window.canvas.badge is None
    assert_canvas_shows(window, doc.state)
    assert np.array_equal(drawn(window), expected(doc.state))


def test_a_big_layer_previews_at_the_canvas_level_of_detail_through_the_compositor(
    qtbot, make_window, monkeypatch
):
    from warpaint.engine.core.lod import shared_lod

    monkeypatch.setenv("WARPAINT_PREVIEW_MAX_SIDE", "300")
    rng = np.random.default_rng(7)
    doc = Document.from_array(rng.integers(0, 256, (900, 1200, 4), dtype=np.uint8))
    top = np.zeros((300, 400, 4), np.uint8)
    top[...] = (40, 200, 90, 255)
    doc.add_layer(Layer.from_array("Top", top, x=100, y=80, blend_mode="multiply", opacity=0.5))
    window = make_window(doc)
    window.layers_panel.set_current_layer(doc.layers[0].id)  # 1200 px: 300 px at level 2
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    shown = window.session.shown
    assert shown is not None and shown.reduced is not None and shown.reduced.level == 2
    level = window.canvas.level
    assert level >= 2, "drawn at the preview's level or coarser, never stretched over a finer one"
    lod = shared_lod()
    at_level = shown.reduced.place(lod.state_at(shown.state, level), level, lod)
    assert np.array_equal(drawn(window), expected(at_level))
