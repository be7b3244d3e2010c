"""Selections as masks: rectangles and ellipses with a feathered edge.

A selection is described by its shape and geometry (so the GUI can draw
handles) and rendered on demand into a canvas-sized (H, W) float32 mask in
[0, 1], which effects use to restrict where they apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("rectangle", "ellipse")


@dataclass(frozen=True)
class Selection:
    shape: str  # 'rectangle' or 'ellipse'
    x: float
    y: float
    w: float
    h: float
    feather: float = 0.0  # pixels over which the edge fades
    inverted: bool = False

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown selection shape {self.shape!r}")

    @property
    def empty(self) -> bool:
        return self.w < 1 or self.h < 1

    def mask(self, width: int, height: int) -> np.ndarray:
        """(height, width) float32 coverage in [0, 1] of the canvas pixels."""
        ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
        if self.shape == "rectangle":
            # Signed distance inside the rectangle (positive inside).
            inside = np.minimum(
                np.minimum(xs - self.x, self.x + self.w - xs),
                np.minimum(ys - self.y, self.y + self.h - ys),
            )
        else:
            rx, ry = max(self.w / 2, 1e-3), max(self.h / 2, 1e-3)
            cx, cy = self.x + rx, self.y + ry
            norm = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
            # Approximate distance to the ellipse edge in pixels.
            inside = (1.0 - norm) * min(rx, ry)
        if self.feather > 0:
            mask = np.clip(inside / self.feather + 0.5, 0.0, 1.0)
        else:
            mask = np.clip(inside + 0.5, 0.0, 1.0)
        mask = mask.astype(np.float32)
        return 1.0 - mask if self.inverted else mask

    def bounds(self) -> tuple[int, int, int, int]:
        """Integer (x, y, w, h) enclosing the selection (before feathering)."""
        x0, y0 = int(np.floor(self.x)), int(np.floor(self.y))
        x1, y1 = int(np.ceil(self.x + self.w)), int(np.ceil(self.y + self.h))
        return x0, y0, x1 - x0, y1 - y0
