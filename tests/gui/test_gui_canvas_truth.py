"""Property: whatever the user does, the canvas draws the state the effect session
says is shown (the document, or the document with the preview placed in it).

A `hypothesis.stateful` machine drives one real window through random sequences
of new/open document, add/hide/show/reorder/delete layer, group (isolated or
pass-through, at some opacity) and ungroup, blend mode and
opacity, choose effect, change a parameter, preview, Apply, Cancel, undo and
redo. After each step, once the jobs settled, the canvas's pre-overlay image at
100 % zoom equals the compositor's flatten of `session.shown_state()`.

Profiles (WARPAINT_TRUTH_PROFILE): "ci" (default) is derandomized with a fixed
budget of 25 examples x 30 steps on 24-56 px documents and the quick blur
(15 s on the 2-core CPU it was measured on); "long" runs 200 examples x 50
steps, randomized, for local runs (137 s there).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from canvas_truth import assert_canvas_shows, settle
from gui_helpers import wait_delivered
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from PIL import Image

from warpaint.engine.core.document import Document, Layer

PROFILES = {
    "ci": {"max_examples": 25, "stateful_step_count": 30, "derandomize": True},
    "long": {"max_examples": 200, "stateful_step_count": 50, "derandomize": False},
}
PROFILE = PROFILES[os.environ.get("WARPAINT_TRUTH_PROFILE", "ci")]
BLEND_MODES = ("normal", "multiply", "screen", "difference", "overlay", "darken", "color")
# Quick effects preview live; the slow one is only chosen (choosing it starts nothing).
QUICK = ("gaussian-blur",)
SLOW = ("stylize",)

sizes = st.integers(min_value=24, max_value=56)


def _pixels(seed: int, width: int, height: int, opaque: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if opaque:
        pixels[..., 3] = 255
    return pixels


def run_machine(make_window: Any, qtbot: Any, tmp_path: Any) -> None:
    window = make_window()
    window.resize(1000, 700)

    class CanvasTruth(RuleBasedStateMachine):
        """One window; each example starts from a new document."""

        def __init__(self) -> None:
            super().__init__()
            self.opened = 0

        def _show(self, doc: Document) -> None:
            doc.mark_saved()  # no "save changes?" prompt in the way
            window.set_document(doc)
            window.canvas.actual_size()

        @initialize(width=sizes, height=sizes, seed=st.integers(0, 2**16))
        def new_document(self, width: int, height: int, seed: int) -> None:
            doc = Document.from_array(_pixels(seed, width, height, opaque=True))
            doc.add_layer(
                Layer.from_array(
                    "Top",
                    _pixels(seed + 1, width // 2, height // 2, False),
                    x=width // 4,
                    y=height // 3,
                )
            )
            self._show(doc)
            window.show_effect(QUICK[0])  # previews from the start

        @rule(width=sizes, height=sizes, seed=st.integers(0, 2**16))
        def open_document(self, width: int, height: int, seed: int) -> None:
            assert window.doc is not None
            window.doc.mark_saved()
            self.opened += 1
            path = os.path.join(tmp_path, f"open-{self.opened}.png")
            Image.fromarray(_pixels(seed, width, height, opaque=False), "RGBA").save(path)
            assert window.open_path(path)
            window.canvas.actual_size()

        @rule(seed=st.integers(0, 2**16), dx=st.integers(-8, 24), dy=st.integers(-8, 24))
        def add_layer(self, seed: int, dx: int, dy: int) -> None:
            assert window.doc is not None
            layer = Layer.from_array("Added", _pixels(seed, 20, 16, False), x=dx, y=dy)
            window.doc.add_layer(layer)

        @rule(index=st.integers(0, 9))
        def select_layer(self, index: int) -> None:
            layers = window.doc.layers
            window.layers_panel.set_current_layer(layers[index % len(layers)].id)

        @rule(visible=st.booleans())
        def hide_or_show(self, visible: bool) -> None:
            if window.current_layer_id is not None:
                window.doc.set_layer_props(window.current_layer_id, visible=visible)

        @rule(mode=st.sampled_from(BLEND_MODES), opacity=st.sampled_from((1.0, 0.6, 0.25)))
        def blend(self, mode: str, opacity: float) -> None:
            if window.current_layer_id is not None:
                window.doc.set_layer_props(
                    window.current_layer_id, blend_mode=mode, opacity=opacity
                )

        @rule(isolated=st.booleans(), opacity=st.sampled_from((1.0, 0.5)))
        def group_current_layer(self, isolated: bool, opacity: float) -> None:
            if window.current_layer_id is not None:
                group = window.doc.group_layers([window.current_layer_id], "G")
                window.doc.set_layer_props(group.id, isolated=isolated, opacity=opacity)

        @rule()
        def ungroup_outermost(self) -> None:
            if window.doc.state.groups:
                window.doc.ungroup(window.doc.state.groups[0].id)

        @rule(up=st.booleans())
        def reorder(self, up: bool) -> None:
            window.shift_layer(1 if up else -1)

        @rule()
        def delete_layer(self) -> None:
            window.delete_layer()

        @rule(effect=st.sampled_from(QUICK + SLOW))
        def choose_effect(self, effect: str) -> None:
            window.show_effect(effect)

        @rule(sigma=st.sampled_from((0.0, 1.5, 4.0)), replace=st.booleans())
        def change_parameter(self, sigma: float, replace: bool) -> None:
            panel = window.effects_panel.current
            if panel is not None and panel.spec.id == "gaussian-blur":
                (panel.replace_radio if replace else panel.new_layer_radio).setChecked(True)
                panel.set_values({"sigma": sigma})

        @rule()
        def preview(self) -> None:
            panel = window.effects_panel.current
            if panel is not None and panel.spec.id in QUICK:
                window.session.preview(explicit=True)

        @rule(cancel=st.booleans())
        def apply(self, cancel: bool) -> None:
            panel = window.effects_panel.current
            if panel is None or panel.spec.id not in QUICK:
                return
            job = window.apply_effect(panel)
            if cancel:
                window.cancel_jobs()
            if job is not None:
                wait_delivered(qtbot, window, job)

        @rule()
        def undo(self) -> None:
            window.undo()

        @rule()
        def redo(self) -> None:
            window.redo()

        @invariant()
        def canvas_shows_the_session_state(self) -> None:
            qtbot.wait(1)  # coalesced edits (a slider's preview timer) start their jobs
            settle(qtbot, window)
            assert_canvas_shows(window)

    CanvasTruth.TestCase.settings = settings(
        deadline=None,
        suppress_health_check=list(HealthCheck),
        **PROFILE,
    )
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(CanvasTruth, settings=CanvasTruth.TestCase.settings)


def test_the_canvas_always_draws_the_state_the_session_shows(qtbot, make_window, tmp_path):
    run_machine(make_window, qtbot, tmp_path)
