"""Suite-wide setup: offscreen Qt, a sane thread count, a clean clipboard, and
tests/helpers (the file corpus, job helpers) importable from every test folder."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep torch from oversubscribing the 2-core CI machine when both lanes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _clear_clipboard_after_test():
    yield
    qtgui = sys.modules.get("PySide6.QtGui")
    if qtgui is not None and qtgui.QGuiApplication.instance() is not None:
        # A QMimeData that a test put on the clipboard is freed by Python when
        # the test ends and again by Qt at exit (a segfault at interpreter
        # shutdown): clearing it while both sides still live avoids that.
        qtgui.QGuiApplication.clipboard().clear()
