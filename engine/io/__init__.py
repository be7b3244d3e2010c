"""Files: image formats, OpenRaster, colour profiles, limits, atomic saves, recovery.

Everything here raises `BadInputError` with a one-line reason for a file that
cannot be used; nothing else escapes for bad input. Every writer goes through
`atomic_write`, so a failed or interrupted save never damages the old file.
"""

from warpaint.engine.io.atomic import atomic_write
from warpaint.engine.io.autosave import (
    Autosaver,
    RecoveryRecord,
    discard_recovery,
    list_recoveries,
    recovery_dir,
    restore_recovery,
    write_recovery,
)
from warpaint.engine.io.documents import (
    open_document,
    open_image_as_layer,
    read_image_array,
    read_state,
    save_document,
)
from warpaint.engine.io.info import describe
from warpaint.engine.io.limits import Limits
from warpaint.engine.io.ora import WARPAINT_NS, read_ora, write_ora
from warpaint.engine.io.raster import (
    EXPORT_FORMATS,
    OPEN_EXTENSIONS,
    ExportFormat,
    ExportResult,
    export_image,
)

__all__ = [
    "EXPORT_FORMATS",
    "OPEN_EXTENSIONS",
    "WARPAINT_NS",
    "Autosaver",
    "ExportFormat",
    "ExportResult",
    "Limits",
    "RecoveryRecord",
    "atomic_write",
    "describe",
    "discard_recovery",
    "export_image",
    "list_recoveries",
    "open_document",
    "open_image_as_layer",
    "read_image_array",
    "read_ora",
    "read_state",
    "recovery_dir",
    "restore_recovery",
    "save_document",
    "write_ora",
    "write_recovery",
]
