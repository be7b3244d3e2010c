"""Opening a file says what the reader noticed (unknown blend modes, a live
mask dropped) in the status bar, without a dialog: the file did open."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from gui_helpers import needs_io, wait_delivered
from PIL import Image

pytestmark = needs_io

XML = """<image w="6" h="4"><stack>
<layer name="Marker" src="data/a.png" composite-op="svg:-dp-marker"/>
<layer name="Erase" src="data/a.png" composite-op="svg:-dp-erase-light"/>
</stack></image>"""


def _ora(path: Path, stack_xml: str) -> Path:
    png = io.BytesIO()
    Image.new("RGBA", (6, 4), (200, 100, 50, 255)).save(png, "PNG")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", b"image/openraster")
        zf.writestr("stack.xml", stack_xml)
        zf.writestr("data/a.png", png.getvalue())
    return path


def test_opening_a_file_with_unknown_blend_modes_says_so_in_the_status_bar(make_window, tmp_path):
    window = make_window()
    path = _ora(tmp_path / "drawpile.ora", XML)
    assert window.open_path(str(path))
    message = window.statusBar().currentMessage()
    assert message.startswith("Opened drawpile.ora")
    assert (
        "2 layers use blend modes Warpaint does not know; they are shown as normal and kept"
        in message
    )
    assert [layer.name for layer in window.doc.layers] == ["Erase", "Marker"]


def test_opening_a_plain_file_says_only_that_it_opened(make_window, tmp_path):
    window = make_window()
    xml = '<image w="6" h="4"><stack><layer name="a" src="data/a.png"/></stack></image>'
    path = _ora(tmp_path / "plain.ora", xml)
    assert window.open_path(str(path))
    assert window.statusBar().currentMessage() == "Opened plain.ora"


def test_saving_says_which_foreign_members_could_not_be_carried(make_window, qtbot, tmp_path):
    # Another program's extra member is carried from the file the document came
    # from; when that file is gone by the time of saving, the save still works
    # and says what it could not keep instead of dropping it silently.
    window = make_window()
    xml = '<image w="6" h="4"><stack><layer name="a" src="data/a.png"/></stack></image>'
    path = _ora(tmp_path / "foreign.ora", xml)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("drawpile/timeline.json", b'{"frames": [1]}')
    assert window.open_path(str(path))
    path.unlink()
    job = wait_delivered(qtbot, window, window.save_to(str(tmp_path / "out.ora")))
    message = window.statusBar().currentMessage()
    assert message.startswith("Saved out.ora; ")
    assert "foreign.ora" in message and "were not kept" in message
    with zipfile.ZipFile(tmp_path / "out.ora") as zf:
        assert "drawpile/timeline.json" not in zf.namelist()
    assert job.result
