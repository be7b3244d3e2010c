"""Opening and saving documents: the entry points the CLI and the GUI call."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocMeta, DocState, Document, Layer
from warpaint.engine.core.tiles import TiledImage, to_float
from warpaint.engine.io.atomic import remove_stale_temp_files
from warpaint.engine.io.limits import Limits, resolve
from warpaint.engine.io.ora import read_ora, write_ora
from warpaint.engine.io.raster import read_head, read_raster, sniff
from warpaint.engine.runtime.errors import BadInputError


def _is_ora(path: str | os.PathLike[str]) -> bool:
    # A zip is only taken for OpenRaster; any other content is sniffed as a raster.
    return sniff(read_head(path)) == "ORA"


def read_state(path: str | os.PathLike[str], limits: Limits | None = None) -> DocState:
    """Any supported file as a `DocState` (one layer for single images)."""
    limits = resolve(limits)
    if _is_ora(path):
        return read_ora(path, limits)
    image = read_raster(path, limits)
    h, w = image.pixels.shape[:2]
    layer = Layer(Path(path).stem or "Background", TiledImage.from_array(image.pixels))
    meta = DocMeta(
        source_format=image.format.lower(),
        bit_depth=image.bit_depth,
        icc_profile=image.icc_profile,
        dpi=image.dpi,
    )
    return DocState(w, h, (layer,), meta)


def open_document(path: str | os.PathLike[str], limits: Limits | None = None) -> Document:
    """Open an image (PNG, JPEG, TIFF, WebP, BMP) or an .ora as a clean `Document`.

    The format is recognised from the content. Single images become one
    layer, upright (EXIF orientation applied), converted to sRGB (the source
    profile is kept in `state.meta.icc_profile`), at source precision.
    `doc.path` is the opened file; whether "Save" writes there (only .ora) is
    the caller's decision. Temporary files of earlier saves to this path
    whose writer is gone are removed. Raises BadInputError with a one-line
    reason.
    """
    state = read_state(path, limits)
    # A save of this file cut off by a crash left its temporary file beside it.
    remove_stale_temp_files(Path(path).parent, target=path)
    return Document(state, path=os.fspath(path))


def open_image_as_layer(path: str | os.PathLike[str], limits: Limits | None = None) -> Layer:
    """A file as one layer named after it (an .ora is flattened), at (0, 0)."""
    state = read_state(path, limits)
    name = Path(path).stem or "Layer"
    if (
        len(state.root) == 1
        and isinstance(state.root[0], Layer)
        and (state.layers[0].x, state.layers[0].y) == (0, 0)
    ):
        only = state.layers[0]
        if (
            only.mask is None
            and only.opacity == 1.0
            and only.visible
            and only.blend_mode == "normal"
        ):
            return Layer(name, only.pixels)
    dtype = (
        np.uint8
        if state.meta.bit_depth <= 8
        else np.uint16
        if state.meta.bit_depth == 16
        else np.float32
    )
    return Layer(name, TiledImage.from_array(flatten(state, dtype)))


def read_image_array(path: str | os.PathLike[str], limits: Limits | None = None) -> np.ndarray:
    """A file flattened to (H, W, 4) float32 straight RGBA in [0, 1], sRGB, upright."""
    state = read_state(path, limits)
    if len(state.root) == 1 and isinstance(state.root[0], Layer):
        only = state.layers[0]
        if (
            (only.x, only.y) == (0, 0)
            and (only.pixels.width, only.pixels.height) == (state.width, state.height)
            and only.mask is None
            and only.opacity == 1.0
            and only.visible
        ):
            return to_float(only.pixels.to_array())
    return flatten(state, np.float32)


def save_document(doc: Document, path: str | os.PathLike[str]) -> list[str]:
    """Write `doc` as OpenRaster to `path` atomically and mark it saved there.

    Only .ora keeps layers, so other extensions are refused; flat formats go
    through `export_image`. Returns one line per member carried from the file
    the document came from that could not be kept (see `write_ora`), for the
    caller to show.
    """
    if Path(path).suffix.lower() != ".ora":
        raise BadInputError(f"{path}: documents are saved as .ora (use export for other formats)")
    state = doc.state
    notes = write_ora(state, path)
    doc.mark_saved(os.fspath(path), state)
    return notes
