"""Desktop integration files: they parse, agree with each other and with the app."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.warpaint.Warpaint"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_launches_the_editor_with_files_and_claims_our_formats() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split() == ["warpaint", "gui", "%F"]
    assert entry["Icon"] == APP_ID
    mime = entry["MimeType"].rstrip(";").split(";")
    assert {"image/openraster", "image/png", "image/jpeg"} <= set(mime)
    assert entry["Categories"].endswith(";") and "Graphics" in entry["Categories"].split(";")


def test_appstream_metadata_names_the_desktop_entry_and_licences() -> None:
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    launchable = root.find("launchable")
    assert launchable is not None and (LINUX / launchable.text.strip()).is_file()
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("name") == "Warpaint" and root.findtext("summary")
    assert root.find("description/p") is not None


def test_openraster_mime_magic_matches_the_files_we_write(tmp_path: Path) -> None:
    import numpy as np

    from warpaint.engine.core.document import DocState, Layer
    from warpaint.engine.core.tiles import TiledImage
    from warpaint.engine.io.ora import write_ora

    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    mime = ET.parse(LINUX / "warpaint-openraster.xml").getroot().find(f"{ns}mime-type")
    assert mime is not None and mime.get("type") == "image/openraster"
    assert mime.find(f"{ns}glob").get("pattern") == "*.ora"
    match = mime.find(f"{ns}magic/{ns}match")
    offset, value = int(match.get("offset")), match.get("value").encode()

    pixels = TiledImage.from_array(np.zeros((4, 4, 4), np.uint8))
    path = tmp_path / "doc.ora"
    write_ora(DocState(4, 4, (Layer("Background", pixels),)), path)
    assert path.read_bytes()[offset : offset + len(value)] == value


def test_icons_render_at_every_desktop_size(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from make_icons import render_icons
    finally:
        sys.path.pop(0)
    written = render_icons(tmp_path, (16, 48, 256))
    for size in (16, 48, 256):
        image = QImage(str(tmp_path / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        assert (image.width(), image.height()) == (size, size)
        # Opaque tile in the middle, transparent rounded corner.
        assert image.pixelColor(size // 2, size // 4).alpha() == 255
        assert image.pixelColor(0, 0).alpha() == 0
    assert written[-1].suffix == ".svg" and written[-1].is_file()


def test_pyinstaller_spec_and_launcher_are_valid_python_naming_real_files() -> None:
    spec = (ROOT / "packaging" / "warpaint.spec").read_text()
    compile(spec, "warpaint.spec", "exec")
    compile((ROOT / "packaging" / "launcher.py").read_text(), "launcher.py", "exec")
    assert '"packaging" / "launcher.py"' in spec
    assert "pyinstaller-src" in spec and "resources" in spec


@pytest.mark.slow
def test_editor_start_up_probe_reports_a_shown_window(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        WARPAINT_STARTUP_PROBE="1",
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-m", "warpaint.app.cli", "gui"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "window shown: True" in done.stdout
