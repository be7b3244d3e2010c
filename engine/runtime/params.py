"""Effect parameter metadata: readable without torch, used to build panels and parse the CLI.

A parameter describes one control: its `type` tells the GUI which widget to
build (slider, checkbox, combo box, layer picker, canvas tool)
and tells the CLI how to parse `--set NAME=VALUE`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from warpaint.engine.runtime.errors import BadInputError


class ParamType(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    BOOL = "bool"
    CHOICE = "choice"
    IMAGE = "image"  # an image: a layer in the GUI, a file path on the CLI
    IMAGES = "images"  # a weighted list of images
    POINTS = "points"  # canvas points, e.g. eye positions
    RECT = "rectangle"  # a canvas region (x, y, w, h)
    MASK = "mask"  # a mask: the selection/a layer mask in the GUI, a file on the CLI
    FILE = "file"  # a path, e.g. a model file


# Types whose values refer to document content and are resolved by the runner.
REFERENCE_TYPES = frozenset({ParamType.IMAGE, ParamType.IMAGES, ParamType.MASK})
# Types edited directly on the canvas through a canvas tool.
CANVAS_TYPES = frozenset({ParamType.POINTS, ParamType.RECT, ParamType.MASK})


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    type: ParamType
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    # Spatial parameters (sizes in pixels) scale with a preview's resolution.
    spatial: bool = False
    # INTEGER only: 0 means "automatic"; the CLI also accepts the word 'auto'
    # and a panel may show 0 as "Auto".
    auto: bool = False
    # CHOICE only: the panel shows the choices as a gallery of pictures made by
    # the effect's `thumbnail` hook (see `warpaint.engine.runtime.registry`).
    gallery: bool = False
    # IMAGE/IMAGES only: layers are read as placed on the canvas, cut to the
    # current layer's rectangle (transparent outside) and masked by their masks.
    placed: bool = False
    # INTEGER only: a random seed. Its values are names, not amounts: a panel
    # shows a field and a button that draws a new one, not a slider.
    random_seed: bool = False
    # The value belongs to one image (a region, eye points, a chosen face, a
    # mask): the editor derives it again when another document opens or
    # another layer becomes current, while settings such as a radius stay.
    image_bound: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"parameter name {self.name!r} must be snake_case")
        if self.type is ParamType.CHOICE and self.default not in self.choices:
            raise ValueError(f"{self.name}: default {self.default!r} not among choices")

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "label": self.label,
            "type": self.type.value,
            "default": _jsonable(self.default),
            "min": self.min,
            "max": self.max,
            "step": self.step,
            "choices": list(self.choices) if self.choices else None,
        }
        if self.auto:
            data["auto"] = True
        if self.gallery:
            data["gallery"] = True
        if self.random_seed:
            data["random_seed"] = True
        if self.image_bound:
            data["image_bound"] = True
        return data

    # -- values -------------------------------------------------------
    def bound_text(self, value: float | None) -> str:
        """A bound as text: integers in full ({:g} prints 2**31 - 1 as 2.14748e+09)."""
        if value is None:
            return ""
        return str(int(value)) if self.type is ParamType.INTEGER else f"{value:g}"

    def parse(self, text: str) -> Any:
        """A value from command-line text (`--set name=text`), validated."""
        t = self.type
        try:
            if t is ParamType.NUMBER:
                value: Any = float(text)
            elif t is ParamType.INTEGER:
                value = 0 if self.auto and text.strip().lower() == "auto" else int(text)
            elif t is ParamType.BOOL:
                low = text.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value = low in ("1", "true", "yes", "on")
            elif t is ParamType.POINTS:
                if ";" in text:  # x1,y1;x2,y2
                    value = tuple(
                        tuple(float(c) for c in p.split(",")) for p in text.split(";") if p.strip()
                    )
                else:  # x1,y1,x2,y2,...
                    flat = [float(c) for c in text.split(",") if c.strip()]
                    if len(flat) % 2:
                        raise ValueError
                    value = tuple(zip(flat[0::2], flat[1::2], strict=True))
                if any(len(p) != 2 for p in value):
                    raise ValueError
            elif t is ParamType.RECT:
                value = tuple(float(c) for c in text.split(","))
                if len(value) != 4:
                    raise ValueError
            elif t is ParamType.IMAGES:
                value = tuple(_weighted(item) for item in text.split(",") if item.strip())
            else:
                value = text
        except ValueError:
            raise BadInputError(f"{self.name}: cannot read {text!r} as {t.value}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """`value` checked against type and range; raises BadInputError."""
        t = self.type
        if t in (ParamType.NUMBER, ParamType.INTEGER):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadInputError(f"{self.name}: expected a number, got {value!r}")
            # NaN fails every comparison below, so it would pass the range check.
            if not math.isfinite(value):
                raise BadInputError(f"{self.name}: {value} is not a finite number")
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise BadInputError(
                    f"{self.name}: {value} is outside "
                    f"{self.bound_text(self.min)}..{self.bound_text(self.max)}"
                    if self.min is not None and self.max is not None
                    else f"{self.name}: {value} is out of range"
                )
            return int(value) if t is ParamType.INTEGER else float(value)
        if t is ParamType.BOOL:
            if not isinstance(value, bool):
                raise BadInputError(f"{self.name}: expected true or false, got {value!r}")
            return value
        if t in (ParamType.POINTS, ParamType.RECT, ParamType.IMAGES) and value is not None:
            if not all(_finite(n) for n in _numbers(t, value)):
                raise BadInputError(f"{self.name}: every number must be finite, got {value!r}")
            return value
        if t is ParamType.CHOICE:
            if value not in self.choices:
                raise BadInputError(
                    f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
                )
            return value
        return value


def _numbers(t: ParamType, value: Any) -> list[Any]:
    """The numbers inside a POINTS ((x, y), ...), RECT (x, y, w, h) or IMAGES
    ((ref, weight), ...) value."""
    if t is ParamType.IMAGES:
        return [item[1] for item in value]
    if t is ParamType.POINTS:
        return [c for point in value for c in point]
    return list(value)


def _finite(value: Any) -> bool:
    """Whether `value` is a real, finite number (numpy scalars included)."""
    try:
        return not isinstance(value, bool | str) and math.isfinite(value)
    except TypeError:
        return False


def _weighted(item: str) -> tuple[str, float]:
    path, _, weight = item.rpartition(":")
    if not path:
        return (item, 1.0)
    return (path, float(weight))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
