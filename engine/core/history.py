"""Undo history over immutable document states.

Every change to a document produces a new immutable `DocState`; the history
keeps the sequence of states with a label per step. Because states share
untouched tiles, a step costs only the tiles it changed, undo and redo restore
pixels bit-exactly, and the memory bound counts real bytes: tiles that the
history holds but the current state does not.

A step made by an effect also carries an `EffectStep`: what ran, on which
layer and how its result was placed, so the steps can be saved as a recipe
and replayed on another picture (`warpaint.engine.runtime.recipes`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warpaint.engine.core.document import DocState

DEFAULT_LIMIT_BYTES = 2 * 1024**3
# Which layer an effect step ran on: the current layer, the top one, or (with
# `EffectStep.layer_name`) the topmost layer of that name.
LAYER_RULES = ("current", "top", "named")


@dataclass(frozen=True)
class EffectStep:
    """An effect as applied: enough to apply it again to another document.

    `params` are the values the effect ran with (layer ids, file paths or
    arrays for image parameters, as given); `target` is 'new_layer' or
    'replace'; `blend_mode` and `opacity` are those of the layer the result
    went into; `restricted` says a selection limited the effect. `source_layer`
    and `result_layer` are the ids of the layer it ran on and the layer its
    result went into, in the document the step was made in (not saved).
    """

    effect_id: str
    params: Mapping[str, Any]
    target: str = "new_layer"
    layer: str = "current"
    layer_name: str | None = None
    blend_mode: str = "normal"
    opacity: float = 1.0
    restricted: bool = False
    source_layer: int | None = field(default=None, compare=False)
    result_layer: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.layer not in LAYER_RULES:
            raise ValueError(f"layer rule {self.layer!r} is not one of {LAYER_RULES}")
        if (self.layer == "named") != (self.layer_name is not None):
            raise ValueError("a layer name goes with the 'named' rule, and only with it")


@dataclass
class Step:
    label: str
    state: DocState
    merge_key: Hashable | None = None
    effect: EffectStep | None = None
    _tiles: dict[int, int] | None = field(default=None, repr=False)

    def tiles(self) -> dict[int, int]:
        if self._tiles is None:
            self._tiles = self.state.tile_ids()
        return self._tiles


class History:
    """Linear undo/redo over document states with a memory bound.

    `push` records a new state; when `merge_key` equals the key of the step on
    top (and nothing was undone or sealed since), the new state replaces that
    step instead, so a slider drag is one step. `seal()` ends such a run.
    """

    def __init__(
        self, initial: DocState, label: str = "Open", limit_bytes: int = DEFAULT_LIMIT_BYTES
    ) -> None:
        self.limit_bytes = limit_bytes
        self._steps: list[Step] = [Step(label, initial)]
        self._index = 0
        self._saved: DocState | None = initial
        self._sealed = True
        self._pending_effect: EffectStep | None = None
        self._dropped_effects = 0

    # -- reading ------------------------------------------------------
    @property
    def current(self) -> DocState:
        return self._steps[self._index].state

    @property
    def index(self) -> int:
        return self._index

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self._steps]

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._steps) - 1

    @property
    def undo_label(self) -> str | None:
        return self._steps[self._index].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._steps[self._index + 1].label if self.can_redo else None

    @property
    def dirty(self) -> bool:
        """True when the current state differs from the last saved one."""
        return self.current is not self._saved

    @property
    def dropped_effects(self) -> int:
        """How many effect steps the memory bound has dropped from the start."""
        return self._dropped_effects

    def effect_steps(self) -> list[tuple[int, EffectStep]]:
        """(index, record) of every effect step up to the current one, oldest first."""
        # Step 0 is the state undo goes back to, never a step of its own.
        return [
            (i, step.effect)
            for i, step in enumerate(self._steps[: self._index + 1])
            if i > 0 and step.effect is not None
        ]

    def state_at(self, index: int) -> DocState:
        """The document state after step `index` (0 is the opened state)."""
        return self._steps[index].state

    def memory_bytes(self) -> int:
        """Bytes of tiles held only by history (not by the current state)."""
        current = self._steps[self._index].tiles()
        held: dict[int, int] = {}
        for step in self._steps:
            held.update(step.tiles())
        return sum(n for key, n in held.items() if key not in current)

    # -- changing -----------------------------------------------------
    @contextmanager
    def recording(self, effect: EffectStep) -> Iterator[None]:
        """The step pushed inside the block carries `effect`.

        The record is attached by `push` itself, so listeners told of the new
        step already see it; a block that pushes nothing records nothing.
        """
        self._pending_effect = effect
        try:
            yield
        finally:
            self._pending_effect = None

    def push(self, label: str, state: DocState, merge_key: Hashable | None = None) -> None:
        effect, self._pending_effect = self._pending_effect, None
        del self._steps[self._index + 1 :]
        top = self._steps[self._index]
        if (
            merge_key is not None
            and effect is None
            and not self._sealed
            and top.merge_key == merge_key
            and self._index > 0
        ):
            self._steps[self._index] = Step(label, state, merge_key)
        else:
            self._steps.append(Step(label, state, merge_key, effect))
            self._index += 1
        self._sealed = merge_key is None
        self._trim()

    def seal(self) -> None:
        """End a run of merging pushes (e.g. when a slider is released)."""
        self._sealed = True

    def undo(self) -> DocState | None:
        if not self.can_undo:
            return None
        self._index -= 1
        self._sealed = True
        return self.current

    def redo(self) -> DocState | None:
        if not self.can_redo:
            return None
        self._index += 1
        self._sealed = True
        return self.current

    def jump_to(self, index: int) -> DocState:
        if not 0 <= index < len(self._steps):
            raise IndexError(index)
        self._index = index
        self._sealed = True
        return self.current

    def mark_saved(self, state: DocState | None = None) -> None:
        """Record `state` (default: the current one) as what the file on disk holds.

        A save runs on a snapshot; marking that snapshot (not whatever is
        current when the save ends) keeps edits made during the save dirty.
        """
        self._saved = self.current if state is None else state

    def mark_unsaved(self) -> None:
        """Make the document dirty whatever its state (e.g. a recovered document)."""
        self._saved = None

    def _trim(self) -> None:
        # Drop the oldest steps while over the bound, but always keep one undo
        # step: losing the only undo of a huge edit would surprise users more
        # than briefly exceeding the bound by that one step.
        while self._index > 1 and self.memory_bytes() > self.limit_bytes:
            # The opened state goes first; its successor's record, if any, goes with it.
            if self._steps[1].effect is not None:
                self._dropped_effects += 1
            del self._steps[0]
            self._index -= 1
