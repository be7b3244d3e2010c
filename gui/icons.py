"""Icons drawn for Warpaint, loaded from the installed `warpaint.resources` package."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from PySide6.QtGui import QIcon


@cache
def icon(name: str) -> QIcon:
    """The icon `resources/icons/<name>.svg` (an empty icon if it is missing)."""
    resource = files("warpaint.resources").joinpath("icons", f"{name}.svg")
    if not resource.is_file():
        return QIcon()
    return QIcon(str(resource))
