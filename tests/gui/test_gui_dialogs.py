"""Dialog labels and layouts, and pictures that stay sharp on high-DPI screens."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFormLayout, QLabel

from warpaint.engine.io import EXPORT_FORMATS
from warpaint.gui.dialogs import ExportOptionsDialog, NewDocumentDialog, ResizeDialog
from warpaint.gui.layers_panel import THUMB, _thumbnail_pixmap
from warpaint.gui.main_window import qimage_to_rgba, straight_qimage


def _labels(dialog) -> list[QLabel]:
    return [w for w in dialog.findChildren(QLabel) if w.text().endswith(":")]


def test_every_form_label_has_a_buddy_and_shows_no_stray_ampersand(qtbot):
    dialogs = [NewDocumentDialog(), ResizeDialog(300, 200, False), ResizeDialog(300, 200, True)]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        for label in _labels(dialog):
            assert "&" not in label.text() or label.buddy() is not None, label.text()
    background = [lab for lab in _labels(dialogs[0]) if "Background" in lab.text()]
    assert background and background[0].buddy() is dialogs[0].background_combo


def test_resize_dialogs_show_words_and_return_engine_names(qtbot):
    image = ResizeDialog(300, 200, canvas=False)
    canvas = ResizeDialog(300, 200, canvas=True)
    qtbot.addWidget(image)
    qtbot.addWidget(canvas)
    assert image.method == "lanczos" and image.method_combo.currentText().startswith("Lanczos")
    assert canvas.anchor == "center" and canvas.anchor_combo.currentText() == "Center"
    canvas.anchor_combo.setCurrentIndex(canvas.anchor_combo.findData("bottom-right"))
    assert canvas.anchor == "bottom-right" and canvas.anchor_combo.currentText() == "Bottom right"


def test_export_dialog_says_what_depth_the_file_will_hold(qtbot):
    jpeg = ExportOptionsDialog("/tmp/x.jpg", EXPORT_FORMATS["jpg"], 16, True)
    png = ExportOptionsDialog("/tmp/x.png", EXPORT_FORMATS["png"], 16, False)
    for dialog in (jpeg, png):
        qtbot.addWidget(dialog)
    assert jpeg.depth_combo.currentText().startswith("8-bit") and not jpeg.depth_combo.isEnabled()
    assert png.depth_combo.currentText() == "Same as the image (16-bit)"
    assert jpeg.choice().bit_depth is None  # the engine reduces it and notes that it did
    form = jpeg.findChild(QFormLayout)
    assert form.fieldGrowthPolicy() is QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow


def test_layer_thumbnails_use_device_pixels_at_2x():
    side = THUMB * 2
    stripes = np.zeros((side, side, 4), np.uint8)
    stripes[..., 3] = 255
    stripes[:, ::2, :3] = 255  # one-device-pixel stripes: blurred by any upscaling
    pixmap = _thumbnail_pixmap(straight_qimage(stripes), 2.0)
    assert (pixmap.width(), pixmap.height()) == (side, side) and pixmap.devicePixelRatio() == 2
    shown = qimage_to_rgba(pixmap.toImage().convertToFormat(QImage.Format.Format_RGBA8888))
    inner = shown[4:-4, 4:-4, 0]  # inside the frame
    assert set(np.unique(inner)) == {0, 255}
    assert (inner[:, 1:] != inner[:, :-1]).all()  # each stripe is one device pixel wide
