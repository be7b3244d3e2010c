"""The History panel's "Save steps as recipe…": the dialog's path gets the
effect steps as a recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gui_helpers import small_document
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from warpaint.engine.core.document import Document
from warpaint.engine.runtime.apply import commit_effect, effect_job
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.gui.history_panel import HistoryPanel


def blur(doc: Document, sigma: float) -> None:
    job = effect_job(doc.state, doc.layers[-1].id, "gaussian-blur", {"sigma": sigma})
    commit_effect(doc, job(JobContext(Job(lambda c: None))))


@pytest.fixture
def panel(qtbot: Any) -> HistoryPanel:
    widget = HistoryPanel()
    qtbot.addWidget(widget)
    return widget


def choose(monkeypatch: pytest.MonkeyPatch, path: str) -> list[str]:
    """Make the save dialog answer `path`; returns the suggested names it was shown."""
    shown: list[str] = []

    def answer(_parent: Any, _title: str, suggested: str, _filter: str) -> tuple[str, str]:
        shown.append(suggested)
        return path, "Warpaint recipes (*.json)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    return shown


def test_the_action_is_enabled_once_an_effect_step_exists(panel: HistoryPanel) -> None:
    doc = small_document()
    panel.set_document(doc)
    assert not panel.save_recipe_button.isEnabled()
    blur(doc, 1.0)
    assert panel.save_recipe_button.isEnabled()
    doc.undo()
    assert not panel.save_recipe_button.isEnabled()


def test_saving_writes_the_steps_to_the_chosen_path(
    panel: HistoryPanel, qtbot: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = small_document()
    doc.path = str(tmp_path / "poster.ora")
    panel.set_document(doc)
    blur(doc, 1.5)
    blur(doc, 3.0)
    shown = choose(monkeypatch, str(tmp_path / "soft"))
    with qtbot.waitSignal(panel.recipe_saved) as saved:
        qtbot.mouseClick(panel.save_recipe_button, Qt.MouseButton.LeftButton)
    assert shown == [str(tmp_path / "poster.recipe.json")]
    assert saved.args == [str(tmp_path / "soft.json")]
    data = json.loads((tmp_path / "soft.json").read_text())
    assert data["warpaint_recipe"] == 1
    assert [(s["effect"], s["params"]["sigma"]) for s in data["steps"]] == [
        ("gaussian-blur", 1.5),
        ("gaussian-blur", 3.0),
    ]


def test_cancelling_the_dialog_writes_nothing(
    panel: HistoryPanel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = small_document()
    panel.set_document(doc)
    blur(doc, 1.0)
    choose(monkeypatch, "")
    panel.save_recipe_button.click()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_is_shown_not_raised(
    panel: HistoryPanel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = Document.from_array(np.zeros((8, 8, 4), np.uint8))
    panel.set_document(doc)
    blur(doc, 1.0)
    choose(monkeypatch, str(tmp_path / "missing" / "r.json"))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))
    panel.save_recipe_button.click()
    assert len(warnings) == 1 and "no such folder" in warnings[0]
