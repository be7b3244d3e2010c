"""The layers panel: the layer tree with thumbnails, visibility, name, opacity,
blend mode, drag and drop, and grouping.

The tree shows the top of the stack first, each group above its children,
which are indented under it. Every edit goes straight to the document as one
undoable step (opacity drags merge into one step, sealed when the slider is
released). Thumbnails are reduced by the engine on the interactive lane and
arrive through the bridge. Which groups are expanded is the panel's own state,
kept per group id, never the document's.

The current row may be a group: `current_node_id` is then the group and
`current_layer_id` is None, because everything that follows the current layer
(effects, masks, merge down, Apply) needs pixels to work on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import cast

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QImage,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.core.compositing import CANVAS_MODES, blend_mode_label, blend_mode_names
from warpaint.engine.core.document import DocState, Document, Group, Layer, Node, iter_nodes
from warpaint.engine.core.lod import LevelOfDetail, shared_lod
from warpaint.engine.core.resample import fit_scale, resize
from warpaint.engine.core.tiles import TiledImage, from_float
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.gui.bridge import JobBridge
from warpaint.gui.canvas import checker_brush, rgba_to_qimage
from warpaint.gui.icons import icon

THUMB = 40
LOCK_COLUMN_WIDTH = 44
LOCKED_ROLE = Qt.ItemDataRole.UserRole + 1
LOCK_ICONS = {"locked": "layer-lock", "inherited": "layer-lock-inherited", "open": "layer-unlocked"}
LOCK_TIPS = {
    "locked": "Locked: pixels, mask and place are protected (click to unlock)",
    "inherited": "Locked by a group it is in (click to lock it on its own too)",
    "open": "Click to lock the pixels, mask and place",
}
ID_ROLE = Qt.ItemDataRole.UserRole
# The blend combo's entry for a group without a result of its own (isolated=False).
PASS_THROUGH = "pass-through"

# Where a drop lands: (parent group id or None for the root, index among its
# children counted bottom first, before the move), as `Document.move_node` takes it.
DropTarget = tuple[int | None, int]


def _thumbnail(lod: LevelOfDetail, pixels: TiledImage, side: int = THUMB) -> np.ndarray:
    """(h, w, 4) uint8 fitting side x side device pixels, reduced by the engine."""
    level = 0
    while level < 8 and max(pixels.width, pixels.height) / 2 ** (level + 1) >= side * 2:
        level += 1
    reduced = lod.image_at(pixels, level) if level else pixels
    scale = fit_scale(reduced.width, reduced.height, side)
    w, h = max(1, round(reduced.width * scale)), max(1, round(reduced.height * scale))
    return from_float(resize(reduced.read_float(), w, h, method="box"), np.uint8)


def _rows(root: tuple[Node, ...]) -> Iterator[tuple[Node, int | None]]:
    """Every node with its parent's id, as the tree shows them: top first,
    each group just above its children."""
    todo: list[tuple[Node, int | None]] = [(node, None) for node in root]
    while todo:
        node, parent_id = todo.pop()
        yield node, parent_id
        if isinstance(node, Group):
            todo += [(child, node.id) for child in node.children]


def _group_modes() -> list[str]:
    return [mode for mode in blend_mode_names() if mode not in CANVAS_MODES]


class LayersPanel(QWidget):
    current_layer_changed = Signal(object)  # pixel layer id, or None (no layer, or a group)
    current_node_changed = Signal(object)  # layer or group id, or None

    def __init__(self, bridge: JobBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LayersPanel")
        self._bridge = bridge
        self._lod = shared_lod()
        self._doc: Document | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._current: int | None = None
        self._announced_layer: int | None = None
        self._thumbs: dict[int, tuple[TiledImage, QIcon]] = {}
        self._syncing = False
        self._shown: list[tuple[int, int | None]] = []
        self._items: dict[int, QTreeWidgetItem] = {}
        self._expanded: dict[int, bool] = {}
        self._context_actions: list[QAction | None] = []
        self._combo_for_group: bool | None = None

        self.tree = _LayerTreeWidget(self)
        self.tree.setObjectName("LayerTree")
        # Column 0: visibility box, thumbnail and name; column 1: the lock.
        self.tree.setColumnCount(2)
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setUniformRowHeights(True)
        self.tree.setIndentation(16)
        # Long names are elided in the middle (a name's end often tells
        # layers apart: "… copy 2"); the full name is in the tooltip. The one
        # column is as wide as the view, so rows never scroll sideways.
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setWordWrap(False)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.tree.header().resizeSection(1, LOCK_COLUMN_WIDTH)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.tree.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.tree.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu)
        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemExpanded.connect(lambda item: self._on_tree_expanded(item, True))
        self.tree.itemCollapsed.connect(lambda item: self._on_tree_expanded(item, False))

        self.blend_combo = QComboBox()
        self.blend_combo.activated.connect(self._on_blend_activated)
        self._fill_blend_combo(for_group=False)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setRange(0, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setKeyboardTracking(False)
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider_changed)
        self.opacity_slider.sliderReleased.connect(self._seal)
        self.opacity_spin.valueChanged.connect(self._on_opacity_spin_changed)
        opacity = QHBoxLayout()
        opacity.addWidget(self.opacity_slider, 1)
        opacity.addWidget(self.opacity_spin)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Blend:", self.blend_combo)
        form.addRow("Opacity:", opacity)

        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addLayout(self.buttons)
        self._update_controls()

    def set_actions(self, actions: Sequence[QAction]) -> None:
        """Tool buttons under the tree for the window's layer actions."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(20, 20))
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)

    def set_mask_actions(self, actions: Sequence[QAction]) -> None:
        """A second row of buttons, for the current layer's mask."""
        row = QHBoxLayout()
        row.setSpacing(2)
        label = QLabel("Mask:")
        label.setObjectName("MaskButtonsLabel")
        row.addWidget(label)
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(20, 20))
            row.addWidget(button)
        row.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.addLayout(row)

    def set_context_actions(self, actions: Sequence[QAction | None]) -> None:
        """The window's actions offered by the tree's context menu (None: a separator)."""
        self._context_actions = list(actions)

    def context_menu(self) -> QMenu:
        """The menu a right click on the tree opens."""
        menu = QMenu(self)
        for action in self._context_actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        return menu

    # -- document ---------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._doc = doc
        self._thumbs.clear()
        self._expanded.clear()
        self._current = doc.layers[-1].id if doc is not None and doc.layers else None
        if doc is not None:
            self._unsubscribe = doc.subscribe(lambda _doc: self.refresh())
        self._syncing = True
        self.tree.clear()
        self._syncing = False
        self._shown, self._items = [], {}
        self.refresh()
        self._announce(force=True)

    @property
    def current_node_id(self) -> int | None:
        """The current row's layer or group."""
        return self._current

    @property
    def current_layer_id(self) -> int | None:
        """The current row's pixel layer; None when the current row is a group."""
        return self._current if isinstance(self.current_node(), Layer) else None

    def current_node(self) -> Node | None:
        if self._doc is None or self._current is None:
            return None
        try:
            return self._doc.node(self._current)
        except KeyError:
            return None

    def set_current_layer(self, node_id: int | None) -> None:
        """Make a layer's or a group's row the current (and only selected) one."""
        if node_id == self._current:
            return
        self._current = node_id
        self._select_current(reveal=True)
        self._update_controls()
        self._announce()

    def _announce(self, force: bool = False) -> None:
        """Tell listeners what is current now (the node, and the pixel layer or None)."""
        layer_id = self.current_layer_id
        if force or layer_id != self._announced_layer:
            self._announced_layer = layer_id
            self.current_layer_changed.emit(layer_id)
        self.current_node_changed.emit(self._current)

    def item_of(self, node_id: int) -> QTreeWidgetItem:
        """The row showing a layer or group."""
        return self._items[node_id]

    def selected_node_ids(self) -> list[int]:
        """The selected rows' layers and groups, top first (the current row when none is)."""
        selected = {item.data(0, ID_ROLE) for item in self.tree.selectedItems()}
        ids = [node_id for node_id, _ in self._shown if node_id in selected]
        if not ids and self._current is not None:
            ids = [self._current]
        return ids

    def refresh(self) -> None:
        doc = self._doc
        state = doc.state if doc is not None else None
        rows = list(_rows(state.root)) if state is not None else []
        structure = [(node.id, parent_id) for node, parent_id in rows]
        previous_current = self._current
        if structure != self._shown:
            self._follow_structure(structure)
            self._rebuild(rows)
        self._syncing = True
        for node, _parent_id in rows:
            self._update_item(self._items[node.id], node)
        self._syncing = False
        self._select_current(reveal=self._current != previous_current)
        self._update_controls()
        self._request_thumbnails(list(state.layers) if state is not None else [])
        if self._current != previous_current or self.current_layer_id != self._announced_layer:
            self._announce()

    def _follow_structure(self, structure: list[tuple[int, int | None]]) -> None:
        """After a structure edit, the current row is what the edit made, or the
        row that took the place of the one that went."""
        ids = [node_id for node_id, _ in structure]
        shown = [node_id for node_id, _ in self._shown]
        known = set(shown)
        new_ids = [i for i in ids if i not in known]
        if new_ids and shown:
            self._current = new_ids[0]  # a layer or group was added: work on it next
        elif self._current not in ids:
            old_row = shown.index(self._current) if self._current in shown else 0
            self._current = ids[min(old_row, len(ids) - 1)] if ids else None

    def _rebuild(self, rows: list[tuple[Node, int | None]]) -> None:
        self._syncing = True
        self.tree.clear()
        self._items = {}
        for node, parent_id in rows:
            item = QTreeWidgetItem()
            item.setData(0, ID_ROLE, node.id)
            flags = (
                Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsEditable
                | Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsDragEnabled
            )
            if isinstance(node, Group):
                flags |= Qt.ItemFlag.ItemIsDropEnabled
                font = item.font(0)
                font.setBold(True)  # a group's row reads apart from its layers' at a glance
                item.setFont(0, font)
            item.setFlags(flags)
            if parent_id is None:
                self.tree.addTopLevelItem(item)
            else:
                self._items[parent_id].addChild(item)
            self._items[node.id] = item
        for node, _parent_id in rows:
            if isinstance(node, Group):
                self._items[node.id].setExpanded(self._expanded.get(node.id, True))
        self._shown = [(node.id, parent_id) for node, parent_id in rows]
        self._syncing = False

    def _update_item(self, item: QTreeWidgetItem, node: Node) -> None:
        if item.text(0) != node.name:
            item.setText(0, node.name)
        state = self._doc.state if self._doc is not None else None
        live = state is not None and state.contains(node.id)
        inherited = not node.locked and live and state is not None and state.is_locked(node.id)
        lock = "locked" if node.locked else "inherited" if inherited else "open"
        if item.data(1, LOCKED_ROLE) != lock:
            item.setData(1, LOCKED_ROLE, lock)
            item.setIcon(1, icon(LOCK_ICONS[lock]))
            item.setToolTip(1, LOCK_TIPS[lock])
        check = Qt.CheckState.Checked if node.visible else Qt.CheckState.Unchecked
        # A new item reads as Unchecked but has no check box until its
        # check-state role is set: a hidden layer's row must set it too.
        if item.data(0, Qt.ItemDataRole.CheckStateRole) is None or item.checkState(0) != check:
            item.setCheckState(0, check)
        if isinstance(node, Group):
            mode = blend_mode_label(node.blend_mode) if node.isolated else "Pass through"
            count = sum(isinstance(n, Layer) for n in iter_nodes(node.children))
            item.setToolTip(
                0,
                f"{node.name}\nGroup of {count} layer{'s' * (count != 1)}"
                f"\n{mode}, {node.opacity:.0%}" + ("\nhas a mask" if node.mask is not None else ""),
            )
            item.setIcon(0, self._folder_icon(item.isExpanded()))
            return
        item.setToolTip(
            0,
            f"{node.name}\n{node.pixels.width} × {node.pixels.height} px"
            f" at {node.x}, {node.y}"
            f"\n{blend_mode_label(node.blend_mode)}, {node.opacity:.0%}"
            + ("\nhas a mask" if node.mask is not None else ""),
        )
        cached = self._thumbs.get(node.id)
        if cached is not None and cached[0] is node.pixels:
            item.setIcon(0, cached[1])

    def _folder_icon(self, open_: bool) -> QIcon:
        pixmap = QStyle.StandardPixmap.SP_DirOpenIcon if open_ else QStyle.StandardPixmap.SP_DirIcon
        return self.style().standardIcon(pixmap)

    def _select_current(self, reveal: bool) -> None:
        """Select the current row; `reveal`: open the groups around it (a row
        that just became current is never hidden in a closed group)."""
        item = self._items.get(self._current) if self._current is not None else None
        if item is None:
            return
        self._syncing = True
        parent = item.parent() if reveal else None
        while parent is not None:
            if not parent.isExpanded():
                parent.setExpanded(True)
                self._expanded[parent.data(0, ID_ROLE)] = True
                parent.setIcon(0, self._folder_icon(True))
            parent = parent.parent()
        if self.tree.currentItem() is not item:
            self.tree.setCurrentItem(item)
        elif not item.isSelected():
            item.setSelected(True)
        self._syncing = False

    def _fill_blend_combo(self, for_group: bool) -> None:
        if self._combo_for_group == for_group:
            return
        self._combo_for_group = for_group
        self.blend_combo.clear()
        if for_group:
            self.blend_combo.addItem("Pass through", PASS_THROUGH)
            self.blend_combo.setItemData(
                0,
                "The group's layers blend straight into what lies below",
                Qt.ItemDataRole.ToolTipRole,
            )
        for mode in _group_modes() if for_group else blend_mode_names():
            self.blend_combo.addItem(blend_mode_label(mode), mode)

    def _update_controls(self) -> None:
        node = self.current_node()
        for widget in (self.blend_combo, self.opacity_slider, self.opacity_spin):
            widget.setEnabled(node is not None)
        if node is None:
            return
        self._syncing = True
        is_group = isinstance(node, Group)
        self._fill_blend_combo(is_group)
        mode = PASS_THROUGH if isinstance(node, Group) and not node.isolated else node.blend_mode
        self.blend_combo.setCurrentIndex(self.blend_combo.findData(mode))
        percent = round(node.opacity * 100)
        if not self.opacity_slider.isSliderDown():
            self.opacity_slider.setValue(percent)
        self.opacity_spin.setValue(percent)
        self._syncing = False

    # -- grouping -------------------------------------------------------------------
    def group_selected(self) -> str | None:
        """Put the selected rows into a new group (one undo step); returns why
        they cannot be grouped, or None when they were."""
        doc, ids = self._doc, self.selected_node_ids()
        if doc is None or not ids:
            return "Select the layers to group first"
        try:
            doc.group_layers(ids, self._new_group_name())
        except ValueError as exc:
            reason = str(exc)
            return reason[:1].upper() + reason[1:]
        return None

    def ungroup_current(self) -> None:
        """Replace the current group by its children."""
        if self._doc is not None and isinstance(self.current_node(), Group):
            assert self._current is not None
            self._doc.ungroup(self._current)

    def merge_current_group(self) -> None:
        """Flatten the current group into one layer."""
        if self._doc is not None and isinstance(self.current_node(), Group):
            assert self._current is not None
            self._doc.merge_group(self._current)

    def add_group(self) -> None:
        """An empty group just above the current row, in the current row's group."""
        doc = self._doc
        if doc is None:
            return
        state, group = doc.state, Group(self._new_group_name())
        if self._current is None or not state.contains(self._current):
            doc.add_node(group, None, len(state.root))
            return
        parent = state.parent_of(self._current)
        index = state.path_of(self._current)[-1] + 1
        doc.add_node(group, None if parent is None else parent.id, index)

    def _new_group_name(self) -> str:
        assert self._doc is not None
        names = {group.name for group in self._doc.state.groups}
        n = len(names) + 1
        while f"Group {n}" in names:
            n += 1
        return f"Group {n}"

    # -- drag and drop ------------------------------------------------------------------
    def drop_target(self, pos: QPoint, node_id: int) -> DropTarget | None:
        """Where `node_id` lands when dropped at `pos` (viewport coordinates):
        on a group row, inside it at the top; near a row's upper or lower edge
        (or either half of a layer row), above or below it in that row's
        group; below every row, the bottom of the stack. None where it cannot
        go (a group into itself)."""
        if self._doc is None:
            return None
        state = self._doc.state
        if not state.contains(node_id):
            return None
        item = self.tree.itemAt(pos)
        target = (None, 0) if item is None else self._drop_beside(state, item, pos)
        parent_id = target[0]
        if parent_id is not None and (
            parent_id == node_id or node_id in state.ancestors(parent_id)
        ):
            return None
        return target

    def _drop_beside(self, state: DocState, item: QTreeWidgetItem, pos: QPoint) -> DropTarget:
        target_id = item.data(0, ID_ROLE)
        node = state.node(target_id)
        rect = self.tree.visualItemRect(item)
        # The same bands as Qt's drop indicator, so the line drawn is where the row lands.
        margin = max(2, min(round(rect.height() / 5.5), 12))
        if pos.y() - rect.top() < margin:
            where = "above"
        elif rect.bottom() - pos.y() < margin:
            where = "below"
        elif isinstance(node, Group):
            where = "on"
        else:
            where = "above" if pos.y() < rect.center().y() else "below"
        if where == "below" and isinstance(node, Group) and node.children and item.isExpanded():
            where = "on"  # the line under an open group's row is above its first child
        if where == "on":
            assert isinstance(node, Group)
            return node.id, len(node.children)
        parent = state.parent_of(target_id)
        index = state.path_of(target_id)[-1]
        return (None if parent is None else parent.id), index + (1 if where == "above" else 0)

    def drop_at(self, pos: QPoint) -> bool:
        """Move the current row to where a drop at `pos` puts it: one move, one undo step."""
        node_id = self._current
        if self._doc is None or node_id is None:
            return False
        target = self.drop_target(pos, node_id)
        if target is None:
            return False
        self._doc.move_node(node_id, *target)
        return True

    # -- thumbnails -----------------------------------------------------------------
    def thumbnails_ready(self) -> bool:
        if self._doc is None:
            return True
        return all(
            (c := self._thumbs.get(layer.id)) is not None and c[0] is layer.pixels
            for layer in self._doc.layers
        )

    def _request_thumbnails(self, layers: list[Layer]) -> None:
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in {lay.id for lay in layers}}
        todo = [
            (layer.id, layer.pixels)
            for layer in layers
            if (c := self._thumbs.get(layer.id)) is None or c[0] is not layer.pixels
        ]
        if not todo:
            return
        lod = self._lod
        # Made for the screen's device pixels, so thumbnails stay sharp on high-DPI screens.
        dpr = self.devicePixelRatioF()
        side = round(THUMB * dpr)

        def job(ctx: JobContext) -> None:
            for i, (layer_id, pixels) in enumerate(todo):
                ctx.report(i / len(todo), (layer_id, pixels, _thumbnail(lod, pixels, side), dpr))

        self._bridge.preview(
            ("thumbnails", id(self)), job, "Layer thumbnails", on_progress=self._on_thumbnail
        )

    def _on_thumbnail(self, job: Job, fraction: float, preview: object) -> None:
        layer_id, pixels, rgba, dpr = cast(tuple[int, TiledImage, np.ndarray, float], preview)
        icon = QIcon(_thumbnail_pixmap(rgba_to_qimage(rgba), dpr))
        self._thumbs[layer_id] = (pixels, icon)
        item = self._items.get(layer_id)
        if item is not None:
            self._syncing = True
            item.setIcon(0, icon)
            self._syncing = False

    # -- user edits -------------------------------------------------------------------
    def _on_tree_current_changed(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        if self._syncing or item is None or item.data(0, ID_ROLE) == self._current:
            return
        # The click that made the row current also selects it (Ctrl and Shift
        # extend the selection): the selection is left to the view here.
        self._current = item.data(0, ID_ROLE)
        self._update_controls()
        self._announce()

    def _on_tree_expanded(self, item: QTreeWidgetItem, expanded: bool) -> None:
        if self._syncing:
            return
        group_id = item.data(0, ID_ROLE)
        self._expanded[group_id] = expanded
        self._syncing = True
        item.setIcon(0, self._folder_icon(expanded))
        self._syncing = False

    def _on_tree_context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is not None and not item.isSelected():
            self.tree.setCurrentItem(item)
        if self._context_actions:
            self.context_menu().exec(self.tree.viewport().mapToGlobal(pos))

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        """A click on a row's lock toggles it (one undo step)."""
        if column != 1 or self._doc is None:
            return
        node_id = item.data(0, ID_ROLE)
        if self._doc.state.contains(node_id):
            locked = not self._doc.node(node_id).locked
            self._doc.set_layer_props(node_id, locked=locked)
            self._seal()

    def _on_item_changed(self, item: QTreeWidgetItem, _column: int) -> None:
        if self._syncing or self._doc is None:
            return
        node_id = item.data(0, ID_ROLE)
        try:
            node = self._doc.node(node_id)
        except KeyError:
            return
        visible = item.checkState(0) == Qt.CheckState.Checked
        if visible != node.visible:
            self._doc.set_layer_props(node_id, visible=visible)
            self._seal()
        name = item.text(0).strip()
        if name and name != node.name:
            self._doc.rename_layer(node_id, name)
        elif not name:
            self._syncing = True
            item.setText(0, node.name)
            self._syncing = False

    def _on_blend_activated(self, index: int) -> None:
        if self._doc is None or self._current is None:
            return
        mode = self.blend_combo.itemData(index)
        if isinstance(self.current_node(), Group):
            # One edit for one choice: the mode and whether the group is isolated change together.
            if mode == PASS_THROUGH:
                self._doc.set_layer_props(self._current, isolated=False)
            else:
                self._doc.set_layer_props(self._current, isolated=True, blend_mode=mode)
        else:
            self._doc.set_layer_props(self._current, blend_mode=mode)
        self._seal()

    def _on_opacity_slider_changed(self, value: int) -> None:
        if self._syncing or self._doc is None or self._current is None:
            return
        self._doc.set_layer_props(self._current, opacity=value / 100)
        if not self.opacity_slider.isSliderDown():
            self._seal()

    def _on_opacity_spin_changed(self, value: int) -> None:
        if self._syncing or self._doc is None or self._current is None:
            return
        self._doc.set_layer_props(self._current, opacity=value / 100)
        self._seal()

    def _seal(self) -> None:
        if self._doc is not None:
            self._doc.history.seal()


class _LayerTreeWidget(QTreeWidget):
    """The tree, whose drops become one `Document.move_node` each instead of
    Qt moving the items itself (the tree is rebuilt from the document)."""

    def __init__(self, panel: LayersPanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def startDrag(self, supported_actions: Qt.DropAction) -> None:  # noqa: N802 - Qt override
        # A drag carries the row it started on: one row, one move, one undo step.
        current = self.currentItem()
        if current is not None and len(self.selectedItems()) > 1:
            self.setCurrentItem(current)
        super().startDrag(supported_actions)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        super().dragMoveEvent(event)
        node_id = self._panel.current_node_id
        pos = event.position().toPoint()
        if event.isAccepted() and (
            node_id is None or self._panel.drop_target(pos, node_id) is None
        ):
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        if not event.mimeData().hasFormat(self.mimeTypes()[0]):
            event.ignore()
            return
        # Copy, not move: the drag must not remove the source rows afterwards;
        # the document's change rebuilds the tree.
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self._panel.drop_at(event.position().toPoint())


def _thumbnail_pixmap(image: QImage, dpr: float) -> QPixmap:
    """The thumbnail (made at `dpr` device pixels per point) centred on a checkerboard."""
    side = round(THUMB * dpr)
    pixmap = QPixmap(side, side)
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(QColor(0, 0, 0, 0))
    image.setDevicePixelRatio(dpr)
    w, h = image.width() / dpr, image.height() / dpr
    x, y = round((THUMB - w) / 2), round((THUMB - h) / 2)
    painter = QPainter(pixmap)
    painter.fillRect(QRectF(x, y, w, h), checker_brush(dpr, 4))
    painter.drawImage(QPointF(x, y), image)
    painter.setPen(QColor(0, 0, 0, 90))
    painter.drawRect(QRectF(x + 0.5, y + 0.5, w - 1, h - 1))
    painter.end()
    return pixmap
