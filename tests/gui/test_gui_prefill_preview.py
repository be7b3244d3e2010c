"""A slider moved before the panel's detection came back previews again with what it found."""

from __future__ import annotations

from typing import Any

from gui_helpers import astronaut_document


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
    qtbot.waitUntil(lambda: window.canvas.preview_rect is not None, timeout=10_000)
    shown = window.canvas.preview_rect
    assert (shown.x(), shown.y()) == last.origin, "the canvas shows the eye, not the whole layer"
