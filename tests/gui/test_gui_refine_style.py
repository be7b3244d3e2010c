"""The "Refine for this style" row of the arbitrary-style panel, driven by its button:
it refines on the long lane, shows the judged gain, previews with the refined
decoder; Cancel keeps the state and the button resumes it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gui_helpers import wait_delivered
from PySide6.QtCore import Qt

from warpaint.engine.core.document import Document, Layer
from warpaint.engine.features.arbitrary_style.refine import RefineConfig, saved_step
from warpaint.engine.features.arbitrary_style.refined import image_key
from warpaint.engine.runtime.jobs import JobState
from warpaint.engine.runtime.models import user_models_dir
from warpaint.gui.refine_style import RefineStyleWidget

# A few steps of small crops: seconds, not the minute a user gives it.
TINY = RefineConfig(seconds=0, steps=4, crop=32, batch=1, pool_side=64)


@pytest.fixture(autouse=True)
def _user_folder(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _document() -> tuple[Document, int, int]:
    """A photo layer (the content) under a stripes layer (the style)."""
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (64, 64), anti_aliasing=True)
    rgba = np.concatenate([np.round(photo * 255), np.full((64, 64, 1), 255)], 2)
    doc = Document.from_array(rgba.astype(np.uint8), name="Photo")
    stripes = np.zeros((48, 48, 4), np.uint8)
    stripes[..., 3] = 255
    stripes[:, ::6, 0] = 255
    stripes[::4, :, 2] = 200
    style = Layer.from_array("Stripes", stripes)
    doc.add_layer(style)
    doc.mark_saved()
    return doc, doc.layers[0].id, style.id


def _refine_row(window: Any, config: RefineConfig) -> tuple[Any, RefineStyleWidget, int, int]:
    doc, photo_id, style_id = _document()
    window.set_document(doc)
    window.layers_panel.set_current_layer(photo_id)
    panel = window.show_effect("arbitrary-style")
    panel.set_values({"style": style_id})
    # The window puts the row under the arbitrary-style panel itself.
    tool: RefineStyleWidget = window.refine_tool
    tool.config = config  # a tiny budget, so the test takes seconds
    return panel, tool, photo_id, style_id


def _keys(window: Any, photo_id: int, style_id: int) -> tuple[str, str]:
    import torch

    def key(layer_id: int) -> str:
        pixels = window.doc.layer(layer_id).pixels.read_float()
        return image_key(torch.from_numpy(pixels[..., :3].copy()).permute(2, 0, 1)[None])

    return key(style_id), key(photo_id)


def test_the_button_refines_shows_the_gain_and_previews_with_the_refined_decoder(
    qtbot: Any, make_window: Any
) -> None:
    window = make_window()
    panel, row, _, _ = _refine_row(window, TINY)
    assert row.parent() is panel
    qtbot.waitUntil(lambda: row.isVisibleTo(panel))  # the layout shows it on the next turn
    previews: list[Any] = []
    window.bridge.job_finished.connect(
        lambda job: previews.append(job) if job.label.startswith("Preview of") else None
    )

    qtbot.mouseClick(row.refine_button, Qt.MouseButton.LeftButton)
    job = row.job
    assert job is not None and job in window.bridge.long_jobs  # the window's bar and Cancel
    assert not row.refine_button.isEnabled() and row.cancel_button.isVisibleTo(row)
    wait_delivered(qtbot, window, job, timeout=60_000)

    assert job.state is JobState.DONE and row.result.steps == TINY.steps
    text = row.status_label.text()
    assert "texture" in text and "->" in text and "SSIM" in text
    assert row.refine_button.isEnabled() and not row.cancel_button.isVisibleTo(row)
    assert list(user_models_dir().glob("adain-refined-stripes-*.safetensors"))

    # The preview after it runs with the decoder refined for the style.
    def refined_preview() -> bool:
        return any(
            p.state is JobState.DONE and any("refined" in m for m in p.result[0].messages)
            for p in previews
        )

    qtbot.waitUntil(refined_preview, timeout=20_000)


def test_cancel_keeps_the_state_and_the_button_resumes_it(qtbot: Any, make_window: Any) -> None:
    window = make_window()
    long_run = RefineConfig(seconds=0, steps=400, crop=32, batch=1, pool_side=64)
    panel, row, photo_id, style_id = _refine_row(window, long_run)

    qtbot.mouseClick(row.refine_button, Qt.MouseButton.LeftButton)
    job = row.job
    assert job is not None
    qtbot.waitUntil(lambda: isinstance(job.data, dict) and job.data["step"] >= 2, timeout=30_000)
    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    wait_delivered(qtbot, window, job, timeout=30_000)

    assert job.state is JobState.CANCELLED
    assert "resume" in row.status_label.text()
    saved = saved_step(*_keys(window, photo_id, style_id))
    assert 2 <= saved < long_run.steps

    # Pressed again (a shorter budget now, so the test ends soon): it goes on from there.
    row.config = RefineConfig(seconds=0, steps=saved + 2, crop=32, batch=1, pool_side=64)
    qtbot.mouseClick(row.refine_button, Qt.MouseButton.LeftButton)
    again = row.job
    assert again is not None
    wait_delivered(qtbot, window, again, timeout=60_000)
    assert again.state is JobState.DONE
    assert row.result.resumed_from == saved and row.result.steps == saved + 2
