"""The layer tree: group, ungroup, move into and out of groups, merge a group,
each one undoable step with pixels and structure restored bit-exactly, and
tiles counted once in the history whatever the structure."""

import numpy as np
import pytest

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocState, Document, Group, Layer, tree_depth
from warpaint.engine.core.tiles import TILE, TiledImage


def noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def _names(nodes):
    """The tree as nested lists of names, bottom first."""
    return [[n.name, _names(n.children)] if isinstance(n, Group) else n.name for n in nodes]


@pytest.fixture
def doc():
    layers = tuple(
        Layer.from_array(name, noise(40, 50, seed), blend_mode=mode)
        for seed, (name, mode) in enumerate(
            [("a", "normal"), ("b", "multiply"), ("c", "screen"), ("d", "difference")]
        )
    )
    return Document(DocState(50, 40, layers))


def _snapshot(d):
    return _names(d.state.root), flatten(d.state)


def test_grouping_puts_the_layers_in_a_group_where_the_topmost_was(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, d.id], "G")
    assert _names(doc.state.root) == ["a", "c", ["G", ["b", "d"]]]
    assert doc.state.parent_of(b.id) == doc.state.group(group.id)
    assert doc.history.labels[-1] == "Group 2 layers"


def test_grouping_layers_of_different_groups_is_refused(doc):
    a, b, c, d = doc.layers
    doc.group_layers([c.id, d.id])
    with pytest.raises(ValueError, match="same group"):
        doc.group_layers([a.id, d.id])


def test_ungroup_puts_the_children_back_in_its_place(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    doc.ungroup(group.id)
    assert _names(doc.state.root) == ["a", "b", "c", "d"]


def test_every_group_edit_is_one_step_and_undo_redo_is_bit_exact(doc):
    a, b, c, d = doc.layers
    snapshots = [_snapshot(doc)]
    group = doc.group_layers([b.id, c.id], "G")
    snapshots.append(_snapshot(doc))
    doc.set_layer_props(group.id, isolated=False)
    snapshots.append(_snapshot(doc))
    doc.set_layer_props(group.id, opacity=0.4)
    snapshots.append(_snapshot(doc))
    doc.move_node(d.id, group.id, 0)
    snapshots.append(_snapshot(doc))
    inner = doc.group_layers([d.id, b.id], "Inner")
    snapshots.append(_snapshot(doc))
    doc.move_node(a.id, inner.id, 2)
    snapshots.append(_snapshot(doc))
    doc.merge_group(inner.id)
    snapshots.append(_snapshot(doc))
    assert tree_depth(doc.state.root) == 1
    # Each edit changed what shows or how it is built.
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        assert before[0] != after[0] or not np.array_equal(before[1], after[1])
    for expected in reversed(snapshots[:-1]):
        assert doc.undo()
        names, pixels = _snapshot(doc)
        assert names == expected[0]
        np.testing.assert_array_equal(pixels, expected[1])
    for expected in snapshots[1:]:
        assert doc.redo()
        names, pixels = _snapshot(doc)
        assert names == expected[0]
        np.testing.assert_array_equal(pixels, expected[1])


def test_a_group_cannot_move_inside_itself(doc):
    a, b, c, d = doc.layers
    outer = doc.group_layers([b.id, c.id], "Outer")
    inner = doc.group_layers([c.id], "Inner")
    with pytest.raises(ValueError, match="inside itself"):
        doc.move_node(outer.id, inner.id, 0)


def test_moving_a_layer_out_of_a_group_to_the_root(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    doc.move_node(b.id, None, 3)  # above d (counted before the move)
    assert _names(doc.state.root) == ["a", ["G", ["c"]], "d", "b"]
    assert doc.state.group(group.id).children == (doc.layer(c.id),)


def test_flat_moves_land_in_the_group_of_the_layer_beside(doc):
    a, b, c, d = doc.layers
    doc.group_layers([b.id, c.id], "G")
    doc.move_layer(a.id, 1)  # between b and c in drawing order
    assert _names(doc.state.root) == [["G", ["b", "a", "c"]], "d"]


def test_merge_group_keeps_what_shows_for_an_isolated_group(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    doc.set_layer_props(group.id, opacity=0.5, blend_mode="overlay")
    before = flatten(doc.state)
    merged = doc.merge_group(group.id)
    assert isinstance(doc.node(group.id), Layer)
    assert (merged.opacity, merged.blend_mode, merged.name) == (0.5, "overlay", "G")
    assert np.abs(flatten(doc.state).astype(int) - before.astype(int)).max() <= 1


def test_merge_down_stays_within_a_group(doc):
    a, b, c, d = doc.layers
    doc.group_layers([b.id, c.id], "G")
    with pytest.raises(ValueError, match="bottom layer of a group"):
        doc.merge_down(b.id)
    doc.merge_down(c.id)
    assert _names(doc.state.root) == ["a", ["G", ["b"]], "d"]


def test_duplicating_a_group_gives_everything_in_it_new_ids(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    copy = doc.duplicate_layer(group.id)
    ids = [n.id for n in doc.state.groups] + [lay.id for lay in doc.layers]
    assert len(ids) == len(set(ids))
    assert _names(doc.state.root) == ["a", ["G", ["b", "c"]], ["G copy", ["b", "c"]], "d"]
    assert copy.children[0].pixels is b.pixels  # tiles shared, not copied


def test_deleting_a_group_deletes_what_is_in_it_and_undo_brings_it_back(doc):
    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    doc.delete_layer(group.id)
    assert _names(doc.state.root) == ["a", "d"]
    assert doc.history.labels[-1] == "Delete group 'G'"
    doc.undo()
    assert _names(doc.state.root) == ["a", ["G", ["b", "c"]], "d"]


def test_structure_edits_add_no_tiles_to_the_history():
    d = Document.from_array(noise(TILE, TILE * 2))
    d.add_layer(Layer.from_array("top", noise(TILE, TILE * 2, 1)))
    base = d.history.memory_bytes()
    group = d.group_layers([lay.id for lay in d.layers], "G")
    d.set_layer_props(group.id, isolated=False)
    d.move_node(d.layers[0].id, None, 0)
    assert d.history.memory_bytes() == base


def test_group_masks_count_in_the_history():
    d = Document.from_array(noise(TILE, TILE))
    group = d.group_layers([d.layers[0].id], "G")
    mask = TiledImage.from_array(np.full((TILE, TILE, 1), 255, np.uint8))
    d.set_layer_mask(group.id, mask)
    assert mask.tile_ids().keys() <= d.state.tile_ids().keys()


def test_a_group_refuses_a_spatial_mode_and_bad_opacity():
    with pytest.raises(ValueError, match="multiresolution"):
        Group("g", blend_mode="multiresolution")
    with pytest.raises(ValueError, match="opacity"):
        Group("g", opacity=1.5)


# -- locks ------------------------------------------------------------------


def test_a_locked_layer_keeps_its_pixels_mask_and_place_but_not_its_looks(doc):
    from warpaint.engine.core.document import LockedError

    a, b, c, d = doc.layers
    doc.set_layer_props(b.id, locked=True)
    assert doc.history.labels[-1] == "Lock 'b'"
    with pytest.raises(LockedError, match="layer 'b' is locked"):
        doc.set_layer_pixels(b.id, TiledImage.from_array(noise(40, 50, 9)), "Paint")
    with pytest.raises(LockedError):
        doc.set_layer_mask(b.id, TiledImage.from_array(np.zeros((40, 50, 1), np.uint8)))
    with pytest.raises(LockedError):
        doc.set_layer_props(b.id, x=3)
    with pytest.raises(LockedError):
        doc.merge_down(c.id)  # into the locked b
    doc.set_layer_props(b.id, visible=False, opacity=0.5, blend_mode="screen")
    doc.move_layer(b.id, 3)
    assert doc.layer(b.id).pixels is b.pixels and doc.layer(b.id).x == 0


def test_a_locked_group_locks_everything_in_it(doc):
    from warpaint.engine.core.document import LockedError

    a, b, c, d = doc.layers
    group = doc.group_layers([b.id, c.id], "G")
    doc.set_layer_props(group.id, locked=True)
    assert doc.state.is_locked(c.id) and not doc.state.is_locked(d.id)
    with pytest.raises(LockedError, match="group 'G' is locked|layer 'c' is locked"):
        doc.set_layer_pixels(c.id, TiledImage.from_array(noise(40, 50, 9)), "Paint")
    with pytest.raises(LockedError):
        doc.merge_group(group.id)
    doc.set_layer_props(group.id, locked=False)
    doc.set_layer_pixels(c.id, TiledImage.from_array(noise(40, 50, 9)), "Paint")


def test_an_effect_may_add_a_layer_above_a_locked_one_but_not_replace_it(doc):
    from warpaint.engine.core.document import LockedError
    from warpaint.engine.runtime.apply import commit_effect, effect_job
    from warpaint.engine.runtime.jobs import Job, JobContext

    a = doc.layers[0]
    doc.set_layer_props(a.id, locked=True)
    result = effect_job(doc.state, a.id, "gaussian-blur", {"sigma": 1.0})(
        JobContext(Job(lambda c: None))
    )
    with pytest.raises(LockedError):
        commit_effect(doc, result, target="replace")
    added = commit_effect(doc, result, target="new_layer")
    assert doc.state.parent_of(added.id) is None and doc.layer(a.id).pixels is a.pixels
