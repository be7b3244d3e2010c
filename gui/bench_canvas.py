"""Benchmarks of the whole interactive path: slider value to repainted canvas.

The engine benchmarks time the effect alone; these time what the user waits
for in the editor: a real `MainWindow` (offscreen unless a display is set),
a slider of an effect panel moved as in a drag, the preview job on the
interactive lane, the result handed back to the GUI thread and placed in the
document state the canvas shows, the canvas tiles it changed composited, and
the canvas paint that shows them. Start: just before the slider's value is
set. Stop: the end of the first canvas paint after the preview arrived in
which every visible tile shows it. One frame at a time
(the next value is set once the previous frame is on screen), medians over
the frames after two warm-up frames.

`warpaint bench gaze-canvas` (goal: <= 16 ms per frame, a one-face
1920x1080 portrait) and `warpaint bench attributes-canvas` (goal: >= 30
frames per second at the model's crop size) are registered here; the CLI
loads this module with the engine's benchmarks. Qt is imported only when one
runs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

from warpaint.engine.runtime.bench import benchmark


def _portrait() -> Any:
    """(1080, 1920, 4) uint8: the astronaut scaled to full height, on white."""
    import numpy as np

    from warpaint.engine.features.eyes.bench_gaze import portrait_1080p

    return (np.clip(portrait_1080p(), 0, 1) * 255 + 0.5).astype(np.uint8)


def _wait(app: Any, done: Any, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            return False
        app.processEvents()
        time.sleep(0.0005)
    return True


def slider_frames(
    effect_id: str,
    param: str,
    values: list[float],
    ready: str,
    frames: int,
    device: str,
    tree: bool = False,
) -> dict[str, Any]:
    """Median ms from setting `param`'s slider to the canvas paint showing the
    preview, on the 1080p portrait, once the panel's `ready` value is filled.
    `tree`: the portrait sits three groups deep (isolated, pass-through,
    isolated at 90 %), the same pixels as the flat document."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from warpaint.engine.core.document import Document
    from warpaint.gui.canvas import CanvasView
    from warpaint.gui.dialogs import Prompter
    from warpaint.gui.main_window import MainWindow
    from warpaint.gui.param_widgets import NumberParamWidget

    app = QApplication.instance() or QApplication([])
    painted: list[float] = []
    original_paint = CanvasView.paintEvent

    def timed_paint(self: CanvasView, event: Any) -> None:
        original_paint(self, event)
        if self.tiles_ready():  # the paint showed the current state, not older tiles
            painted.append(time.perf_counter())

    CanvasView.paintEvent = timed_paint  # type: ignore[method-assign]
    arrived: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(os.path.join(tmp, "bench.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, prompter=Prompter(), device=device)
        try:
            window.resize(1600, 1000)
            window.show()
            doc = Document.from_array(_portrait(), name="Portrait")
            portrait = doc.layers[0]
            if tree:
                inner = doc.group_layers([portrait.id], "Inner")
                doc.set_layer_props(inner.id, opacity=0.9)
                middle = doc.group_layers([inner.id], "Middle")
                doc.set_layer_props(middle.id, isolated=False)
                doc.group_layers([middle.id], "Outer")
            doc.mark_saved()
            window.set_document(doc)
            window.layers_panel.set_current_layer(portrait.id)
            canvas = window.canvas
            original_preview = canvas.set_preview_state

            def noted_preview(state: Any, *rest: Any) -> None:
                original_preview(state, *rest)
                if state is not None:
                    arrived.append(time.perf_counter())

            canvas.set_preview_state = noted_preview  # type: ignore[method-assign]
            panel = window.show_effect(effect_id)
            if not _wait(app, lambda: panel.values().get(ready) not in (None, ()), 60):
                return {"error": f"the panel's {ready!r} was never filled (nothing detected)"}
            widget = panel.widgets[param]
            assert isinstance(widget, NumberParamWidget), f"{param} is not a slider"
            slider = widget.slider
            times: list[float] = []
            for i in range(frames + 2):
                value = values[i % len(values)]
                arrived.clear()
                slider.setSliderDown(True)
                start = time.perf_counter()
                slider.setValue(widget.slider_position(value))  # as the user's drag does

                def shown() -> bool:
                    return bool(arrived) and any(t > arrived[0] for t in painted)

                if not _wait(app, shown, 30):
                    return {"error": f"no preview reached the canvas for {param}={value}"}
                end = next(t for t in painted if t > arrived[0])
                times.append(end - start)
                slider.setSliderDown(False)
            ms = [1000 * t for t in times[2:]]
            return {
                "image": "1920x1080, astronaut scaled to 1080 px high",
                "effect": effect_id,
                "slider": param,
                "frames": frames,
                "ms_median": round(statistics.median(ms), 2),
                "ms_p90": round(sorted(ms)[int(0.9 * (len(ms) - 1))], 2),
                "ms_max": round(max(ms), 2),
                "frames_per_s_median": round(1000 / statistics.median(ms), 1),
                "start": "just before the slider's value is set",
                "stop": "end of the first canvas paint showing the preview in every visible tile",
                "platform": app.platformName(),
            }
        finally:
            CanvasView.paintEvent = original_paint  # type: ignore[method-assign]
            window.close()
            window.deleteLater()
            app.processEvents()


@benchmark("gaze-canvas", "gaze slider to repainted canvas in the editor, 1080p portrait (ms)")
def bench_gaze_canvas(quick: bool, device: str | None) -> dict[str, Any]:
    angles = [12.0, -6.0, 8.0, -12.0, 4.0, -9.0]
    frames = 8 if quick else 30
    result = slider_frames("gaze", "horizontal", angles, "eyes", frames, device or "cpu")
    result["goal_ms"] = 16
    tree = slider_frames("gaze", "horizontal", angles, "eyes", frames, device or "cpu", tree=True)
    return _with_tree(result, tree)


@benchmark("attributes-canvas", "attribute slider to repainted canvas in the editor (frames/s)")
def bench_attributes_canvas(quick: bool, device: str | None) -> dict[str, Any]:
    values = [0.8, -0.6, 0.4, -1.0, 1.0, -0.3]
    frames = 8 if quick else 30
    result = slider_frames("attributes", "iris_colour", values, "region", frames, device or "cpu")
    result["goal_frames_per_s"] = 30
    tree = slider_frames(
        "attributes", "iris_colour", values, "region", frames, device or "cpu", tree=True
    )
    return _with_tree(result, tree)


def _with_tree(flat: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    """The flat run's figures with the three-groups-deep run's beside them."""
    if "error" in flat or "error" in tree:
        return {**flat, "tree_error": tree.get("error")}
    return {
        **flat,
        "tree_ms_median": tree["ms_median"],
        "tree_ms_p90": tree["ms_p90"],
        "tree_vs_flat_median": round(tree["ms_median"] / flat["ms_median"], 2),
    }
