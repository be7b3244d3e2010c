"""Undo history over immutable document states.

Every change to a document produces a new immutable `DocState`; the history
keeps the sequence of states with a label per step. Because states share
untouched tiles, a step costs only the tiles it changed, undo and redo restore
pixels bit-exactly, and the memory bound counts real bytes: tiles that the
history holds but the current state does not.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warpaint.engine.core.document import DocState

DEFAULT_LIMIT_BYTES = 2 * 1024**3


@dataclass
class Step:
    label: str
    state: DocState
    merge_key: Hashable | None = None
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

    def memory_bytes(self) -> int:
        """Bytes of tiles held only by history (not by the current state)."""
        current = self._steps[self._index].tiles()
        held: dict[int, int] = {}
        for step in self._steps:
            held.update(step.tiles())
        return sum(n for key, n in held.items() if key not in current)

    # -- changing -----------------------------------------------------
    def push(self, label: str, state: DocState, merge_key: Hashable | None = None) -> None:
        del self._steps[self._index + 1 :]
        top = self._steps[self._index]
        if (
            merge_key is not None
            and not self._sealed
            and top.merge_key == merge_key
            and self._index > 0
        ):
            self._steps[self._index] = Step(label, state, merge_key)
        else:
            self._steps.append(Step(label, state, merge_key))
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
            del self._steps[0]
            self._index -= 1
