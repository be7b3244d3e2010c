"""The layers panel as a tree: groups shown, selected, edited, dragged, made and undone."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTreeWidgetItem

from warpaint.engine.core.document import DocState, Document, Group, Layer
from warpaint.gui.layers_panel import ID_ROLE, PASS_THROUGH

CONTROL = Qt.KeyboardModifier.ControlModifier


def _layer(name: str, value: int) -> Layer:
    return Layer.from_array(name, np.full((8, 8, 4), (value, value, value, 255), np.uint8))


def _nested_document() -> Document:
    """Root, bottom first: Background, Outer [Low, Inner [Deep 1, Deep 2]], Top."""
    inner = Group("Inner", (_layer("Deep 1", 30), _layer("Deep 2", 40)))
    outer = Group("Outer", (_layer("Low", 20), inner))
    state = DocState(8, 8, (_layer("Background", 255), outer, _layer("Top", 90)))
    return Document(state)


def _ids(doc: Document, *names: str) -> list[int]:
    by_name = {node.name: node.id for node in (*doc.state.layers, *doc.state.groups)}
    return [by_name[name] for name in names]


def _doc_tree(nodes) -> list:
    """The document's tree as the panel should show it: top first, (id, children)."""
    return [
        (node.id, _doc_tree(node.children) if isinstance(node, Group) else [])
        for node in reversed(nodes)
    ]


def _shown_tree(parent: QTreeWidgetItem) -> list:
    children = [parent.child(i) for i in range(parent.childCount())]
    return [(item.data(0, ID_ROLE), _shown_tree(item)) for item in children]


def _names(nodes) -> list:
    """Bottom first, groups as (name, [children])."""
    return [
        (node.name, _names(node.children)) if isinstance(node, Group) else node.name
        for node in nodes
    ]


def _drop(panel, node_id: int, onto_id: int, where: str) -> bool:
    """Drag `node_id`'s row and drop it above, on or below `onto_id`'s row,
    through the tree's own drop handling with a real drop event."""
    tree = panel.tree
    panel.set_current_layer(node_id)
    item = panel.item_of(onto_id)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    y = {"above": rect.top() + 1, "on": rect.center().y(), "below": rect.bottom() - 1}[where]
    mime = tree.model().mimeData([tree.indexFromItem(panel.item_of(node_id))])
    event = QDropEvent(
        QPointF(rect.center().x(), y),
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(event)
    return event.isAccepted()


def _click(panel, node_id: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Click a row's name, as a user selects it."""
    tree = panel.tree
    item = panel.item_of(node_id)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


@pytest.fixture
def nested(make_window):
    return make_window(_nested_document())


def test_the_tree_shows_groups_above_their_indented_children_top_first(nested):
    panel, doc = nested.layers_panel, nested.doc
    assert _shown_tree(panel.tree.invisibleRootItem()) == _doc_tree(doc.state.root)
    top, outer, inner, low, deep2 = _ids(doc, "Top", "Outer", "Inner", "Low", "Deep 2")
    # Top first: the rows read Top, Outer, Inner, Deep 2, Deep 1, Low, Background.
    order = [panel.tree.topLevelItem(0).data(0, ID_ROLE)]
    item = panel.tree.itemBelow(panel.item_of(order[0]))
    while item is not None:
        order.append(item.data(0, ID_ROLE))
        item = panel.tree.itemBelow(item)
    assert [doc.node(i).name for i in order] == [
        "Top", "Outer", "Inner", "Deep 2", "Deep 1", "Low", "Background"
    ]  # fmt: skip
    left = {i: panel.tree.visualItemRect(panel.item_of(i)).left() for i in (top, outer, inner)}
    assert left[top] == left[outer] < panel.tree.visualItemRect(panel.item_of(low)).left()
    assert left[inner] < panel.tree.visualItemRect(panel.item_of(deep2)).left()
    for group_id in (outer, inner):
        item = panel.item_of(group_id)
        assert item.isExpanded() and item.childCount() == 2
        assert not item.icon(0).isNull()  # the folder
        assert item.flags() & Qt.ItemFlag.ItemIsDropEnabled
        assert item.data(0, Qt.ItemDataRole.CheckStateRole) is not None  # its visibility box
    assert not panel.item_of(low).flags() & Qt.ItemFlag.ItemIsDropEnabled


def test_a_closed_group_stays_closed_through_edits_and_undo(nested):
    panel, doc = nested.layers_panel, nested.doc
    inner, outer, top = _ids(doc, "Inner", "Outer", "Top")
    panel.set_current_layer(top)
    panel.item_of(inner).setExpanded(False)
    nested.new_layer_action.trigger()  # a structure edit rebuilds the rows
    assert not panel.item_of(inner).isExpanded() and panel.item_of(outer).isExpanded()
    nested.undo()
    assert not panel.item_of(inner).isExpanded()
    panel.set_current_layer(outer)
    nested.ungroup_action.trigger()
    nested.undo()  # the group comes back with its id, and still closed
    assert not panel.item_of(inner).isExpanded()
    panel.item_of(inner).setExpanded(True)
    doc.rename_layer(top, "Top!")
    assert panel.item_of(inner).isExpanded()


def test_dragging_a_layer_into_a_group_and_back_out_is_one_step_each(nested):
    panel, doc = nested.layers_panel, nested.doc
    top, inner, background = _ids(doc, "Top", "Inner", "Background")
    steps = len(doc.history.labels)
    assert _drop(panel, top, inner, "on")
    assert _names(doc.state.root) == [
        "Background", ("Outer", ["Low", ("Inner", ["Deep 1", "Deep 2", "Top"])])
    ]  # fmt: skip
    assert len(doc.history.labels) == steps + 1
    assert doc.history.undo_label == "Move 'Top'"
    assert panel.current_node_id == top
    assert _shown_tree(panel.tree.invisibleRootItem()) == _doc_tree(doc.state.root)
    # Out again: just above the background, at the root.
    assert _drop(panel, top, background, "above")
    assert _names(doc.state.root) == [
        "Background", "Top", ("Outer", ["Low", ("Inner", ["Deep 1", "Deep 2"])])
    ]  # fmt: skip
    assert len(doc.history.labels) == steps + 2
    assert _shown_tree(panel.tree.invisibleRootItem()) == _doc_tree(doc.state.root)
    nested.undo()
    assert doc.state.parent_of(top).id == inner
    nested.undo()
    assert _names(doc.state.root) == _names(_nested_document().state.root)


def test_a_drop_between_rows_lands_in_that_rows_group(nested):
    panel, doc = nested.layers_panel, nested.doc
    background, deep1, low = _ids(doc, "Background", "Deep 1", "Low")
    assert _drop(panel, background, deep1, "below")
    assert _names(doc.state.root) == [
        ("Outer", ["Low", ("Inner", ["Background", "Deep 1", "Deep 2"])]), "Top"
    ]  # fmt: skip
    # Between groups: from the inner group to just above Low, in the outer group.
    assert _drop(panel, background, low, "above")
    assert _names(doc.state.root) == [
        ("Outer", ["Low", "Background", ("Inner", ["Deep 1", "Deep 2"])]), "Top"
    ]  # fmt: skip


def test_groups_are_dragged_whole_but_never_into_themselves(nested):
    panel, doc = nested.layers_panel, nested.doc
    outer, inner, deep1, top = _ids(doc, "Outer", "Inner", "Deep 1", "Top")
    before, steps = doc.state, len(doc.history.labels)
    assert _drop(panel, outer, inner, "on")
    assert _drop(panel, outer, deep1, "above")
    assert _drop(panel, outer, outer, "on")
    assert doc.state is before and len(doc.history.labels) == steps
    # The inner group goes above Top, at the root, children and all.
    assert _drop(panel, inner, top, "above")
    assert _names(doc.state.root) == [
        "Background", ("Outer", ["Low"]), "Top", ("Inner", ["Deep 1", "Deep 2"])
    ]  # fmt: skip
    assert len(doc.history.labels) == steps + 1
    assert panel.current_node_id == inner


def test_ctrl_g_groups_the_selected_rows_and_ctrl_shift_g_ungroups(qtbot, window):
    panel, doc = window.layers_panel, window.doc
    background, square = doc.layers[0].id, doc.layers[1].id
    window.activateWindow()  # shortcuts reach the active window only
    qtbot.waitUntil(window.isActiveWindow)
    _click(panel, square)
    _click(panel, background, CONTROL)
    assert set(panel.selected_node_ids()) == {background, square}
    steps = len(doc.history.labels)
    QTest.keyClick(window, Qt.Key.Key_G, CONTROL)
    assert _names(doc.state.root) == [("Group 1", ["Background", "Square"])]
    assert len(doc.history.labels) == steps + 1
    group = doc.state.root[0]
    assert panel.current_node_id == group.id and window.current_layer_id is None
    assert panel.item_of(square).parent() is panel.item_of(group.id)
    QTest.keyClick(window, Qt.Key.Key_G, CONTROL | Qt.KeyboardModifier.ShiftModifier)
    assert _names(doc.state.root) == ["Background", "Square"]
    assert len(doc.history.labels) == steps + 2
    assert panel.item_of(square).parent() is None
    assert panel.current_node_id == square  # the group's top row takes its place


def test_grouping_rows_of_different_groups_says_why_in_the_status_bar(nested):
    panel, doc = nested.layers_panel, nested.doc
    top, low = _ids(doc, "Top", "Low")
    _click(panel, top)
    _click(panel, low, CONTROL)
    before = doc.state
    nested.group_layers_action.trigger()
    assert doc.state is before
    assert "same group" in nested.statusBar().currentMessage()


def test_the_panel_edits_a_groups_opacity_and_mode_and_offers_pass_through(nested):
    panel, doc = nested.layers_panel, nested.doc
    outer, top = _ids(doc, "Outer", "Top")
    panel.set_current_layer(top)
    assert panel.blend_combo.findData(PASS_THROUGH) == -1  # layers have no pass-through
    _click(panel, outer)
    assert panel.current_node_id == outer
    assert panel.blend_combo.currentData() == "normal"
    index = panel.blend_combo.findData("multiply")
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    group = doc.state.group(outer)
    assert (group.blend_mode, group.isolated) == ("multiply", True)
    steps = len(doc.history.labels)
    index = panel.blend_combo.findData(PASS_THROUGH)
    assert panel.blend_combo.itemText(index) == "Pass through"
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    assert doc.state.group(outer).isolated is False
    assert len(doc.history.labels) == steps + 1
    assert panel.blend_combo.currentData() == PASS_THROUGH
    # A mode again makes the group isolated in that mode, in one step.
    index = panel.blend_combo.findData("screen")
    panel.blend_combo.setCurrentIndex(index)
    panel.blend_combo.activated.emit(index)
    group = doc.state.group(outer)
    assert (group.blend_mode, group.isolated) == ("screen", True)
    assert len(doc.history.labels) == steps + 2
    panel.opacity_spin.setValue(40)
    assert doc.state.group(outer).opacity == 0.4
    assert doc.layer(top).opacity == 1.0
    nested.undo()
    assert doc.state.group(outer).opacity == 1.0


def test_a_groups_visibility_box_and_name_edit_the_group(nested):
    panel, doc = nested.layers_panel, nested.doc
    (inner,) = _ids(doc, "Inner")
    panel.item_of(inner).setCheckState(0, Qt.CheckState.Unchecked)
    assert doc.state.group(inner).visible is False
    panel.item_of(inner).setText(0, "Shadows")
    assert doc.state.group(inner).name == "Shadows"
    assert doc.state.group(inner).visible is False


def test_a_current_group_gives_effects_and_masks_no_pixel_layer(qtbot, nested):
    panel, doc = nested.layers_panel, nested.doc
    outer, low = _ids(doc, "Outer", "Low")
    effect = nested.show_effect("gaussian-blur")
    _click(panel, low)
    assert nested.session.layer_id == low and effect.apply_button.isEnabled()
    _click(panel, outer)
    assert panel.current_node_id == outer
    assert nested.current_layer_id is None and nested.current_layer() is None
    assert nested.session.layer_id is None
    assert not effect.apply_button.isEnabled()
    assert not nested.masks.add_action.isEnabled()
    assert not nested.merge_down_action.isEnabled()
    assert nested.ungroup_action.isEnabled() and nested.merge_group_action.isEnabled()
    effect.preview_requested.emit(effect)  # a preview request with no layer does nothing
    assert nested.bridge.long_jobs == []
    _click(panel, low)
    assert nested.session.layer_id == low
    assert not nested.ungroup_action.isEnabled()


def test_new_group_sits_above_the_current_row_in_its_group(nested):
    panel, doc = nested.layers_panel, nested.doc
    low, outer = _ids(doc, "Low", "Outer")
    panel.set_current_layer(low)
    steps = len(doc.history.labels)
    nested.new_group_action.trigger()
    assert len(doc.history.labels) == steps + 1
    new = doc.state.node(panel.current_node_id)
    assert isinstance(new, Group) and new.children == () and new.name == "Group 3"
    assert doc.state.parent_of(new.id).id == outer
    assert doc.state.path_of(new.id)[-1] == doc.state.path_of(low)[-1] + 1
    # A new layer while a group is current goes in at the group's top.
    nested.new_layer_action.trigger()
    assert doc.state.parent_of(nested.current_layer_id).id == new.id


def test_merge_group_makes_one_layer_in_its_place(nested):
    panel, doc = nested.layers_panel, nested.doc
    (inner,) = _ids(doc, "Inner")
    panel.set_current_layer(inner)
    steps = len(doc.history.labels)
    nested.merge_group_action.trigger()
    assert _names(doc.state.root) == ["Background", ("Outer", ["Low", "Inner"]), "Top"]
    assert len(doc.history.labels) == steps + 1
    # The merged layer keeps the group's id and is now a pixel layer effects can target.
    assert nested.current_layer_id == inner and nested.session.layer_id == inner
    assert panel.item_of(inner).childCount() == 0


def test_the_context_menu_offers_the_group_actions(nested):
    texts = [a.text().replace("&", "") for a in nested.layers_panel.context_menu().actions()]
    for text in ("Group Layers", "Ungroup", "Merge Group", "New Group"):
        assert text in texts
    layer_menu = [a.text().replace("&", "") for a in nested.menus["layer"].actions()]
    for text in ("Group Layers", "Ungroup", "Merge Group", "New Group"):
        assert text in layer_menu


def test_a_group_is_duplicated_deleted_and_raised_whole(nested):
    panel, doc = nested.layers_panel, nested.doc
    (inner,) = _ids(doc, "Inner")
    panel.set_current_layer(inner)
    nested.lower_layer_action.trigger()
    assert _names(doc.state.root)[1] == ("Outer", [("Inner", ["Deep 1", "Deep 2"]), "Low"])
    nested.raise_layer_action.trigger()
    assert _names(doc.state.root)[1] == ("Outer", ["Low", ("Inner", ["Deep 1", "Deep 2"])])
    assert not nested.raise_layer_action.isEnabled()  # the top of its group
    nested.duplicate_layer_action.trigger()
    copy = doc.state.node(panel.current_node_id)
    assert isinstance(copy, Group) and copy.name == "Inner copy" and len(copy.children) == 2
    nested.delete_layer_action.trigger()
    assert not doc.state.contains(copy.id)
    assert _names(doc.state.root) == _names(_nested_document().state.root)


def test_closing_a_group_keeps_the_layer_inside_current_until_another_row_is_made(nested):
    panel, doc = nested.layers_panel, nested.doc
    outer, low = _ids(doc, "Outer", "Low")
    _click(panel, low)
    panel.item_of(outer).setExpanded(False)
    assert nested.current_layer_id == low and nested.session.layer_id == low
    panel.opacity_spin.setValue(50)  # the controls still edit it, and the group stays closed
    assert doc.layer(low).opacity == 0.5 and not panel.item_of(outer).isExpanded()
    nested.new_layer_action.trigger()  # the new layer lands in the group, which opens to show it
    assert doc.state.parent_of(nested.current_layer_id).id == outer
    assert panel.item_of(outer).isExpanded()
