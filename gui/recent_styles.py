"""The recent style images of an IMAGES parameter, kept in QSettings.

Entries are "file:<path>" or "layer:<name>"; layer ids do not survive a
reopened document, names usually do. Missing files are dropped on reading.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

MAX_RECENT_STYLES = 8
FILE, LAYER = "file:", "layer:"


def _key(param_name: str) -> str:
    return f"effects/recent_images/{param_name}"


def recent_styles(settings: QSettings, param_name: str) -> list[str]:
    value = settings.value(_key(param_name), [])
    entries = [value] if isinstance(value, str) else list(value or [])
    return [
        e
        for e in entries
        if isinstance(e, str)
        and (e.startswith(LAYER) or (e.startswith(FILE) and os.path.isfile(e[len(FILE) :])))
    ]


def remember_styles(settings: QSettings, param_name: str, entries: list[str]) -> None:
    """Put `entries` (newest first) in front of the recent list, without duplicates."""
    if not entries:
        return
    merged = list(dict.fromkeys([*entries, *recent_styles(settings, param_name)]))
    settings.setValue(_key(param_name), merged[:MAX_RECENT_STYLES])
