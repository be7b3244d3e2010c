"""A slider moved before the panel's detection came back previews again with what it found."""

from __future__ import annotations

from typing import Any

import numpy as np
from gui_helpers import astronaut_document

from warpaint.engine.core.tiles import TILE, Rect


def test_a_preview_started_before_the_eye_was_found_is_redone_with_the_found_region(
    qtbot: Any, make_window: Any
) -> None:
    window = make_window(astronaut_document())
    finished: list[Any] = []
    window.bridge.job_finished.connect(finished.append)
    panel = window.show_effect("attributes")
    assert panel.values()["region"] is None, "detection runs in the background"
    slider = panel.widgets["iris_colour"].slider
    slider.setSliderDown(True)
    slider.setValue(slider.maximum())  # before the detection is back
    slider.setSliderDown(False)

    def previews() -> list[Any]:
        return [j.result[0] for j in finished if j.label.startswith("Preview") and j.result]

    qtbot.waitUntil(lambda: panel.values()["region"] is not None, timeout=30_000)
    qtbot.waitUntil(lambda: any(r.params.get("region") for r in previews()), timeout=30_000)
    last = previews()[-1]
    assert last.params["region"] == panel.values()["region"]
    assert last.origin is not None, "the redone preview is the eye's patch"
    qtbot.waitUntil(lambda: window.session.shown is not None, timeout=10_000)
    # The canvas shows the layer Apply would add: the source with the eye's patch in it.
    shown = window.session.shown.state
    assert window.canvas.state is shown
    source = window.doc.layers[0]
    added = shown.layers[shown.index_of(source.id) + 1]
    x, y = last.origin
    h, w = last.pixels.shape[:2]
    patch = Rect(x, y, w, h)
    keys = set(source.pixels.tile_keys()) | set(added.pixels.tile_keys())
    changed = [k for k in keys if source.pixels.tile(*k) is not added.pixels.tile(*k)]
    assert changed, "the eye changed"
    for tx, ty in changed:
        assert not Rect(tx * TILE, ty * TILE, TILE, TILE).intersect(patch).empty
    np.testing.assert_allclose(added.pixels.read_float(patch), last.pixels, atol=1 / 255 + 1e-6)
