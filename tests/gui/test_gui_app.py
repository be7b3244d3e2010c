"""Application level: settings between windows, crash recovery, the CLI's entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
from gui_helpers import needs_io, small_document, wait_delivered
from PIL import Image
from PySide6.QtCore import QSize

from warpaint.engine import io as wio
from warpaint.engine.core.compositing import flatten

pytestmark = needs_io


def test_window_layout_and_recent_files_persist_between_windows(
    make_window, settings_path, tmp_path
):
    first = make_window(small_document())
    first.resize(700, 520)  # inside the offscreen screen (800 x 600)
    first.history_dock.hide()
    first._add_recent(str(tmp_path / "a.ora"))
    assert first.close()

    second = make_window(small_document(), settings_file=settings_path)
    assert second.size() == QSize(700, 520)
    assert second.history_dock.isHidden() and not second.layers_dock.isHidden()
    assert second.recent_files() == [str(tmp_path / "a.ora")]


def test_recovery_is_offered_after_a_crash(make_window, tmp_path):
    recovery = tmp_path / "recovery"
    crash = textwrap.dedent(
        f"""
        import os
        os.environ["WARPAINT_RECOVERY_DIR"] = {str(recovery)!r}
        import numpy as np
        from warpaint.engine.core.document import Document
        from warpaint.engine.io import Autosaver
        doc = Document.from_array(np.full((20, 30, 4), (10, 200, 30, 255), np.uint8))
        doc.set_layer_props(doc.layers[0].id, opacity=0.5)
        Autosaver(1.0).save_now(doc)
        os._exit(1)  # a crash: no discard
        """
    )
    subprocess.run([sys.executable, "-c", crash], check=False, timeout=120)
    assert len(wio.list_recoveries()) == 1

    window = make_window(small_document())
    window.prompter.recover_answers.append("restore")
    assert window.offer_recovery()
    assert (
        len(window.prompter.asked_recover) == 1 and "Untitled" in window.prompter.asked_recover[0]
    )
    doc = window.doc
    assert (doc.state.width, doc.state.height) == (30, 20) and doc.layers[0].opacity == 0.5
    assert doc.dirty and window.isWindowModified()  # recovered work is not saved yet
    assert wio.list_recoveries() == []


def test_recovery_can_be_discarded_or_kept_for_later(make_window):
    state = small_document().state
    record = wio.write_recovery(state, "abc123")
    import json

    data = json.loads(record.json_path.read_text())
    data["pid"] = 999_999_999  # a writer that is gone
    record.json_path.write_text(json.dumps(data))
    window = make_window(small_document())
    window.prompter.recover_answers.append("later")
    assert not window.offer_recovery()
    assert len(wio.list_recoveries()) == 1
    window.prompter.recover_answers.append("discard")
    assert not window.offer_recovery()
    assert wio.list_recoveries() == []


def test_autosave_writes_a_recovery_copy_and_a_clean_close_removes_it(qtbot, make_window):
    window = make_window(small_document())
    assert window.autosave(force=True) is None  # nothing unsaved yet
    window.new_layer()
    wait_delivered(qtbot, window, window.autosave(force=True))
    records = wio.list_recoveries(include_running=True)
    assert len(records) == 1 and records[0].layers == 3
    assert window.close()
    assert wio.list_recoveries(include_running=True) == []


def test_save_screenshot_renders_the_window_with_layers_and_effects(tmp_path):
    from warpaint.engine.core.samples import sample_document
    from warpaint.gui.app import save_screenshot

    path = tmp_path / "shot.png"
    save_screenshot(sample_document(), str(path), size=(1000, 700))
    with Image.open(path) as image:
        assert image.size == (1000, 700)
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 20  # a picture, not a blank window


def test_screenshot_works_from_a_plain_script(tmp_path):
    path = tmp_path / "demo.png"
    script = textwrap.dedent(
        f"""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from warpaint.engine.core.samples import sample_document
        from warpaint.gui.app import save_screenshot
        save_screenshot(sample_document(), {str(path)!r}, (800, 600))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    with Image.open(path) as image:
        assert image.size == (800, 600)


def test_run_gui_opens_the_files_or_the_sample(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QApplication

    from warpaint.gui import app as gui_app
    from warpaint.gui.main_window import MainWindow

    seen = []
    monkeypatch.setattr(QApplication, "exec", lambda *a: seen.append("exec") or 0)
    assert gui_app.run_gui([]) == 0
    windows = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
    ]
    sample = windows[-1]
    assert [layer.name for layer in sample.doc.layers] == [
        "Astronaut",
        "Coffee (masked)",
        "Colour wash",
    ]
    sample.close()
    path = tmp_path / "one.png"
    Image.new("RGBA", (7, 5), (1, 2, 3, 255)).save(path)
    assert gui_app.run_gui([str(path)], device="cpu") == 0
    windows = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
    ]
    opened = windows[-1]
    assert opened.doc.path == str(path)
    np.testing.assert_array_equal(flatten(opened.doc.state)[0, 0], (1, 2, 3, 255))
    opened.close()
    assert seen == ["exec", "exec"]
