"""Stylize in the GUI: keeping a cancelled job's last preview, and the recent styles strip."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_helpers import small_document, wait_delivered
from PIL import Image

from warpaint.engine.runtime.apply import EffectResult
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import JobContext, JobState
from warpaint.gui import effect_session as session_module
from warpaint.gui.keep_preview import KeepPreviewDialog

TINY = {"size": 32, "iterations": 3, "scales": 1, "network": "vgg19-random-slim"}
PREVIEW_RGB = (0.2, 0.4, 0.6)


def _stylize_panel(window):
    """The stylize panel with tiny settings, on the whole layer (there is no selection)."""
    panel = window.show_effect("stylize")
    panel.set_values(TINY)
    panel.widgets["mask"].combo.setCurrentIndex(1)  # "None (whole layer)"
    return panel


def _fake_long_effect(state, layer_id, effect_id, params, *args):
    """A long effect that reports one small preview, then runs until cancelled.

    Live previews (called with a preview size) fail at once, so they never
    hold the long lane.
    """

    def fn(ctx: JobContext) -> EffectResult:
        if args:
            raise BadInputError("no live preview in this test")
        preview = np.ones((12, 12, 4), np.float32)
        preview[..., :3] = PREVIEW_RGB
        ctx.report(0.5, preview=preview)
        while True:
            ctx.check()
            time.sleep(0.01)

    return fn


@pytest.fixture
def stylize_window(make_window, monkeypatch):
    monkeypatch.setattr(session_module, "effect_job", _fake_long_effect)
    window = make_window(small_document(48, 48))
    background, square = window.doc.layers
    window.layers_panel.set_current_layer(background.id)
    panel = _stylize_panel(window)
    panel.set_values({"style": ((square.id, 1.0),)})
    return window, panel


def _run_and_cancel(qtbot, window, panel):
    job = window.apply_effect(panel)
    assert job is not None, window.prompter.errors
    qtbot.waitUntil(lambda: job.progress >= 0.5, timeout=5000)
    qtbot.wait(50)  # the report travels to the GUI thread as a queued signal
    window.cancel_jobs_action.trigger()
    wait_delivered(qtbot, window, job, timeout=5000)
    assert job.state is JobState.CANCELLED
    return job


def test_cancel_keeps_the_last_preview_as_one_undoable_layer(qtbot, stylize_window):
    window, panel = stylize_window
    window.prompter.dialog_setup = lambda dialog: isinstance(dialog, KeepPreviewDialog)
    background_id, before = window.doc.layers[0].id, window.doc.state
    _run_and_cancel(qtbot, window, panel)

    asked = [d for d in window.prompter.dialogs if isinstance(d, KeepPreviewDialog)]
    assert len(asked) == 1 and asked[0].question.text() == "Keep the last preview as a new layer?"
    layers = window.doc.layers
    assert len(layers) == 3 and layers[0].id == background_id
    kept = layers[1].pixels.read_float()  # above the source, scaled up to the layer's size
    assert kept.shape == (48, 48, 4)
    np.testing.assert_allclose(kept[..., :3], np.broadcast_to(PREVIEW_RGB, (48, 48, 3)), atol=0.01)
    assert np.allclose(kept[..., 3], 1.0)
    window.undo()
    assert window.doc.state is before


def test_cancel_and_no_discards_the_preview(qtbot, stylize_window):
    window, panel = stylize_window
    window.prompter.dialog_setup = lambda dialog: False
    before = window.doc.state
    _run_and_cancel(qtbot, window, panel)
    assert any(isinstance(d, KeepPreviewDialog) for d in window.prompter.dialogs)
    assert window.doc.state is before
    assert panel.apply_button.isEnabled()


def test_cancel_before_any_preview_asks_nothing(qtbot, make_window, monkeypatch):
    window = make_window(small_document(48, 48))
    panel = window.show_effect("gaussian-blur")

    def blocked(state, layer_id, effect_id, params, *args):
        def fn(ctx: JobContext) -> EffectResult:
            while True:
                ctx.check()
                time.sleep(0.01)

        return fn

    monkeypatch.setattr(session_module, "effect_job", blocked)
    job = window.apply_effect(panel)
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    window.cancel_jobs_action.trigger()
    wait_delivered(qtbot, window, job, timeout=5000)
    assert window.prompter.dialogs == [] and len(window.doc.layers) == 2


def _style_file(path, colour):
    Image.new("RGB", (24, 24), colour).save(path)
    return str(path)


def test_recent_styles_persist_and_reselect(qtbot, make_window, settings_path, tmp_path):
    kept = _style_file(tmp_path / "waves.png", (20, 60, 200))
    gone = _style_file(tmp_path / "gone.png", (200, 60, 20))
    window = make_window(small_document(48, 48))
    background, square = window.doc.layers
    window.layers_panel.set_current_layer(background.id)
    panel = _stylize_panel(window)
    style = panel.widgets["style"]
    assert not style.recent_combo.isEnabled()  # nothing applied yet

    # Pick a file through "Add file…" and apply for real with tiny settings.
    window.prompter.open_answers.append([gone])
    style.add_file_button.click()
    assert style.value() == ((gone, 1.0),)
    wait_delivered(qtbot, window, window.apply_effect(panel), timeout=20_000)
    assert len(window.doc.layers) == 3
    panel.set_values({"style": ((square.id, 1.0),)})
    window.prompter.open_answers.append([kept])
    style.add_file_button.click()
    panel.remember_images()  # what Apply records, without running it again

    # A new window with the same settings offers them, newest first; missing files are skipped.
    (tmp_path / "gone.png").unlink()
    other = make_window(small_document(48, 48), settings_file=settings_path)
    other_style = other.show_effect("stylize").widgets["style"]
    combo = other_style.recent_combo
    entries = [combo.itemText(i) for i in range(1, combo.count())]
    assert entries == ["Layer “Square”", "waves.png"]
    assert not combo.itemIcon(2).isNull()  # a thumbnail of the file

    with qtbot.waitSignal(other_style.changed, timeout=1000):
        combo.activated.emit(2)
    assert other_style.value() == ((kept, 1.0),) and combo.currentIndex() == 0
    combo.activated.emit(1)
    square_id = other.doc.layers[1].id
    assert dict(other_style.value()) == {kept: 1.0, square_id: 1.0}
