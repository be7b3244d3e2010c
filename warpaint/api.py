"""Scripting Warpaint: documents, effects, recipes and files from Python.

    import warpaint

    doc = warpaint.open("in.jpg")
    doc.apply("gaussian-blur", sigma=3)
    doc.export("out.png")

A thin layer over the engine: `Document` wraps the editor's own document
(`warpaint.engine.core.document.Document`, as `doc.engine`), effects run
through `apply_effect` (the job and the undoable step `warpaint apply`
makes), recipes through `runtime.recipes`. Torch is imported when an effect
first runs, not before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.core import document as engine_document
from warpaint.engine.runtime.errors import BadInputError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Layer:
    """A layer of a `Document` as it was when read (layers are immutable
    values: after an edit, read `doc.layers` again)."""

    engine: engine_document.Layer

    @property
    def id(self) -> int:
        return self.engine.id

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def opacity(self) -> float:
        return self.engine.opacity

    @property
    def blend_mode(self) -> str:
        return self.engine.blend_mode

    @property
    def visible(self) -> bool:
        return self.engine.visible

    @property
    def offset(self) -> tuple[int, int]:
        return (self.engine.x, self.engine.y)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.engine.pixels.width, self.engine.pixels.height)

    def pixels(self) -> np.ndarray:
        """The layer's (H, W, 4) straight-alpha RGBA pixels at its own precision
        (uint8, uint16 or float32), as a new array."""
        return self.engine.pixels.to_array()


class Document:
    """An image document: layers bottom to top, an undo history, a file path."""

    def __init__(self, engine: engine_document.Document) -> None:
        self.engine = engine
        # Notes effects left for the user (e.g. a fallback to the CPU).
        self.messages: list[str] = []

    def __repr__(self) -> str:
        names = ", ".join(repr(layer.name) for layer in self.layers)
        return f"<warpaint.Document {self.width} x {self.height} [{names}]>"

    # -- reading ------------------------------------------------------
    @property
    def width(self) -> int:
        return self.engine.state.width

    @property
    def height(self) -> int:
        return self.engine.state.height

    @property
    def layers(self) -> list[Layer]:
        """The layers, bottom to top."""
        return [Layer(layer) for layer in self.engine.layers]

    def layer(self, name: str) -> Layer:
        """The topmost layer called `name`."""
        return Layer(_named(self.engine, name))

    def flatten(self) -> np.ndarray:
        """The composited canvas: (H, W, 4) float32 straight alpha in [0, 1]."""
        from warpaint.engine.core.compositing import flatten

        return flatten(self.engine.state, np.float32)

    # -- editing ------------------------------------------------------
    def apply(
        self,
        effect: str,
        /,
        params: Mapping[str, Any] | None = None,
        *,
        on: str | Layer | None = None,
        target: str = "new_layer",
        device: str | None = None,
        **values: Any,
    ) -> Layer:
        """Run `effect` (an id of `warpaint effects`) on a layer as one undoable
        step and return the layer the result went into.

        Parameters come as keywords (`sigma=3`) or in `params` (for a name
        that is also an argument here). An image parameter takes a file path,
        an (H, W, 4) float32 array or a `Layer` of this document.
        `on`: the layer to run on, by name or `Layer` (default: the top one);
        `target`: 'new_layer' (above it) or 'replace' (its pixels).
        """
        from warpaint.engine.runtime.apply import apply_effect

        given = {key: _engine_value(v) for key, v in {**(params or {}), **values}.items()}
        name: str | None = None
        if on is None:
            if not self.engine.layers:
                raise BadInputError("the document has no layers")
            source, rule = self.engine.layers[-1], "top"
        elif isinstance(on, Layer):
            # A recipe names the layer; run here on this very one.
            try:
                source, rule, name = self.engine.layer(on.id), "named", on.name
            except KeyError:
                raise BadInputError(f"layer {on.name!r} is no longer in the document") from None
        else:
            source, rule, name = _named(self.engine, on), "named", on
        made, notes = apply_effect(
            self.engine,
            source.id,
            effect,
            given,
            target,
            device,
            layer_rule=rule,
            layer_name=name,
        )
        self.messages += notes
        return Layer(made)

    def apply_recipe(self, recipe: PathLike | Mapping[str, Any], device: str | None = None) -> None:
        """Apply a recipe's steps: a recipe file, or recipe JSON data (its paths
        taken from the working folder)."""
        from warpaint.engine.runtime.recipes import Recipe, load_recipe, parse_recipe, run_recipe

        checked: Recipe = (
            parse_recipe(recipe) if isinstance(recipe, Mapping) else load_recipe(recipe)
        )
        run_recipe(self.engine, checked, device=device, on_message=self.messages.append)

    def save_recipe(self, path: PathLike) -> list[Path]:
        """Save the effect steps so far as a recipe (see `runtime.recipes`);
        returns the files written, the recipe last."""
        from warpaint.engine.runtime.recipes import save_recipe

        return save_recipe(path, self.engine.history)

    def undo(self) -> bool:
        """Undo the last step; False if there was none."""
        return self.engine.undo()

    def redo(self) -> bool:
        """Redo the last undone step; False if there was none."""
        return self.engine.redo()

    # -- files --------------------------------------------------------
    def export(self, path: PathLike, quality: int = 92) -> Path:
        """Write the flattened image (PNG, JPEG, TIFF, WebP or BMP by the
        suffix), atomically; returns the path."""
        from warpaint.engine.io import export_image

        result = export_image(self.engine.state, path, quality=quality)
        self.messages += result.notes
        return Path(path)

    def save(self, path: PathLike) -> Path:
        """Save as OpenRaster (.ora), with every layer, atomically; returns the path."""
        from warpaint.engine.io import save_document

        if Path(path).suffix.lower() != ".ora":
            raise BadInputError(f"{os.fspath(path)}: save writes .ora; use export for flat images")
        self.messages += save_document(self.engine, path)
        return Path(path)


def open(path: PathLike) -> Document:
    """Open an image or an OpenRaster document."""
    from warpaint.engine.io import open_document

    return Document(open_document(path))


def new(
    width: int,
    height: int,
    background: tuple[float, float, float, float] | None = (1.0, 1.0, 1.0, 1.0),
) -> Document:
    """A new width x height document with one background layer (white; RGBA
    in [0, 1]; None for transparent)."""
    from warpaint.engine.io.limits import resolve

    resolve(None).check_image(width, height, "the new document")
    return Document(engine_document.Document.new(width, height, background))


def _engine_value(value: Any) -> Any:
    """A parameter value with `Layer`s (alone or in weighted lists) as layer ids."""
    if isinstance(value, Layer):
        return value.id
    if isinstance(value, list | tuple) and value and isinstance(value[0], tuple):
        return tuple((ref.id if isinstance(ref, Layer) else ref, w) for ref, w in value)
    return value


def _named(doc: engine_document.Document, name: str) -> engine_document.Layer:
    for layer in reversed(doc.layers):
        if layer.name == name:
            return layer
    raise BadInputError(f"no layer named {name!r}")
