"""Warpaint: a desktop image editor with neural and multiresolution effects.

`warpaint.engine` (document, effects, jobs, files; no Qt), `warpaint.gui`
(the PySide6 editor) and `warpaint.app` (the `warpaint` command and the demo)
sit under this package. Importing it loads neither torch nor Qt.

Scripts start here (see `warpaint.api` and docs/recipes.md):

    import warpaint

    doc = warpaint.open("in.jpg")
    doc.apply("gaussian-blur", sigma=3)
    doc.export("out.png")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warpaint.api import Document, Layer

# Before anything loads torch: bound how long libgomp's threads spin while
# waiting, so another busy program does not halve the speed (see cpu_threads).
from warpaint.engine.runtime.cpu_threads import configure_openmp  # noqa: E402

configure_openmp()

__version__ = "0.1.0"
__all__ = ["Document", "Layer", "__version__", "new", "open"]


def open(path: str | os.PathLike[str]) -> Document:
    """Open an image or an OpenRaster document (`warpaint.api.open`)."""
    from warpaint import api

    return api.open(path)


def new(
    width: int,
    height: int,
    background: tuple[float, float, float, float] | None = (1.0, 1.0, 1.0, 1.0),
) -> Document:
    """A new document with one background layer (`warpaint.api.new`)."""
    from warpaint import api

    return api.new(width, height, background)


def __getattr__(name: str) -> Any:
    # The classes load with the API, on first use, so `import warpaint` stays light.
    if name in ("Document", "Layer"):
        from warpaint import api

        return getattr(api, name)
    raise AttributeError(f"module 'warpaint' has no attribute {name!r}")
