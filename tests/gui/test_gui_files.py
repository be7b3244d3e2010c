"""File menu: new, open, save, save as, export, recent files, drag and drop, prompts, errors."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import needs_io, small_document, wait_delivered
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document

pytestmark = needs_io


def _png(path, colour=(0, 128, 255, 255), size=(12, 8)):
    Image.new("RGBA", size, colour).save(path)
    return str(path)


def test_new_document_uses_the_dialog_size_and_background(window):
    def fill(dialog):
        dialog.width_spin.setValue(30)
        dialog.height_spin.setValue(20)
        dialog.background_combo.setCurrentText("Transparent")
        return True

    window.prompter.dialog_setup = fill
    assert window.new_document()
    state = window.doc.state
    assert (state.width, state.height) == (30, 20)
    assert not flatten(state).any()
    assert window.windowTitle().startswith("Untitled")


def test_title_shows_name_and_unsaved_mark(window):
    assert not window.isWindowModified()
    window.new_layer()
    assert window.isWindowModified() and "[*]" in window.windowTitle()
    window.undo()
    assert not window.isWindowModified()


def test_save_as_then_save_writes_ora_and_clears_the_mark(qtbot, window, tmp_path):
    target = tmp_path / "picture"  # the .ora suffix is added
    window.new_layer()
    window.prompter.save_path_answers.append(str(target))
    assert window.save_action.isEnabled()
    window.save_action.trigger()  # untitled: Save asks for a path
    saved = tmp_path / "picture.ora"
    qtbot.waitUntil(lambda: not window.isWindowModified(), timeout=10_000)
    assert saved.is_file() and window.doc.path == str(saved)
    assert not window.isWindowModified() and window.windowTitle().startswith("picture.ora")
    window.duplicate_layer()
    window.save_action.trigger()  # now Save writes in place, without asking
    qtbot.waitUntil(lambda: not window.isWindowModified(), timeout=10_000)
    assert window.prompter.save_path_answers == []
    reopened = open_document(str(saved))
    assert [layer.name for layer in reopened.layers] == [layer.name for layer in window.doc.layers]
    np.testing.assert_array_equal(flatten(reopened.state), flatten(window.doc.state))
    assert window.recent_files()[0] == str(saved)


def test_open_replaces_the_document_and_updates_recent_files(window, tmp_path):
    path = _png(tmp_path / "blue.png")
    window.prompter.open_answers.append([path])
    window.open_action.trigger()
    assert window.doc.path == path and window.doc.state.width == 12
    assert window.recent_files() == [path]
    window._fill_recent_menu()
    entries = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert "&1 blue.png" in entries


@pytest.mark.parametrize(
    ("answer", "expect_open", "expect_saved"),
    [
        ("cancel", False, False),
        ("discard", True, False),
        ("save", True, True),
    ],
)
def test_unsaved_changes_prompt_on_open(qtbot, window, tmp_path, answer, expect_open, expect_saved):
    other = _png(tmp_path / "other.png")
    window.new_layer()
    edited = window.doc
    window.prompter.save_answers.append(answer)
    window.prompter.save_path_answers.append(str(tmp_path / "kept.ora"))
    # Discard opens at once; Save opens once the save (on the long lane) has finished.
    assert window.open_path(other) is (expect_open and answer != "save")
    if answer == "save":
        qtbot.waitUntil(lambda: window.doc is not edited, timeout=10_000)
        assert not edited.dirty and edited.path == str(tmp_path / "kept.ora")
    assert window.prompter.asked_save == ["Untitled"]
    assert (window.doc is not edited) is expect_open
    assert (tmp_path / "kept.ora").exists() is expect_saved


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(qtbot, window):
    window.new_layer()
    window.prompter.save_answers.append("cancel")
    assert not window.close()
    assert window.isVisible() and window.doc.dirty
    window.prompter.save_answers.append("discard")
    assert window.close()
    assert window.prompter.asked_save == ["Untitled", "Untitled"]


def test_clean_document_closes_without_asking(window):
    assert window.close()
    assert window.prompter.asked_save == []


def test_unreadable_file_shows_the_plain_reason(window, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    state = window.doc.state
    assert not window.open_path(str(bad))
    assert window.doc.state is state
    title, reason = window.prompter.errors[-1]
    assert title == "Could not open the file" and reason.startswith("broken.png")
    assert "Traceback" not in reason


def test_export_writes_a_flattened_png_with_options(qtbot, window, tmp_path):
    path = str(tmp_path / "flat.png")
    window.prompter.save_path_answers.append(path)

    def options(dialog):
        assert not dialog.quality_spin.isEnabled()  # PNG has no quality setting
        dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(16))
        return True

    window.prompter.dialog_setup = options
    wait_delivered(qtbot, window, window.export_dialog())
    with open(path, "rb") as fh:
        header = fh.read(26)
    assert header[1:4] == b"PNG" and header[24] == 16  # IHDR bit depth: the 16-bit option was used
    assert int.from_bytes(header[16:20], "big") == 64 and int.from_bytes(header[20:24], "big") == 48
    reopened = open_document(path)
    np.testing.assert_allclose(
        reopened.layers[0].pixels.read_float(), flatten(window.doc.state, np.float32), atol=1 / 255
    )
    assert window.doc.path is None  # export does not change the document's file


def test_export_jpeg_offers_quality(qtbot, window, tmp_path):
    path = str(tmp_path / "flat.jpg")
    window.prompter.save_path_answers.append(path)
    seen = {}

    def options(dialog):
        seen["quality"] = dialog.quality_spin.isEnabled()
        dialog.quality_spin.setValue(50)
        return True

    window.prompter.dialog_setup = options
    wait_delivered(qtbot, window, window.export_dialog())
    assert seen["quality"]
    assert Image.open(path).format == "JPEG"


def _drop(window, paths, target=None, modifiers=Qt.KeyboardModifier.NoModifier):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    widget = target or window.canvas
    pos = QPointF(widget.mapTo(window, QPoint(widget.width() // 2, widget.height() // 2)))
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, modifiers)
    # QApplication.notify drops Drop events when no platform drag is running (offscreen),
    # so the event goes straight to the window, where a real drop on canvas or panel arrives.
    window.event(event)
    return event.isAccepted()  # the event points at `mime`: read it while `mime` lives


def test_dropping_a_file_on_the_canvas_opens_it(qtbot, window, tmp_path):
    path = _png(tmp_path / "dropped.png")
    assert _drop(window, [path])
    qtbot.waitUntil(lambda: window.doc.path == path, timeout=2000)
    assert window.doc.state.width == 12


def test_dropping_files_on_the_layers_panel_adds_layers(qtbot, window, tmp_path):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", (255, 0, 0, 255))
    doc = window.doc
    assert _drop(window, [a, b], target=window.layers_panel.tree)
    qtbot.waitUntil(lambda: len(doc.layers) == 4, timeout=2000)
    assert window.doc is doc and doc.path is None
    added = [layer for layer in doc.layers if layer.pixels.shape == (8, 12, 4)]
    assert len(added) == 2


def test_paste_of_copied_files_adds_them_as_layers(window, tmp_path):
    path = _png(tmp_path / "copied.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    QApplication.clipboard().setMimeData(mime)
    count = len(window.doc.layers)
    assert window.paste()
    assert len(window.doc.layers) == count + 1


def test_open_small_document_fixture_is_clean(window):
    assert small_document().dirty is False
