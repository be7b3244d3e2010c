"""Entry points the command line calls: the interactive app and the offscreen screenshot."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication

from warpaint.engine.core.document import Document

ORGANIZATION = "Warpaint"
APPLICATION = "Warpaint"


def ensure_app() -> QApplication:
    """The QApplication, created once with the names QSettings uses."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1] or ["warpaint"])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setOrganizationDomain("warpaint.invalid")
    QCoreApplication.setApplicationName(APPLICATION)
    # Ties windows to packaging/linux/io.warpaint.Warpaint.desktop (icon, grouping).
    QApplication.setDesktopFileName("io.warpaint.Warpaint")
    from warpaint.gui.icons import icon

    app.setWindowIcon(icon("app-icon"))  # type: ignore[union-attr]
    return app  # type: ignore[return-value]


def run_gui(files: list[str], device: str | None = None) -> int:
    """Open the main window on `files` (or the bundled sample) and run until it closes."""
    app = ensure_app()
    from warpaint.engine.core.samples import sample_document
    from warpaint.gui.main_window import MainWindow

    window = MainWindow(device=device)
    window.show()
    recovered = window.offer_recovery()
    if files and window.open_path(files[0]):
        for path in files[1:]:
            window.add_layer_from_path(path)
    if window.doc is None and not recovered:
        window.set_document(sample_document())
    if os.environ.get("WARPAINT_STARTUP_PROBE"):
        # Packaging's smoke test times the start: quit once the event loop has
        # run with the window shown (its first paint is queued before this).
        from PySide6.QtCore import QTimer

        def report() -> None:
            print(f"warpaint: window shown: {window.isVisible()}", flush=True)
            app.quit()

        QTimer.singleShot(0, report)
    return app.exec()


def save_screenshot(doc: Document, path: str, size: tuple[int, int] = (1280, 800)) -> None:
    """Render the main window showing `doc` offscreen and save it as a PNG at `path`."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = ensure_app()
    from warpaint.gui.dialogs import Prompter
    from warpaint.gui.main_window import MainWindow

    class _Quiet(Prompter):
        def ask_save_changes(self, parent: object, name: str) -> str:  # type: ignore[override]
            return "discard"

    with tempfile.TemporaryDirectory() as tmp:
        # A throwaway settings file: the screenshot always shows the default layout.
        settings = QSettings(os.path.join(tmp, "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, prompter=_Quiet())
        window.resize(*size)
        window.set_document(doc)
        window.show()
        window.show_effect(next(iter(window.effects_panel.panels)))
        app.processEvents()
        window.canvas.fit()
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            app.processEvents()
            if window.canvas.tiles_ready() and window.layers_panel.thumbnails_ready():
                break
            time.sleep(0.01)
        app.processEvents()
        if not window.grab().save(path, "PNG"):
            raise OSError(f"could not write the screenshot to {path}")
        window.close()
        window.deleteLater()
        app.processEvents()
