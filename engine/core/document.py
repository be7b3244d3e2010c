"""The document model: immutable layers and states, a mutable `Document` facade.

`Layer` and `DocState` are frozen values; every edit builds a new `DocState`
(sharing untouched tiles) and records it in the `History` as one undoable
step. The GUI and the job lanes read states freely from any thread because a
state never changes after it is made; only the thread that owns the
`Document` (the GUI thread, or the CLI's main thread) calls its edit methods.

Layer pixels are (h, w, 4) RGBA, straight alpha, at source precision (uint8,
uint16 or float32). A mask is (h, w, 1) and shares the layer's size and
offset; 1 shows the layer, 0 hides it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from warpaint.engine.core.compositing import (
    CANVAS_MODES,
    blend_mode_label,
    composite,
    composite_over,
    is_blend_mode,
    layer_region,
)
from warpaint.engine.core.history import DEFAULT_LIMIT_BYTES, History
from warpaint.engine.core.tiles import Rect, TiledImage, from_float

_layer_ids = itertools.count(1)


def new_layer_id() -> int:
    """A process-unique layer id (ids are never reused, so stale jobs can't hit a new layer)."""
    return next(_layer_ids)


@dataclass(frozen=True)
class Layer:
    """One layer; change it with `dataclasses.replace` (or `Layer.with_`)."""

    name: str
    pixels: TiledImage
    opacity: float = 1.0
    visible: bool = True
    blend_mode: str = "normal"
    mask: TiledImage | None = None
    x: int = 0
    y: int = 0
    id: int = field(default_factory=new_layer_id)
    # Attributes read from other programs' files, written back unchanged.
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.pixels.channels != 4:
            raise ValueError("layer pixels must be RGBA (4 channels)")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity {self.opacity} outside [0, 1]")
        if not is_blend_mode(self.blend_mode):
            raise ValueError(f"unknown blend mode {self.blend_mode!r}")
        if self.mask is not None and (
            self.mask.channels != 1
            or (self.mask.width, self.mask.height) != (self.pixels.width, self.pixels.height)
        ):
            raise ValueError("a mask must have one channel and the layer's size")

    @property
    def bounds(self) -> Rect:
        """The layer's rectangle in canvas coordinates."""
        return Rect(self.x, self.y, self.pixels.width, self.pixels.height)

    def with_(self, **changes: Any) -> Layer:
        return replace(self, **changes)

    @classmethod
    def from_array(cls, name: str, array: np.ndarray, **props: Any) -> Layer:
        """A layer from an (h, w, 4) uint8/uint16/float32 array (copied into tiles)."""
        if array.ndim != 3 or array.shape[2] != 4:
            raise ValueError(f"expected (h, w, 4) RGBA, got {array.shape}")
        return cls(name=name, pixels=TiledImage.from_array(array), **props)


@dataclass(frozen=True)
class DocMeta:
    """Facts about where the document came from, kept for export."""

    source_format: str | None = None
    bit_depth: int = 8
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    # What the reader noticed and the user should hear about on open (one line each).
    warnings: tuple[str, ...] = ()
    # Archive members another program wrote and Warpaint does not read, as
    # (archive path, member name, CRC-32, size): the next .ora save copies
    # them unchanged, so that program's references to them still resolve.
    carried: tuple[tuple[str, str, int, int], ...] = ()


@dataclass(frozen=True)
class DocState:
    """An immutable snapshot: canvas size and layers bottom to top."""

    width: int
    height: int
    layers: tuple[Layer, ...] = ()
    meta: DocMeta = DocMeta()

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"bad canvas size {self.width}x{self.height}")

    @property
    def bounds(self) -> Rect:
        return Rect(0, 0, self.width, self.height)

    def index_of(self, layer_id: int) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise KeyError(f"no layer with id {layer_id}")

    def layer(self, layer_id: int) -> Layer:
        return self.layers[self.index_of(layer_id)]

    def replace_layer(self, layer: Layer) -> DocState:
        layers = list(self.layers)
        layers[self.index_of(layer.id)] = layer
        return replace(self, layers=tuple(layers))

    def tile_ids(self) -> dict[int, int]:
        ids: dict[int, int] = {}
        for layer in self.layers:
            ids.update(layer.pixels.tile_ids())
            if layer.mask is not None:
                ids.update(layer.mask.tile_ids())
        return ids


ChangeListener = Callable[["Document"], None]


class Document:
    """A document being edited: current state, history, file path, listeners."""

    def __init__(
        self,
        state: DocState,
        path: str | None = None,
        history_limit_bytes: int = DEFAULT_LIMIT_BYTES,
        label: str = "Open",
    ) -> None:
        self.history = History(state, label=label, limit_bytes=history_limit_bytes)
        self.path = path
        self._listeners: list[ChangeListener] = []

    # -- construction -------------------------------------------------
    @classmethod
    def new(
        cls,
        width: int,
        height: int,
        background: tuple[float, float, float, float] | None = (1.0, 1.0, 1.0, 1.0),
        dtype: np.dtype | type = np.uint8,
    ) -> Document:
        """A new document with one background layer (transparent if `background` is None)."""
        fill = background or (0.0, 0.0, 0.0, 0.0)
        layer = Layer("Background", TiledImage.filled(width, height, fill, dtype))
        return cls(DocState(width, height, (layer,), DocMeta(bit_depth=_bits(dtype))), label="New")

    @classmethod
    def from_array(cls, array: np.ndarray, name: str = "Background", **kw: Any) -> Document:
        h, w = array.shape[:2]
        layer = Layer.from_array(name, array)
        return cls(DocState(w, h, (layer,), DocMeta(bit_depth=_bits(array.dtype))), **kw)

    # -- reading ------------------------------------------------------
    @property
    def state(self) -> DocState:
        return self.history.current

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.state.layers

    @property
    def dirty(self) -> bool:
        return self.history.dirty

    @property
    def name(self) -> str:
        import os.path

        return os.path.basename(self.path) if self.path else "Untitled"

    def layer(self, layer_id: int) -> Layer:
        return self.state.layer(layer_id)

    # -- listeners ----------------------------------------------------
    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener(doc)` after every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    # -- history ------------------------------------------------------
    def commit(self, label: str, state: DocState, merge_key: Hashable | None = None) -> None:
        """Record `state` as one undoable step named `label`."""
        if state is self.state:
            return
        self.history.push(label, state, merge_key)
        self._notify()

    def undo(self) -> bool:
        done = self.history.undo() is not None
        if done:
            self._notify()
        return done

    def redo(self) -> bool:
        done = self.history.redo() is not None
        if done:
            self._notify()
        return done

    def jump_to(self, index: int) -> None:
        self.history.jump_to(index)
        self._notify()

    def mark_saved(self, path: str | None = None, state: DocState | None = None) -> None:
        """The document (or the snapshot `state` of it) is now saved at `path`."""
        if path is not None:
            self.path = path
        self.history.mark_saved(state)
        self._notify()

    # -- layer edits (each one undoable step) --------------------------
    def add_layer(self, layer: Layer, index: int | None = None, label: str | None = None) -> Layer:
        layers = list(self.layers)
        layers.insert(len(layers) if index is None else index, layer)
        self.commit(label or f"Add layer '{layer.name}'", replace(self.state, layers=tuple(layers)))
        return layer

    def delete_layer(self, layer_id: int) -> None:
        layer = self.layer(layer_id)
        layers = tuple(lay for lay in self.layers if lay.id != layer_id)
        self.commit(f"Delete layer '{layer.name}'", replace(self.state, layers=layers))

    def move_layer(self, layer_id: int, index: int) -> None:
        """Move a layer to position `index` (0 = bottom)."""
        layers = list(self.layers)
        layer = layers.pop(self.state.index_of(layer_id))
        index = max(0, min(index, len(layers)))
        layers.insert(index, layer)
        self.commit(f"Move layer '{layer.name}'", replace(self.state, layers=tuple(layers)))

    def duplicate_layer(self, layer_id: int) -> Layer:
        layer = self.layer(layer_id)
        copy = replace(layer, id=new_layer_id(), name=f"{layer.name} copy")
        return self.add_layer(copy, self.state.index_of(layer_id) + 1, f"Duplicate '{layer.name}'")

    def rename_layer(self, layer_id: int, name: str) -> None:
        layer = self.layer(layer_id)
        if name != layer.name:
            self.commit(f"Rename to '{name}'", self.state.replace_layer(layer.with_(name=name)))

    def set_layer_props(self, layer_id: int, **props: Any) -> None:
        """Change opacity, visible, blend_mode, x/y; repeated changes of the
        same properties on the same layer merge into one step until sealed."""
        layer = self.layer(layer_id)
        changed = layer.with_(**props)
        if changed == layer:
            return
        key = ("props", layer_id, tuple(sorted(props)))
        self.commit(_props_label(layer, changed), self.state.replace_layer(changed), key)

    def set_layer_pixels(
        self,
        layer_id: int,
        pixels: TiledImage,
        label: str,
        x: int | None = None,
        y: int | None = None,
    ) -> None:
        layer = self.layer(layer_id)
        mask = layer.mask
        if mask is not None and (mask.width, mask.height) != (pixels.width, pixels.height):
            mask = None
        changed = layer.with_(
            pixels=pixels, mask=mask, x=layer.x if x is None else x, y=layer.y if y is None else y
        )
        self.commit(label, self.state.replace_layer(changed))

    def set_layer_mask(
        self, layer_id: int, mask: TiledImage | None, label: str = "Edit mask"
    ) -> None:
        layer = self.layer(layer_id)
        self.commit(label, self.state.replace_layer(layer.with_(mask=mask)))

    def merge_down(self, layer_id: int) -> Layer:
        """Composite a layer onto the one below; the result keeps the lower
        layer's name, opacity, blend mode and position in the stack."""
        index = self.state.index_of(layer_id)
        if index == 0:
            raise ValueError("the bottom layer has nothing below to merge into")
        upper, lower = self.layers[index], self.layers[index - 1]
        merged = merge_layers(lower, upper)
        layers = list(self.layers)
        layers[index - 1 : index + 1] = [merged]
        self.commit(f"Merge '{upper.name}' down", replace(self.state, layers=tuple(layers)))
        return merged


def _props_label(before: Layer, after: Layer) -> str:
    """A history entry in words for a change of layer properties, e.g.
    "Hide layer 'Sky'" or "Opacity of 'Sky': 40 %"; the user never sees field names."""
    name = before.name
    parts = []
    if after.visible != before.visible:
        parts.append(f"{'Show' if after.visible else 'Hide'} layer '{name}'")
    if after.blend_mode != before.blend_mode:
        parts.append(f"Blend mode of '{name}': {blend_mode_label(after.blend_mode)}")
    if after.opacity != before.opacity:
        parts.append(f"Opacity of '{name}': {round(after.opacity * 100)} %")
    if (after.x, after.y) != (before.x, before.y):
        parts.append(f"Move '{name}' to {after.x}, {after.y}")
    return "; ".join(parts) or f"Change layer '{name}'"


def merge_layers(lower: Layer, upper: Layer) -> Layer:
    """`upper` composited onto `lower` (whose mask is baked into its alpha).

    The lower layer contributes at full opacity in normal mode, so the merged
    layer keeps the lower layer's own opacity and blend mode unchanged.
    """
    area = Rect(
        min(lower.x, upper.x),
        min(lower.y, upper.y),
        max(lower.bounds.right, upper.bounds.right) - min(lower.x, upper.x),
        max(lower.bounds.bottom, upper.bounds.bottom) - min(lower.y, upper.y),
    )
    base, base_mask = layer_region(lower, area)
    if base_mask is not None:
        base[..., 3:4] *= base_mask
    if upper.visible and upper.blend_mode in CANVAS_MODES:
        # Spatial modes need both layers as a small document over the merged area.
        pair = (
            Layer.from_array("below", base),
            upper.with_(x=upper.x - area.x, y=upper.y - area.y),
        )
        base = composite(DocState(area.w, area.h, pair))
    elif upper.visible:
        top, top_mask = layer_region(upper, area)
        base = composite_over(base, top, upper.blend_mode, upper.opacity, top_mask)
    dtype = np.promote_types(lower.pixels.dtype, upper.pixels.dtype)
    return lower.with_(
        pixels=TiledImage.from_array(from_float(base, dtype)), mask=None, x=area.x, y=area.y
    )


def _bits(dtype: np.dtype | type) -> int:
    return {1: 8, 2: 16, 4: 32}[np.dtype(dtype).itemsize]
