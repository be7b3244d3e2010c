"""A slow effect's preview after the user changes a setting or the selection it
is restricted to: it stays on the canvas, marked out of date until Preview is
pressed again, so the canvas never passes off a preview made with other
settings as the panel's; a quick preview follows such a change."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from canvas_truth import assert_canvas_shows, settle
from gui_helpers import small_document
from PySide6.QtCore import Qt

from warpaint.engine.core.selection import Selection
from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.jobs import JobContext
from warpaint.gui import effect_session as session_module

FRESH = "Preview: Stylize"
STALE = "Preview: Stylize, out of date (press Preview)"


def _slow_effect(runs: list[dict[str, Any]], gate: threading.Event) -> Any:
    """Stands in for Gatys: a preview (called with a preview size) waits for `gate`,
    then returns the layer darkened by its `scales` value; `runs` records the
    values each preview was made with."""

    def effect_job(state, layer_id, effect_id, params, *args):
        layer = state.layer(layer_id)

        def fn(ctx: JobContext) -> EffectResult:
            while not gate.is_set():
                ctx.check()
                time.sleep(0.005)
            runs.append(dict(params))
            pixels = layer.pixels.read_float()
            pixels[..., :3] /= 1 + params["scales"]
            return EffectResult(effect_id, layer_id, dict(params), pixels)

        return fn

    return effect_job


def _window(qtbot, make_window, monkeypatch, runs, gate):
    monkeypatch.setattr(session_module, "effect_job", _slow_effect(runs, gate))
    doc = small_document()
    window = make_window(doc)
    window.canvas.actual_size()
    background, square = doc.layers
    window.layers_panel.set_current_layer(background.id)
    panel = window.show_effect("stylize")
    panel.set_values({"style": ((square.id, 1.0),)})
    return window, panel


def _press_preview(qtbot, window, panel) -> None:
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)


def test_a_changed_setting_marks_the_slow_preview_out_of_date_until_preview_is_pressed(
    qtbot, make_window, monkeypatch
):
    runs: list[dict[str, Any]] = []
    gate = threading.Event()
    gate.set()
    window, panel = _window(qtbot, make_window, monkeypatch, runs, gate)
    _press_preview(qtbot, window, panel)
    made_with = panel.values()["scales"]
    shown = window.session.shown
    assert shown is not None and window.canvas.badge == FRESH
    assert not window.canvas.badge_warning and not window.session.stale

    spin = panel.widgets["scales"].spin
    qtbot.keyClick(spin, Qt.Key.Key_Up)  # the user steps a setting
    qtbot.waitUntil(lambda: window.canvas.badge == STALE, timeout=5000)
    assert panel.values()["scales"] == made_with + 1
    assert window.session.stale and window.canvas.badge_warning
    assert window.session.shown is shown, "the preview stays, marked, rather than vanish"
    assert len(runs) == 1 and not window.session.pending, "a slow effect waits for Preview"
    settle(qtbot, window)
    assert_canvas_shows(window)  # the document with that preview, exactly

    qtbot.keyClick(spin, Qt.Key.Key_Down)  # back to the settings it was made with
    qtbot.waitUntil(lambda: window.canvas.badge == FRESH, timeout=5000)
    assert not window.canvas.badge_warning

    qtbot.keyClick(spin, Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: window.canvas.badge == STALE, timeout=5000)
    _press_preview(qtbot, window, panel)
    assert window.canvas.badge == FRESH and not window.session.stale
    assert [run["scales"] for run in runs] == [made_with, made_with + 1]
    added = window.session.shown.state.layers[1].pixels.read_float()  # the layer Apply adds
    assert not np.allclose(added, shown.state.layers[1].pixels.read_float())
    assert_canvas_shows(window)


def test_a_slow_preview_that_arrives_after_a_setting_changed_is_out_of_date(
    qtbot, make_window, monkeypatch
):
    runs: list[dict[str, Any]] = []
    gate = threading.Event()
    window, panel = _window(qtbot, make_window, monkeypatch, runs, gate)
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    assert window.session.pending
    qtbot.keyClick(panel.widgets["scales"].spin, Qt.Key.Key_Up)  # while it computes
    qtbot.wait(50)  # the panel's coalescing timer has passed the edit on
    gate.set()
    settle(qtbot, window)
    assert window.session.shown is not None and len(runs) == 1
    assert window.session.stale and window.canvas.badge == STALE
    assert_canvas_shows(window)


def test_another_target_marks_the_slow_preview_out_of_date(qtbot, make_window, monkeypatch):
    runs: list[dict[str, Any]] = []
    gate = threading.Event()
    gate.set()
    window, panel = _window(qtbot, make_window, monkeypatch, runs, gate)
    _press_preview(qtbot, window, panel)
    assert len(window.session.shown.state.layers) == 3, "a new layer, as Apply would add"
    qtbot.mouseClick(panel.replace_radio, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.canvas.badge == STALE, timeout=5000)
    assert len(window.canvas.state.layers) == 3, "still the preview it was made as"


def test_moving_the_selection_a_slow_preview_is_restricted_to_marks_it_out_of_date(
    qtbot, make_window, monkeypatch
):
    runs: list[dict[str, Any]] = []
    gate = threading.Event()
    gate.set()
    window, panel = _window(qtbot, make_window, monkeypatch, runs, gate)
    window.set_selection(Selection("rectangle", 0, 0, 32, 48))
    qtbot.mouseClick(panel.selection_check, Qt.MouseButton.LeftButton)
    assert panel.restrict_to_selection
    _press_preview(qtbot, window, panel)
    assert window.canvas.badge == FRESH
    assert_canvas_shows(window)

    window.set_selection(Selection("rectangle", 32, 0, 32, 48))  # the other half
    assert window.canvas.badge == STALE and len(runs) == 1
    window.set_selection(Selection("rectangle", 0, 0, 32, 48))  # back where it was made
    assert window.canvas.badge == FRESH


def test_a_quick_preview_restricted_to_the_selection_follows_it(qtbot, make_window):
    doc = small_document()
    window = make_window(doc)
    window.canvas.actual_size()
    background = doc.layers[0]
    window.layers_panel.set_current_layer(background.id)
    window.set_selection(Selection("rectangle", 0, 0, 32, 48))
    panel = window.effects_panel.panels["gaussian-blur"]
    panel.replace_radio.setChecked(True)
    panel.selection_check.setChecked(True)
    window.show_effect("gaussian-blur")
    settle(qtbot, window)
    left = window.session.shown.state.layer(background.id).pixels.read()
    original = background.pixels.read()
    assert not np.array_equal(left[:, :28], original[:, :28])
    assert np.array_equal(left[:, 36:], original[:, 36:]), "outside the selection: untouched"

    window.set_selection(Selection("rectangle", 32, 0, 32, 48))  # the other half
    qtbot.waitUntil(
        lambda: (
            window.session.shown is not None
            and np.array_equal(
                window.session.shown.state.layer(background.id).pixels.read()[:, :28],
                original[:, :28],
            )
        ),
        timeout=10_000,
    )
    right = window.session.shown.state.layer(background.id).pixels.read()
    assert not np.array_equal(right[:, 36:], original[:, 36:])
    assert not window.session.stale and window.canvas.badge == "Preview: Gaussian blur"
    settle(qtbot, window)
    assert_canvas_shows(window)
