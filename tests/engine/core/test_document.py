"""Document edits and history: undo/redo bit-exact, merging, dirty flag, memory bound."""

import numpy as np
import pytest

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.history import History
from warpaint.engine.core.tiles import TILE, TiledImage


def noise(h, w, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, (h, w, 4), dtype=dtype)


@pytest.fixture
def doc():
    return Document.from_array(noise(300, 400))


def test_new_document_is_clean_with_one_background_layer():
    d = Document.new(64, 32, background=(1.0, 0.0, 0.0, 1.0))
    assert not d.dirty
    assert [lay.name for lay in d.layers] == ["Background"]
    assert tuple(flatten(d.state)[5, 5]) == (255, 0, 0, 255)


def test_pixel_edit_undo_redo_restores_pixels_bit_exactly(doc):
    layer = doc.layers[0]
    before = layer.pixels.to_array()
    edited = layer.pixels.with_region(5, 5, np.zeros((50, 50, 4), np.uint8))
    doc.set_layer_pixels(layer.id, edited, "Paint")
    after = doc.layer(layer.id).pixels.to_array()
    assert not np.array_equal(before, after)
    assert doc.undo()
    np.testing.assert_array_equal(doc.layer(layer.id).pixels.to_array(), before)
    assert doc.redo()
    np.testing.assert_array_equal(doc.layer(layer.id).pixels.to_array(), after)


def test_dirty_flag_follows_edits_saves_and_undo(doc):
    assert not doc.dirty
    doc.rename_layer(doc.layers[0].id, "Photo")
    assert doc.dirty
    doc.undo()
    assert not doc.dirty, "undoing back to the saved state makes the document clean"
    doc.redo()
    doc.mark_saved("/tmp/x.ora")
    assert not doc.dirty and doc.name == "x.ora"
    doc.undo()
    assert doc.dirty


def test_every_layer_operation_is_one_undoable_step(doc):
    base = doc.layers[0].id
    second = doc.add_layer(Layer.from_array("top", noise(10, 10, 1), x=3, y=4))
    copy = doc.duplicate_layer(second.id)
    doc.move_layer(copy.id, 0)
    doc.rename_layer(second.id, "renamed")
    doc.set_layer_props(second.id, blend_mode="multiply")
    doc.merge_down(second.id)
    doc.delete_layer(copy.id)
    labels = doc.history.labels
    assert len(labels) == 8, labels
    names_per_step = []
    while True:
        names_per_step.append([lay.name for lay in doc.layers])
        if not doc.undo():
            break
    assert names_per_step[-1] == ["Background"]
    assert names_per_step[-2] == ["Background", "top"]
    assert names_per_step[-3] == ["Background", "top", "top copy"]
    assert names_per_step[-4] == ["top copy", "Background", "top"]
    assert doc.layers[0].id == base


def test_consecutive_drags_of_one_property_merge_into_one_step(doc):
    lid = doc.layers[0].id
    for value in (0.9, 0.8, 0.7, 0.6):
        doc.set_layer_props(lid, opacity=value)
    assert len(doc.history.labels) == 2
    doc.history.seal()  # the slider was released
    doc.set_layer_props(lid, opacity=0.5)
    doc.set_layer_props(lid, visible=False)  # another property: its own step
    assert len(doc.history.labels) == 4
    doc.undo()
    doc.undo()
    assert doc.layer(lid).opacity == pytest.approx(0.6)
    doc.undo()
    assert doc.layer(lid).opacity == 1.0


def test_merge_down_composites_with_the_upper_blend_mode():
    white = np.full((2, 2, 4), 255, np.uint8)
    grey = np.full((2, 2, 4), 128, np.uint8)
    grey[..., 3] = 255
    d = Document.from_array(white)
    top = d.add_layer(Layer.from_array("grey", grey, blend_mode="multiply", opacity=0.5))
    merged = d.merge_down(top.id)
    assert len(d.layers) == 1 and merged.name == "Background"
    # multiply white by 128/255 at 50 %: 255 * (0.5 + 0.5 * 128/255) = 191.5 -> 192
    assert tuple(d.layers[0].pixels.read()[0, 0]) == (192, 192, 192, 255)
    np.testing.assert_array_equal(flatten(d.state)[0, 0], [192, 192, 192, 255])


def test_merging_the_bottom_layer_is_refused(doc):
    with pytest.raises(ValueError, match="bottom"):
        doc.merge_down(doc.layers[0].id)


def test_listeners_hear_every_change_and_can_unsubscribe(doc):
    seen = []
    stop = doc.subscribe(lambda d: seen.append(len(d.history.labels)))
    doc.rename_layer(doc.layers[0].id, "a")
    doc.undo()
    stop()
    doc.redo()
    assert seen == [2, 2]


def test_history_memory_counts_only_changed_tiles(doc):
    layer = doc.layers[0]
    doc.set_layer_pixels(
        layer.id, layer.pixels.with_region(0, 0, np.zeros((4, 4, 4), np.uint8)), "Dot"
    )
    assert doc.history.memory_bytes() == TILE * TILE * 4  # the one old tile


def test_history_drops_oldest_steps_beyond_its_memory_bound():
    tile_bytes = TILE * TILE * 4
    d = Document.from_array(noise(TILE, TILE * 4), history_limit_bytes=int(2.5 * tile_bytes))
    lid = d.layers[0].id
    for i in range(6):
        pixels = d.layer(lid).pixels.with_region(i % 4 * TILE, 0, noise(TILE, TILE, 10 + i))
        d.set_layer_pixels(lid, pixels, f"Edit {i}")
    assert d.history.memory_bytes() <= 2.5 * tile_bytes
    assert d.history.labels[-1] == "Edit 5"
    assert len(d.history.labels) == 3  # two undo steps fit in 2.5 tiles
    assert "Open" not in d.history.labels


def test_history_keeps_one_undo_step_even_when_it_alone_exceeds_the_bound():
    state = DocState(8, 8, (Layer.from_array("a", noise(8, 8)),))
    h = History(state, limit_bytes=1)
    h.push("big", DocState(8, 8, (Layer.from_array("b", noise(8, 8, 1)),)))
    assert h.can_undo


def test_sixteen_bit_layers_stay_sixteen_bit_through_edits():
    d = Document.from_array(noise(20, 20, dtype=np.uint16))
    lid = d.layers[0].id
    d.set_layer_props(lid, opacity=0.5)
    assert d.layer(lid).pixels.dtype == np.uint16
    assert d.state.meta.bit_depth == 16


def test_layer_validation_rejects_bad_values():
    pixels = TiledImage.from_array(noise(4, 4))
    with pytest.raises(ValueError):
        Layer("x", pixels, opacity=1.5)
    with pytest.raises(ValueError):
        Layer("x", pixels, blend_mode="nope")
    with pytest.raises(ValueError):
        Layer("x", pixels, mask=TiledImage.from_array(np.zeros((3, 3, 1), np.uint8)))


def test_saving_a_snapshot_keeps_later_edits_dirty(doc):
    snapshot = doc.state
    doc.rename_layer(doc.layers[0].id, "edited during the save")
    doc.mark_saved("/tmp/saved.ora", snapshot)
    assert doc.dirty and doc.path == "/tmp/saved.ora"
    doc.undo()
    assert not doc.dirty, "undoing back to the saved snapshot is clean"
