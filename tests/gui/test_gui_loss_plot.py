"""The loss plot: it records and draws the loss curves an optimisation
reports, and an effect panel shows it only for effects that report losses."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QColor, QImage

from warpaint.engine.core.document import Document
from warpaint.engine.runtime.apply import effect_job
from warpaint.engine.runtime.jobs import JobRunner, JobState
from warpaint.engine.runtime.registry import get_effect
from warpaint.gui.effects_panel import EffectPanel
from warpaint.gui.loss_plot import SERIES_COLOURS, LossPlotWidget

HISTORY = [
    (0.1, {"style": 2.0, "content": 0.0, "total": 10.0}),
    (0.4, {"style": 0.5, "content": 0.02, "total": 2.52}),
    (0.7, {"style": 0.1, "content": 0.05, "total": 0.55}),
    (1.0, {"style": 0.03, "content": 0.06, "total": 0.21}),
]


class _Context:
    current_layer_id = None

    def layer_choices(self) -> list[tuple[int, str]]:
        return []

    def activate_tool(self, tool: Any, owner: Any) -> None:
        return None

    def ask_file(self, title: str) -> str | None:
        return None


def _pixels_near(image: QImage, colour: str, tolerance: int = 40) -> int:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = image.constBits()
    rgba = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    target = QColor(colour)
    want = np.array([target.red(), target.green(), target.blue()])
    return int((np.abs(rgba[..., :3].astype(int) - want).max(axis=2) < tolerance).sum())


def test_loss_plot_records_the_series_and_draws_them(qtbot):
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.resize(300, 160)
    empty = plot.grab().toImage()
    plot.set_history(HISTORY)

    assert list(plot.series) == ["style", "content", "total"]
    assert plot.series["style"] == [(0.1, 2.0), (0.4, 0.5), (0.7, 0.1), (1.0, 0.03)]
    # a zero loss has no place on a log axis: left out, not drawn at -inf
    assert [f for f, _ in plot.series["content"]] == [0.4, 0.7, 1.0]
    assert plot.y_range() == (-2.0, 1.0)

    image = plot.grab().toImage()
    for name in ("style", "content", "total"):
        assert _pixels_near(image, SERIES_COLOURS[name]) > 30, f"the {name} curve is drawn"
        assert _pixels_near(empty, SERIES_COLOURS[name]) == 0

    plot.clear()
    assert plot.series == {}


def test_effect_panel_shows_the_plot_only_for_progress_with_losses(qtbot):
    panel = EffectPanel(get_effect("stylize"), _Context())
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.loss_plot.isVisible()

    panel.show_progress_data({"losses": HISTORY})
    assert panel.loss_plot.isVisible()
    assert panel.loss_plot.series["total"][-1] == (1.0, 0.21)

    panel.show_progress_data(None)  # an effect that reports no losses
    assert not panel.loss_plot.isVisible()
    panel.show_progress_data({"losses": HISTORY})
    panel.show_progress_data({"something": "else"})
    assert not panel.loss_plot.isVisible()

    panel.show_progress_data({"losses": HISTORY})
    panel.clear_progress_data()
    assert not panel.loss_plot.isVisible() and panel.loss_plot.series == {}


def test_effect_panel_plots_what_a_real_stylization_reports(qtbot):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = np.arange(32, dtype=np.uint8)[None, :] * 8
    rgba[..., 3] = 255
    doc = Document.from_array(rgba)
    style = np.random.RandomState(0).rand(32, 32, 4).astype(np.float32)
    style[..., 3] = 1.0
    job = effect_job(
        doc.state,
        doc.layers[0].id,
        "stylize",
        {"style": ((style, 1.0),), "size": 32, "iterations": 12, "scales": 1},
    )
    runner = JobRunner("cpu")
    try:
        handle = runner.submit(job)
        assert handle.wait(60)
    finally:
        runner.shutdown()
    assert handle.state is JobState.DONE, handle.error_message

    panel = EffectPanel(get_effect("stylize"), _Context())
    qtbot.addWidget(panel)
    panel.show()
    panel.show_progress_data(handle.data)
    assert panel.loss_plot.isVisible()
    assert {"style", "content", "total"} <= set(panel.loss_plot.series)
    style_curve = [v for _, v in panel.loss_plot.series["style"]]
    assert style_curve[-1] < style_curve[0], "the plotted style loss falls"
