"""`describe(path)`: what `warpaint info FILE --json` prints.

Sizes come from headers; the data is checked whole (a truncated file is
reported as damaged, as opening it would), without keeping decoded pixels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from warpaint.engine.io import colour
from warpaint.engine.io.limits import Limits, check_regular_file, resolve
from warpaint.engine.io.ora import GroupEntry, LayerEntry, describe_ora
from warpaint.engine.io.raster import read_head, read_header, sniff
from warpaint.engine.io.verify import verify_raster


def _icc(data: bytes | None) -> dict[str, Any] | bool:
    if not data:
        return False
    return {
        "description": colour.profile_description(data) or "unreadable profile",
        "colour_space": colour.colour_space(data),
        "srgb": colour.is_srgb_like(data),
    }


def _layer_facts(e: LayerEntry) -> dict[str, Any]:
    return {
        "name": e.name,
        "width": e.width,
        "height": e.height,
        "x": e.x,
        "y": e.y,
        "opacity": e.opacity,
        "visible": e.visible,
        "blend_mode": e.blend_mode,
        "has_mask": e.mask_src is not None,
        "locked": e.locked,
    }


def _tree_facts(tree: list[LayerEntry | GroupEntry]) -> list[dict[str, Any]]:
    """The layer tree, top first as editors list it: layers as in "layers",
    groups with their own properties and "children" (iterative: deep trees)."""
    out: list[dict[str, Any]] = []
    todo: list[tuple[list[LayerEntry | GroupEntry], list[dict[str, Any]]]] = [(tree, out)]
    while todo:
        nodes, into = todo.pop()
        for node in reversed(nodes):
            if isinstance(node, GroupEntry):
                facts: dict[str, Any] = {
                    "group": node.name,
                    "opacity": node.opacity,
                    "visible": node.visible,
                    "blend_mode": node.blend_mode if node.isolated else "pass-through",
                    "isolated": node.isolated,
                    "has_mask": node.mask_src is not None,
                    "locked": node.locked,
                    "children": [],
                }
                into.append(facts)
                todo.append((node.children, facts["children"]))
            else:
                into.append(_layer_facts(node))
    return out


def describe(path: str | os.PathLike[str], limits: Limits | None = None) -> dict[str, Any]:
    """Facts about an image or .ora from its headers (sizes upright, after EXIF).

    Keys: path, format, width, height, mode, bit_depth (per channel, as the
    layers open: 1-bit and palette images open at 8), icc (False or a dict
    with description, colour_space, srgb), orientation (rasters), layers (a
    list of {name, width, height, x, y, opacity, visible, blend_mode,
    has_mask}, top first, as Warpaint opens them), tree (the same layers
    nested in their groups, top first; a group is {group, opacity, visible,
    blend_mode ("pass-through" for one), isolated, has_mask, children}),
    warnings (what opening would tell the user, one line each). Applies the
    limits: an oversized header raises BadInputError; so does damaged or
    truncated data.
    """
    limits = resolve(limits)
    check_regular_file(path)
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    if sniff(read_head(path)) == "ORA":
        found = describe_ora(path, limits)
        info = found["info"]
        return {
            "path": os.fspath(path),
            "format": "OpenRaster",
            "file_bytes": size,
            "width": info.width,
            "height": info.height,
            "mode": "RGBA",
            "bit_depth": found["bit_depth"],
            "icc": _icc(found["icc_profile"]),
            "warnings": found["warnings"],
            "layers": [_layer_facts(e) for e in reversed(info.layers)],
            "tree": _tree_facts(info.tree),
        }
    header = read_header(path, limits)
    verify_raster(path, limits)
    only = {
        "name": Path(path).stem,
        "width": header.width,
        "height": header.height,
        "x": 0,
        "y": 0,
        "opacity": 1.0,
        "visible": True,
        "blend_mode": "normal",
        "has_mask": False,
        "locked": False,
    }
    return {
        "path": os.fspath(path),
        "format": header.format,
        "file_bytes": size,
        "width": header.width,
        "height": header.height,
        "mode": header.mode,
        "bit_depth": 8 if header.bit_depth < 8 else header.bit_depth,
        "icc": _icc(header.icc_profile),
        "orientation": header.orientation,
        "frames": header.frames,
        "warnings": [],
        "layers": [only],
        "tree": [dict(only)],
    }
