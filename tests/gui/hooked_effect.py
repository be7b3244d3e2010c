"""A small effect module with both GUI hooks, for the panel tests (not registered:
the registry lists only the feature packages' `effect*` modules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}

SPEC = EffectSpec(
    id="test-hooked",
    title="Hooked",
    params=(
        Param("tint", "Tint", ParamType.CHOICE, "red", choices=tuple(COLOURS), gallery=True),
        Param("spot", "Spot", ParamType.POINTS, default=()),
        Param("amount", "Amount", ParamType.NUMBER, 0.5, 0.0, 1.0, 0.1),
    ),
    module=__name__,
)


def run(ctx: Any, image: Any, params: dict[str, Any]) -> Any:
    return image


def prefill(image: np.ndarray) -> dict[str, Any]:
    """The brightest pixel as the spot, and a tint it cannot have chosen."""
    y, x = np.unravel_index(np.argmax(image[..., :3].sum(axis=2)), image.shape[:2])
    return {"spot": ((float(x), float(y)),), "amount": 0.9}


def thumbnail(param: str, choice: str, side: int) -> np.ndarray:
    return np.broadcast_to(np.array(COLOURS[choice], np.float32), (side, side, 3)).copy()
