"""The fast-style panel's "New preset from image…": a real job on the long lane
with progress, ETA and Cancel, resumed from its saved step, and the finished
preset in the panel's own gallery, selected, previewed and left again."""

from __future__ import annotations

from typing import Any

import numpy as np
from gui_helpers import small_document
from PIL import Image
from PySide6.QtCore import Qt

from warpaint.engine.features.fast_style import user_presets
from warpaint.engine.features.fast_style.preset_job import PresetBudget
from warpaint.gui.new_preset import NewPresetDialog, NewPresetWidget

TINY = PresetBudget(
    size=32,
    crops=2,
    gatys_evaluations=4,
    gatys_batch=1,
    steps=80,
    batch=2,
    gatys_network="vgg19-random-slim",
    loss_network="vgg19-random-slim",
    half=8,
    quarter=16,
    blocks=2,
)


def test_a_preset_made_in_the_panel_cancels_resumes_and_joins_the_gallery(
    qtbot: Any, make_window: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    ys, xs = np.mgrid[0:48, 0:64]
    stripes = np.where(((xs + ys) // 6 % 2 == 0)[..., None], [220, 40, 30], [30, 60, 200])
    style = tmp_path / "stripes.png"
    Image.fromarray(stripes.astype(np.uint8)).save(style)

    window = make_window(small_document())
    panel = window.show_effect("fast-style")
    tool = panel.findChild(NewPresetWidget)
    assert tool is not None and tool.isVisible()
    assert not tool.gallery.isVisible() and not tool.resume_button.isVisible()
    tool.budget = TINY

    def fill(dialog: NewPresetDialog) -> bool:
        dialog.set_image(str(style))
        assert dialog.name_edit.text() == "stripes", "the name starts as the file's"
        return True

    window.prompter.dialog_setup = fill
    reports: list[Any] = []
    window.bridge.job_progress.connect(lambda job, f, _p: reports.append((job, job.data)))
    qtbot.mouseClick(tool.new_button, Qt.MouseButton.LeftButton)
    first = tool.job
    assert first is not None and tool.cancel_button.isVisible()
    assert not tool.new_button.isEnabled() and window.progress_bar.isVisible()

    def training(job: Any, at_least: int) -> bool:
        return any(
            j is job and d is not None and d.phase == "training" and d.done >= at_least
            for j, d in reports
        )

    qtbot.waitUntil(lambda: training(first, 3), timeout=60_000)
    assert "training" in tool.status.text() and "left" in tool.status.text()
    qtbot.mouseClick(tool.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tool.job is None, timeout=30_000)
    assert "stopped" in tool.status.text()
    saved = user_presets.read_job_state(user_presets.work_dir("stripes"))
    assert saved is not None and 3 <= saved["step"] < TINY.steps
    assert tool.resume_button.isVisible()
    expected = f"Unfinished: “stripes”, step {saved['step']} of {TINY.steps}"
    assert tool.resume_label.text() == expected

    # A new tool (the editor started again) offers the same resume.
    again = NewPresetWidget(panel, window)
    assert not again.resume_button.isHidden() and again.resume_label.text() == expected
    again.deleteLater()

    added: list[str] = []
    tool.preset_added.connect(added.append)
    qtbot.mouseClick(tool.resume_button, Qt.MouseButton.LeftButton)
    second = tool.job
    qtbot.waitUntil(lambda: added == ["stripes"], timeout=60_000)
    resumed = [d for j, d in reports if j is second and d is not None and d.phase == "training"]
    assert resumed and resumed[0].done == saved["step"], "training continues at the saved step"
    assert all(d.resumed_from == saved["step"] for d in resumed)

    path = str(user_presets.preset_path("stripes"))
    assert tool.names() == ["stripes"] and tool.gallery.isVisible()
    assert tool.selected() == "stripes" and panel.values()["model"] == path
    assert not tool.resume_button.isVisible() and tool.new_button.isEnabled()
    qtbot.waitUntil(lambda: bool(tool._pictures), timeout=30_000)
    icon = tool.gallery.item(0).icon().pixmap(tool.SIDE).toImage()
    grid = range(0, tool.SIDE, 8)
    assert len({icon.pixel(x, y) for x in grid for y in grid}) > 4, "drawn, not the placeholder"

    # Picking a shipped preset leaves the user's preset: the one shown as current too.
    gallery = panel.widgets["preset"]
    assert not gallery.list.selectedItems(), "only the user's preset looks chosen"
    current = gallery.list.currentItem()
    qtbot.mouseClick(
        gallery.list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=gallery.list.visualItemRect(current).center(),
    )
    qtbot.waitUntil(lambda: panel.values()["model"] is None, timeout=10_000)
    assert tool.selected() is None
    tool.select("stripes")
    assert panel.values()["model"] == path
    other = next(
        i
        for i in range(gallery.list.count())
        if gallery.list.item(i).data(Qt.ItemDataRole.UserRole) != panel.values()["preset"]
    )
    gallery.list.setCurrentRow(other)
    qtbot.waitUntil(lambda: panel.values()["model"] is None, timeout=10_000)
    assert tool.selected() is None


def test_a_bad_name_is_refused_in_the_tool_without_a_job(
    qtbot: Any, make_window: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    style = tmp_path / "style.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(style)
    window = make_window(small_document())
    tool = window.show_effect("fast-style").findChild(NewPresetWidget)
    assert tool.start("a/b", str(style)) is None
    assert tool.job is None and "preset name" in tool.status.text()
    assert tool.start("fine", str(tmp_path / "missing.png")) is None
    assert "no such file" in tool.status.text()
