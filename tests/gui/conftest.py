"""pytest-qt fixtures: offscreen Qt, throwaway settings and recovery folder, scripted prompts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from gui_helpers import ScriptedPrompter, small_document  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402

from warpaint.engine.core.document import Document  # noqa: E402
from warpaint.gui.main_window import MainWindow  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARPAINT_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("WARPAINT_DEVICE", "cpu")
    # Anything that still reaches the default QSettings lands in tmp, never the user's.
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qs")
    )
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    QCoreApplication.setOrganizationName("WarpaintTests")
    QCoreApplication.setApplicationName("WarpaintTests")


@pytest.fixture
def settings_path(tmp_path: Any) -> str:
    return str(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot: Any, settings_path: str) -> Iterator[Callable[..., MainWindow]]:
    def make(doc: Document | None = None, settings_file: str | None = None) -> MainWindow:
        settings = QSettings(settings_file or settings_path, QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, prompter=ScriptedPrompter(), device="cpu")
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        if doc is not None:
            window.set_document(doc)
        return window

    yield make


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    """A window on a small two-layer document."""
    return make_window(small_document())
