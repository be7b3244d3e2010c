"""Warpaint: a desktop image editor with neural and multiresolution effects.

`warpaint.engine` (document, effects, jobs, files; no Qt), `warpaint.gui`
(the PySide6 editor) and `warpaint.app` (the `warpaint` command and the demo)
sit under this package. Importing it loads neither torch nor Qt.
"""

__version__ = "0.1.0"
