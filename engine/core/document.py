"""The document model: immutable layers and states, a mutable `Document` facade.

`Layer` and `DocState` are frozen values; every edit builds a new `DocState`
(sharing untouched tiles) and records it in the `History` as one undoable
step. The GUI and the job lanes read states freely from any thread because a
state never changes after it is made; only the thread that owns the
`Document` (the GUI thread, or the CLI's main thread) calls its edit methods.

Layer pixels are (h, w, 4) RGBA, straight alpha, at source precision (uint8,
uint16 or float32). A mask is (h, w, 1) and shares the layer's size and
offset; 1 shows the layer, 0 hides it.

Layers sit in a tree: `DocState.root` holds layers and `Group`s bottom to
top, and a group holds its own children the same way. `DocState.layers` is
every pixel layer in drawing order (the leaves, bottom first), which is what
most code wants; structure edits go through the tree functions here. Ids are
unique across layers and groups.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
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
from warpaint.engine.runtime.errors import BadInputError

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
    # Pixels, mask and place protected from edits (see `DocState.is_locked`).
    locked: bool = False

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
class Group:
    """A layer group; change it with `dataclasses.replace` (or `Group.with_`).

    An isolated group composites its children on their own (from
    transparent), then blends that result onto what lies below with its
    mode, opacity and mask, as a layer would. A pass-through group
    (`isolated=False`) has no result of its own: its children blend straight
    into what lies below, and its opacity and mask then fade between the
    backdrop before the group and after it (its blend mode is not used).
    The mask is (h, w, 1) at canvas offset (x, y); outside it the group is
    hidden.
    """

    name: str
    children: tuple[Node, ...] = ()
    opacity: float = 1.0
    visible: bool = True
    blend_mode: str = "normal"
    isolated: bool = True
    mask: TiledImage | None = None
    x: int = 0
    y: int = 0
    id: int = field(default_factory=new_layer_id)
    # Attributes read from other programs' files, written back unchanged.
    extra: tuple[tuple[str, str], ...] = ()
    # Locks everything in the group (see `DocState.is_locked`).
    locked: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity {self.opacity} outside [0, 1]")
        if not is_blend_mode(self.blend_mode) or self.blend_mode in CANVAS_MODES:
            raise ValueError(f"a group cannot have blend mode {self.blend_mode!r}")
        if self.mask is not None and self.mask.channels != 1:
            raise ValueError("a group mask must have one channel")

    @cached_property
    def bounds(self) -> Rect:
        """The union of the layers' rectangles in it (empty for an empty group)."""
        return Rect.bounding(n.bounds for n in iter_nodes(self.children) if isinstance(n, Layer))

    def shape(self) -> tuple[Any, ...]:
        """The group's own properties and its members' ids, not the members'
        contents: two groups of one shape composite alike over alike members."""
        return (
            self.id,
            self.opacity,
            self.visible,
            self.blend_mode,
            self.isolated,
            self.mask,
            self.x,
            self.y,
            tuple(child.id for child in self.children),
        )

    def with_(self, **changes: Any) -> Group:
        return replace(self, **changes)


Node = Layer | Group


def iter_nodes(nodes: tuple[Node, ...]) -> Iterator[Node]:
    """Every node under `nodes`, each group before its children, bottom first.

    Iterative, so a deep tree cannot exhaust Python's recursion limit.
    """
    todo: list[Iterator[Node]] = [iter(nodes)]
    while todo:
        node = next(todo[-1], None)
        if node is None:
            todo.pop()
            continue
        yield node
        if isinstance(node, Group):
            todo.append(iter(node.children))


def map_layers(nodes: tuple[Node, ...], fn: Callable[[Layer], Layer]) -> tuple[Node, ...]:
    """`nodes` with every layer replaced by `fn(layer)`, groups rebuilt around them."""
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, Group):
            out.append(replace(node, children=map_layers(node.children, fn)))
        else:
            out.append(fn(node))
    return tuple(out)


def tree_depth(nodes: tuple[Node, ...]) -> int:
    """How many groups deep the tree goes (0 for a flat stack)."""
    depth, todo = 0, [(n, 1) for n in nodes if isinstance(n, Group)]
    while todo:
        group, level = todo.pop()
        depth = max(depth, level)
        todo += [(n, level + 1) for n in group.children if isinstance(n, Group)]
    return depth


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
    """An immutable snapshot: canvas size and the layer tree, bottom to top.

    `root` may hold plain layers only (a flat document) or groups too.
    """

    width: int
    height: int
    root: tuple[Node, ...] = ()
    meta: DocMeta = DocMeta()

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"bad canvas size {self.width}x{self.height}")

    @property
    def bounds(self) -> Rect:
        return Rect(0, 0, self.width, self.height)

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """Every pixel layer in drawing order, bottom first (groups left out)."""
        return tuple(n for n in iter_nodes(self.root) if isinstance(n, Layer))

    @cached_property
    def groups(self) -> tuple[Group, ...]:
        """Every group, each before the groups inside it."""
        return tuple(n for n in iter_nodes(self.root) if isinstance(n, Group))

    @property
    def has_groups(self) -> bool:
        return any(isinstance(n, Group) for n in self.root)

    @cached_property
    def _paths(self) -> dict[int, tuple[int, ...]]:
        paths: dict[int, tuple[int, ...]] = {}
        todo: list[tuple[tuple[Node, ...], tuple[int, ...]]] = [(self.root, ())]
        while todo:
            nodes, at = todo.pop()
            for i, node in enumerate(nodes):
                paths[node.id] = at + (i,)
                if isinstance(node, Group):
                    todo.append((node.children, at + (i,)))
        return paths

    def path_of(self, node_id: int) -> tuple[int, ...]:
        """The indices from the root down to a layer or group."""
        try:
            return self._paths[node_id]
        except KeyError:
            raise KeyError(f"no layer or group with id {node_id}") from None

    def contains(self, node_id: int) -> bool:
        return node_id in self._paths

    def node(self, node_id: int) -> Node:
        return self.node_at(self.path_of(node_id))

    def parent_of(self, node_id: int) -> Group | None:
        """The group holding a node, None at the root."""
        path = self.path_of(node_id)
        if len(path) == 1:
            return None
        parent = self.node_at(path[:-1])
        assert isinstance(parent, Group)
        return parent

    def node_at(self, path: tuple[int, ...]) -> Node:
        nodes, node = self.root, None
        for i in path:
            node = nodes[i]
            nodes = node.children if isinstance(node, Group) else ()
        assert node is not None
        return node

    def siblings_of(self, node_id: int) -> tuple[Node, ...]:
        parent = self.parent_of(node_id)
        return self.root if parent is None else parent.children

    def ancestors(self, node_id: int) -> list[int]:
        """The ids of the groups holding a node, outermost first."""
        path = self.path_of(node_id)
        return [self.node_at(path[:k]).id for k in range(1, len(path))]

    def is_locked(self, node_id: int) -> bool:
        """Whether a layer's pixels, mask and place (or a group's mask and
        what is in it) are protected: it or a group holding it is locked.
        Visibility, opacity, mode, name and order stay editable."""
        path = self.path_of(node_id)
        return any(self.node_at(path[:k]).locked for k in range(1, len(path) + 1))

    def group(self, group_id: int) -> Group:
        node = self.node(group_id)
        if not isinstance(node, Group):
            raise KeyError(f"{group_id} is a layer, not a group")
        return node

    def index_of(self, layer_id: int) -> int:
        """A layer's place in `layers` (drawing order of all pixel layers)."""
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise KeyError(f"no layer with id {layer_id}")

    def layer(self, layer_id: int) -> Layer:
        node = self.node(layer_id)
        if not isinstance(node, Layer):
            raise KeyError(f"{layer_id} is a group, not a layer")
        return node

    def replace_layer(self, layer: Node) -> DocState:
        """The state with the layer or group of the same id replaced."""
        return self.replace_node(layer)

    def replace_node(self, node: Node) -> DocState:
        return self.with_root(_edit(self.root, self.path_of(node.id), lambda _: [node]))

    def remove_node(self, node_id: int) -> DocState:
        return self.with_root(_edit(self.root, self.path_of(node_id), lambda _: []))

    def insert_node(self, node: Node, parent_id: int | None, index: int) -> DocState:
        """The state with `node` at `index` (0 = bottom) among the children of
        group `parent_id` (None: the root)."""
        if parent_id is None:
            nodes = list(self.root)
            nodes.insert(max(0, min(index, len(nodes))), node)
            return self.with_root(tuple(nodes))
        group = self.group(parent_id)
        children = list(group.children)
        children.insert(max(0, min(index, len(children))), node)
        return self.replace_node(group.with_(children=tuple(children)))

    def insert_beside(self, node: Node, neighbour_id: int, above: bool = True) -> DocState:
        """The state with `node` just above (or below) another node, in its group."""
        parent = self.parent_of(neighbour_id)
        index = self.path_of(neighbour_id)[-1] + (1 if above else 0)
        return self.insert_node(node, None if parent is None else parent.id, index)

    def with_root(self, root: tuple[Node, ...]) -> DocState:
        return replace(self, root=root)

    def map_layers(self, fn: Callable[[Layer], Layer]) -> DocState:
        """The state with every layer replaced by `fn(layer)`."""
        return self.with_root(map_layers(self.root, fn))

    def tile_ids(self) -> dict[int, int]:
        ids: dict[int, int] = {}
        for node in iter_nodes(self.root):
            if isinstance(node, Layer):
                ids.update(node.pixels.tile_ids())
            if node.mask is not None:
                ids.update(node.mask.tile_ids())
        return ids


def _edit(
    nodes: tuple[Node, ...], path: tuple[int, ...], fn: Callable[[Node], list[Node]]
) -> tuple[Node, ...]:
    """`nodes` with the node at `path` replaced by `fn(node)` (zero or more nodes)."""
    i = path[0]
    if len(path) == 1:
        return nodes[:i] + tuple(fn(nodes[i])) + nodes[i + 1 :]
    group = nodes[i]
    assert isinstance(group, Group)
    changed = replace(group, children=_edit(group.children, path[1:], fn))
    return nodes[:i] + (changed,) + nodes[i + 1 :]


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
    def node(self, node_id: int) -> Node:
        return self.state.node(node_id)

    def add_layer(self, layer: Node, index: int | None = None, label: str | None = None) -> Node:
        """Add a layer (or group) at `index` of `layers` (None: the top of the
        root), inside the group of the layer it lands beside."""
        state = self.state
        if index is None or not state.layers:
            changed = state.insert_node(layer, None, len(state.root))
        else:
            changed = _insert_at_leaf(state, layer, index)
        self.commit(label or f"Add layer '{layer.name}'", changed)
        return layer

    def add_node(
        self, node: Node, parent_id: int | None, index: int, label: str | None = None
    ) -> Node:
        """Add a layer or group at `index` among the children of `parent_id`."""
        kind = "group" if isinstance(node, Group) else "layer"
        self.commit(
            label or f"Add {kind} '{node.name}'", self.state.insert_node(node, parent_id, index)
        )
        return node

    def delete_layer(self, layer_id: int) -> None:
        """Delete a layer, or a group with everything in it."""
        node = self.node(layer_id)
        kind = "group" if isinstance(node, Group) else "layer"
        self.commit(f"Delete {kind} '{node.name}'", self.state.remove_node(layer_id))

    def move_layer(self, layer_id: int, index: int) -> None:
        """Move a layer to position `index` of `layers` (0 = bottom), into the
        group of the layer it lands beside."""
        node = self.node(layer_id)
        rest = self.state.remove_node(layer_id)
        if not rest.layers:
            return
        self.commit(f"Move layer '{node.name}'", _insert_at_leaf(rest, node, index))

    def move_node(self, node_id: int, parent_id: int | None, index: int) -> None:
        """Move a layer or group to `index` among the children of group
        `parent_id` (None: the root), as counted before the move."""
        state = self.state
        node = state.node(node_id)
        if parent_id is not None and (
            parent_id == node_id or node_id in state.ancestors(parent_id)
        ):
            raise ValueError("a group cannot go inside itself")
        old_parent = state.parent_of(node_id)
        old_index = state.path_of(node_id)[-1]
        same = (old_parent.id if old_parent is not None else None) == parent_id
        if same and index > old_index:
            index -= 1
        if same and index == old_index:
            return
        moved = state.remove_node(node_id).insert_node(node, parent_id, index)
        self.commit(f"Move '{node.name}'", moved)

    def duplicate_layer(self, layer_id: int) -> Node:
        node = self.node(layer_id)
        copy = _fresh_ids(node).with_(name=f"{node.name} copy")
        self.commit(f"Duplicate '{node.name}'", self.state.insert_beside(copy, layer_id))
        return copy

    def rename_layer(self, layer_id: int, name: str) -> None:
        node = self.node(layer_id)
        if name != node.name:
            self.commit(f"Rename to '{name}'", self.state.replace_node(node.with_(name=name)))

    def check_unlocked(self, node_id: int, what: str) -> None:
        """Raise LockedError if `what` (an edit, in words) would change a locked node."""
        if self.state.is_locked(node_id):
            node = self.node(node_id)
            kind = "group" if isinstance(node, Group) else "layer"
            raise LockedError(f"{kind} '{node.name}' is locked: {what} would change it")

    def set_layer_props(self, layer_id: int, **props: Any) -> None:
        """Change opacity, visible, blend_mode, x/y, locked (and isolated for
        a group); repeated changes of the same properties on the same layer
        merge into one step until sealed. Moving a locked layer is refused."""
        node = self.node(layer_id)
        if ("x" in props and props["x"] != node.x) or ("y" in props and props["y"] != node.y):
            self.check_unlocked(layer_id, "moving it")
        changed = node.with_(**props)
        if changed == node:
            return
        key = ("props", layer_id, tuple(sorted(props)))
        self.commit(_props_label(node, changed), self.state.replace_node(changed), key)

    def set_layer_pixels(
        self,
        layer_id: int,
        pixels: TiledImage,
        label: str,
        x: int | None = None,
        y: int | None = None,
    ) -> None:
        self.check_unlocked(layer_id, label)
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
        self.check_unlocked(layer_id, label)
        node = self.node(layer_id)
        self.commit(label, self.state.replace_node(node.with_(mask=mask)))

    def merge_down(self, layer_id: int) -> Layer:
        """Composite a layer onto the one below it in its group; the result
        keeps the lower layer's name, opacity, blend mode and place."""
        siblings = self.state.siblings_of(layer_id)
        index = self.state.path_of(layer_id)[-1]
        upper = siblings[index]
        if index == 0:
            raise ValueError("the bottom layer of a group has nothing below to merge into")
        lower = siblings[index - 1]
        if not isinstance(upper, Layer) or not isinstance(lower, Layer):
            raise ValueError("merge a group into a layer first (Merge group)")
        self.check_unlocked(lower.id, "merging into it")
        self.check_unlocked(upper.id, "merging it down")
        merged = merge_layers(lower, upper)
        state = self.state.remove_node(upper.id).replace_node(merged)
        self.commit(f"Merge '{upper.name}' down", state)
        return merged

    def group_layers(self, node_ids: list[int], name: str = "Group") -> Group:
        """Put layers or groups that share one parent into a new group, which
        takes the place of the topmost of them; their order is kept."""
        if not node_ids:
            raise ValueError("nothing to group")
        state = self.state
        parents = {getattr(state.parent_of(i), "id", None) for i in node_ids}
        if len(parents) != 1:
            raise ValueError("only layers in the same group can be grouped together")
        (parent_id,) = parents
        order = sorted(set(node_ids), key=lambda i: state.path_of(i)[-1])
        group = Group(name, tuple(state.node(i) for i in order))
        siblings = state.siblings_of(order[0])
        chosen = set(order)
        top = state.path_of(order[-1])[-1]
        kept = [n for n in siblings[: top + 1] if n.id not in chosen]
        kept = [*kept, group, *siblings[top + 1 :]]
        if parent_id is None:
            changed = state.with_root(tuple(kept))
        else:
            changed = state.replace_node(state.group(parent_id).with_(children=tuple(kept)))
        children = group.children
        self.commit(f"Group {len(children)} layer{'s' * (len(children) != 1)}", changed)
        return group

    def ungroup(self, group_id: int) -> None:
        """Replace a group by its children (its own mode, opacity and mask go)."""
        group = self.state.group(group_id)
        path = self.state.path_of(group_id)
        root = _edit(self.state.root, path, lambda _: list(group.children))
        self.commit(f"Ungroup '{group.name}'", self.state.with_root(root))

    def merge_group(self, group_id: int) -> Layer:
        """Flatten a group into one layer in its place: its children composited
        on their own, the group's mask baked in, its opacity and mode kept (a
        pass-through group becomes a normal layer)."""
        group = self.state.group(group_id)
        for node in (group, *iter_nodes(group.children)):
            self.check_unlocked(node.id, "merging the group")
        merged = flatten_group(self.state, group)
        self.commit(f"Merge group '{group.name}'", self.state.replace_node(merged))
        return merged


def _insert_at_leaf(state: DocState, node: Node, index: int) -> DocState:
    """`state` (with at least one layer) with `node` at place `index` of
    `layers`: just below the layer there, in its group, or above the top one."""
    index = max(0, min(index, len(state.layers)))
    if index < len(state.layers):
        return state.insert_beside(node, state.layers[index].id, above=False)
    return state.insert_beside(node, state.layers[-1].id, above=True)


def _fresh_ids(node: Node) -> Node:
    """A copy of a layer or group (and everything in it) with new ids."""
    if isinstance(node, Group):
        return replace(
            node, id=new_layer_id(), children=tuple(_fresh_ids(c) for c in node.children)
        )
    return replace(node, id=new_layer_id())


def flatten_group(state: DocState, group: Group) -> Layer:
    """A group as one layer over its children's area (see `Document.merge_group`)."""
    from warpaint.engine.core.compositing import group_content

    area = group.bounds
    if area.empty:
        area = Rect(0, 0, 1, 1)
    pixels = group_content(state, group, area)
    dtypes = [
        layer.pixels.dtype for layer in iter_nodes(group.children) if isinstance(layer, Layer)
    ]
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.uint8)
    return Layer(
        group.name,
        TiledImage.from_array(from_float(pixels, dtype)),
        opacity=group.opacity,
        visible=group.visible,
        blend_mode=group.blend_mode if group.isolated else "normal",
        x=area.x,
        y=area.y,
        id=group.id,
        extra=group.extra,
    )


class LockedError(BadInputError):
    """An edit would change a locked layer or group."""


def _props_label(before: Node, after: Node) -> str:
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
    if after.locked != before.locked:
        parts.append(f"{'Lock' if after.locked else 'Unlock'} '{name}'")
    if isinstance(before, Group) and isinstance(after, Group) and after.isolated != before.isolated:
        parts.append(f"Group '{name}': {'isolated' if after.isolated else 'pass-through'}")
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
