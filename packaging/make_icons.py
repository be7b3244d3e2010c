"""Render Warpaint's application icon to the PNG sizes desktops ask for.

    python packaging/make_icons.py OUT_DIR [--sizes 16,32,...]

Writes OUT_DIR/hicolor/<N>x<N>/apps/io.warpaint.Warpaint.png for each size
plus the scalable SVG, laid out as the freedesktop icon theme expects, so an
installer can copy OUT_DIR/hicolor into ~/.local/share/icons. Uses Qt's SVG
renderer offscreen (no display needed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

APP_ID = "io.warpaint.Warpaint"
# One source for the window icon and the desktop icons.
SOURCE = Path(__file__).resolve().parent.parent / "resources" / "icons" / "app-icon.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render_icons(out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SOURCE}")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = out_dir / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"cannot write {target}")
        written.append(target)
    scalable = out_dir / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    written.append(scalable)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    for path in render_icons(args.out_dir, sizes):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
