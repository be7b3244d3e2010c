"""One image picker for every image parameter: layers and files alike, one or several."""

from __future__ import annotations

import numpy as np
from gui_helpers import small_document, wait_delivered
from PIL import Image
from PySide6.QtCore import Qt

from warpaint.engine.core.selection import Selection
from warpaint.engine.runtime.jobs import JobState
from warpaint.engine.runtime.params import ParamType
from warpaint.gui.param_widgets import ImageParamWidget


def _image_file(path, colour, size=(64, 48)) -> str:
    Image.new("RGBA", size, colour).save(path)
    return str(path)


def test_every_image_parameter_offers_layers_and_files(window):
    seen = []
    for effect_id, panel in window.effects_panel.panels.items():
        for name, widget in panel.widgets.items():
            if widget.param.type not in (ParamType.IMAGE, ParamType.IMAGES):
                continue
            seen.append((effect_id, name))
            assert isinstance(widget, ImageParamWidget), (effect_id, name)
            assert (
                widget.add_file_button.text() == "Add file…" and widget.add_file_button.isEnabled()
            )
            assert widget.multiple is (widget.param.type is ParamType.IMAGES)
            layer_names = [n for _, n in window.layer_choices()]
            if widget.multiple:
                shown = [widget.list.item(i).text() for i in range(widget.list.count())]
            else:
                shown = [widget.combo.itemText(i) for i in range(widget.combo.count())]
            assert shown == layer_names, (effect_id, name)
    # Single and multiple pickers alike: arbitrary style's one style image and Stylize's list.
    assert ("arbitrary-style", "style") in seen and ("stylize", "style") in seen


def test_a_single_image_parameter_takes_a_file(qtbot, window, tmp_path):
    path = _image_file(tmp_path / "sky.png", (10, 120, 250, 255))
    panel = window.show_effect("arbitrary-style")
    style = panel.widgets["style"]
    assert isinstance(style.value(), int)  # a layer until the user says otherwise
    window.prompter.open_answers.append([path])
    with qtbot.waitSignal(style.changed, timeout=1000):
        style.add_file_button.click()
    assert style.value() == path and panel.values()["style"] == path
    assert style.combo.currentText() == "sky.png"
    assert style.combo.itemData(style.combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) == path
    # The file stays chosen when the layers change, and the layers stay on offer.
    window.new_layer()
    assert style.value() == path
    assert [style.combo.itemText(i) for i in range(style.combo.count())] == [
        *(n for _, n in window.layer_choices()),
        "sky.png",
    ]
    # Picking a layer again works as before.
    layer_id = window.doc.layers[0].id
    style.combo.setCurrentIndex(style.combo.findData(layer_id))
    assert style.value() == layer_id


def test_an_effect_applies_with_a_file_for_its_single_image(qtbot, window, tmp_path):
    """Splining blends the layer with its image parameter: here a file, not a layer."""
    path = _image_file(tmp_path / "green.png", (0, 255, 0, 255))
    doc = window.doc
    window.layers_panel.set_current_layer(doc.layers[0].id)
    panel = window.show_effect("splining")
    window.prompter.open_answers.append([path])
    panel.widgets["other"].add_file_button.click()
    # The mask: the layer on the left half, the other image on the right.
    window.set_selection(Selection("rectangle", 0, 0, 32, 48))
    assert panel.values()["other"] == path
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    job = wait_delivered(qtbot, window, window.bridge.long_jobs[0], timeout=30_000)
    assert job.state is JobState.DONE, job.error_message
    result = doc.layers[1].pixels.read_float()
    assert result.shape[:2] == (48, 64)
    # The right edge is the green file, the left edge the layer's gradient.
    np.testing.assert_allclose(
        result[:, -4:, :3], np.broadcast_to((0, 1, 0), (48, 4, 3)), atol=0.05
    )
    source = doc.layers[0].pixels.read_float()
    np.testing.assert_allclose(result[:, :4, :3], source[:, :4, :3], atol=0.05)


def test_a_single_image_parameter_offers_recent_files(qtbot, make_window, settings_path, tmp_path):
    path = _image_file(tmp_path / "waves.png", (20, 60, 200, 255))
    window = make_window(small_document())
    style = window.show_effect("arbitrary-style").widgets["style"]
    assert not style.recent_combo.isEnabled()
    window.prompter.open_answers.append([path])
    style.add_file_button.click()
    style.remember()  # what Apply records

    other = make_window(small_document(), settings_file=settings_path)
    other_style = other.show_effect("arbitrary-style").widgets["style"]
    combo = other_style.recent_combo
    assert [combo.itemText(i) for i in range(1, combo.count())] == ["waves.png"]
    assert isinstance(other_style.value(), int)
    with qtbot.waitSignal(other_style.changed, timeout=1000):
        combo.activated.emit(1)
    assert other_style.value() == path and combo.currentIndex() == 0


def test_several_images_mix_layers_and_files(qtbot, window, tmp_path):
    path = _image_file(tmp_path / "paper.png", (230, 220, 200, 255))
    style = window.show_effect("stylize").widgets["style"]
    square = window.doc.layers[1].id
    style.set_value(((square, 1.0),))
    window.prompter.open_answers.append([path])
    with qtbot.waitSignal(style.changed, timeout=1000):
        style.add_file_button.click()
    assert style.value() == ((square, 1.0), (path, 1.0))
    window.new_layer()  # the list follows the document and keeps the file and the ticks
    assert style.value() == ((square, 1.0), (path, 1.0))
    assert style.list.count() == len(window.doc.layers) + 1
