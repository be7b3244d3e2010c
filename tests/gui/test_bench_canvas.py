"""The editor's own benchmark drives a real window from slider to painted canvas."""

from __future__ import annotations

from typing import Any

import pytest

from warpaint.engine.runtime.bench import load_all


def test_the_canvas_benchmarks_are_listed_with_the_engines() -> None:
    import warpaint.gui.bench_canvas  # noqa: F401 - registers them, as `warpaint bench` does

    assert {"gaze-canvas", "attributes-canvas", "gaze"} <= set(load_all())


@pytest.mark.slow
def test_gaze_canvas_frames_end_with_a_paint_of_each_new_preview(qtbot: Any) -> None:
    from warpaint.gui.bench_canvas import slider_frames

    result = slider_frames("gaze", "horizontal", [10.0, -10.0], "eyes", 2, "cpu")
    assert "error" not in result, result.get("error")
    assert result["frames"] == 2
    assert 0 < result["ms_median"] <= result["ms_max"]
