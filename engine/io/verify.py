"""Checking that an image file's data is whole, for `warpaint info`.

A header can be intact while the data after it is cut short; `info` reads
only headers otherwise, so it would describe a file that no command can open.
These checks read the whole file without keeping its pixels where they can:
PNG data is inflated and thrown away as it streams (`pngio.verify_stream`),
a JPEG is decoded at 1/8 scale (libjpeg still reads every scan). Other
formats are decoded, within the limits the header was already checked against.
"""

from __future__ import annotations

import os

from warpaint.engine.io import pngio
from warpaint.engine.io.limits import Limits
from warpaint.engine.io.raster import _pil_open, decoding, read_head, read_raster, sniff
from warpaint.engine.runtime.errors import BadInputError


def verify_raster(path: str | os.PathLike[str], limits: Limits, name: str | None = None) -> None:
    """Raise BadInputError (one line) unless the image at `path` decodes completely."""
    what = name or os.fspath(path)
    kind = sniff(read_head(path))
    if kind == "PNG":
        try:
            with open(path, "rb") as fh:
                reason = pngio.verify_stream(fh.read)
        except OSError as err:
            raise BadInputError(f"{what}: cannot be read ({err.strerror or err})") from None
        if reason is not None:
            raise BadInputError(f"{what}: the file is damaged ({reason})")
    elif kind == "JPEG":
        with _pil_open(path, limits, what) as im, decoding(what):
            im.draft(im.mode, ((im.width + 7) // 8, (im.height + 7) // 8))
            im.load()
    else:
        read_raster(path, limits, what)
