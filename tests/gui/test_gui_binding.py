"""The Qt binding itself: a known PySide6 refcount bug must not be installed."""

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def test_static_qt_calls_do_not_leak_references_to_none(qapp):
    # PySide6 6.12.0 dropped a reference to None on each such call; on Python
    # 3.11 the interpreter aborts after a few thousand ("deallocating None").
    before = sys.getrefcount(None)
    for _ in range(2000):
        QApplication.processEvents()
        QTimer.singleShot(0, lambda: None)
    QApplication.processEvents()
    assert abs(sys.getrefcount(None) - before) < 100
