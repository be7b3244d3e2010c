"""Groups in OpenRaster files: nested <stack>s read as a tree and written back
with names, modes, opacity, visibility, isolation and foreign attributes; a
group mask is kept for Warpaint and drawn for other programs; what a reader
that knows only OpenRaster draws matches Warpaint's flatten."""

from __future__ import annotations

import re
import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from tests.helpers import io_corpus as corpus
from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocState, Group, Layer, iter_nodes, tree_depth
from warpaint.engine.core.lod import LevelOfDetail
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io import read_ora, write_ora
from warpaint.engine.io.ora import MAX_GROUP_DEPTH, WARPAINT_NS


def _noise(h, w, seed, alpha=None):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    if alpha is not None:
        a[..., 3] = alpha
    return a


def _tree() -> DocState:
    """Root > "Outer" (isolated, screen, 0.8) > "Inner" (pass-through, masked)."""
    mask = np.zeros((30, 40, 1), np.uint8)
    mask[:, :25] = 255
    mask[:, 25:30] = 128
    inner = Group(
        "Inner",
        (
            Layer.from_array("a", _noise(20, 30, 1), x=5, y=4, blend_mode="overlay"),
            Layer.from_array("b", _noise(16, 16, 2), x=20, y=10, blend_mode="multiply"),
        ),
        isolated=False,
        mask=TiledImage.from_array(mask),
        x=2,
        y=3,
    )
    outer = Group(
        "Outer",
        (Layer.from_array("c", _noise(30, 40, 3), x=-4, y=-2, opacity=0.6), inner),
        blend_mode="screen",
        opacity=0.8,
        extra=(("selected", "true"),),
    )
    hidden = Group("Hidden", (Layer.from_array("d", _noise(10, 10, 4)),), visible=False)
    base = Layer.from_array("base", _noise(40, 50, 5, alpha=255))
    return DocState(50, 40, (base, outer, hidden))


def _shape(nodes):
    """Structure and group properties, bottom first."""
    out = []
    for n in nodes:
        if isinstance(n, Group):
            out.append(
                (
                    n.name,
                    n.opacity,
                    n.visible,
                    n.blend_mode,
                    n.isolated,
                    n.x,
                    n.y,
                    _shape(n.children),
                )
            )
        else:
            out.append((n.name, n.blend_mode, n.opacity, n.x, n.y))
    return out


def _xml_tree(path):
    with zipfile.ZipFile(path) as zf:
        return ET.fromstring(zf.read("stack.xml"))


def _without_warpaint(path, out):
    """A copy of an .ora with every warpaint: attribute removed: what a reader
    that knows only OpenRaster understands of it."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    xml = members["stack.xml"].decode()
    xml = re.sub(r'\s(?:warpaint|ns\d+):[\w-]+="[^"]*"', "", xml)
    members["stack.xml"] = xml.encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def test_a_tree_round_trips_with_every_group_property(tmp_path):
    state = _tree()
    write_ora(state, tmp_path / "t.ora")
    again = read_ora(tmp_path / "t.ora")
    assert _shape(again.root) == _shape(state.root)
    assert ("selected", "true") in again.root[1].extra
    inner = again.root[1].children[1]
    np.testing.assert_array_equal(inner.mask.to_array(), state.root[1].children[1].mask.to_array())
    np.testing.assert_array_equal(flatten(again), flatten(state))
    assert again.meta.warnings == ()


def test_stack_xml_nests_groups_top_first_with_their_attributes(tmp_path):
    write_ora(_tree(), tmp_path / "t.ora")
    root = _xml_tree(tmp_path / "t.ora").find("stack")
    assert [(el.tag, el.get("name")) for el in root] == [
        ("stack", "Hidden"),
        ("stack", "Outer"),
        ("layer", "base"),
    ]
    outer = root[1]
    assert (outer.get("composite-op"), outer.get("opacity"), outer.get("isolation")) == (
        "svg:screen",
        "0.8",
        "isolate",
    )
    inner = outer[0]
    # The mask is drawn for other programs by a dst-in layer on top of the group.
    assert [el.get("name") for el in inner] == ["Inner mask", "b", "a"]
    assert inner[0].get("composite-op") == "svg:dst-in"
    assert inner.get("isolation") == "isolate"  # a dst-in needs the group isolated
    assert inner.get(f"{{{WARPAINT_NS}}}pass-through") == "true"
    assert root[0].get("visibility") == "hidden"


def test_a_reader_that_knows_only_openraster_draws_what_warpaint_draws(tmp_path):
    # Isolated groups with masks and every other property, nothing pass-through
    # (other programs isolate a masked group; Warpaint's pass-through is its own).
    state = _tree()
    inner = state.root[1].children[1].with_(isolated=True)
    state = state.replace_node(inner)
    write_ora(state, tmp_path / "t.ora")
    foreign = read_ora(_without_warpaint(tmp_path / "t.ora", tmp_path / "plain.ora"))
    names = [n.name for n in iter_nodes(foreign.root)]
    assert "Inner mask" in names  # drawn as a layer, not understood as a mask
    diff = np.abs(flatten(foreign).astype(int) - flatten(state).astype(int))
    assert diff.max() <= 1


def test_a_group_mask_edited_elsewhere_opens_as_saved_there(tmp_path):
    write_ora(_tree(), tmp_path / "t.ora")
    with zipfile.ZipFile(tmp_path / "t.ora") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    src = next(el.get("src") for el in _xml_tree(tmp_path / "t.ora").iter("layer")
               if el.get("name") == "Inner mask")  # fmt: skip
    members[src] = corpus.png_of(np.zeros((30, 40, 4), np.uint8) + 255)
    with zipfile.ZipFile(tmp_path / "edited.ora", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    state = read_ora(tmp_path / "edited.ora")
    inner = state.root[1].children[1]
    assert inner.mask is None
    assert [n.name for n in inner.children] == ["a", "b", "Inner mask"]
    assert inner.children[-1].blend_mode == "dst-in"
    assert any("group 'Inner'" in w and "mask was dropped" in w for w in state.meta.warnings)


def test_a_krita_written_tree_re_saves_with_the_same_structure(tmp_path):
    path = corpus.krita_style_ora(tmp_path / "k.ora")
    state = read_ora(path)
    group = state.root[-1]
    assert isinstance(group, Group) and group.name == "Group 1"
    assert not group.visible and group.isolated
    write_ora(state, tmp_path / "again.ora")

    def structure(el):
        return [
            (child.tag, child.get("name"), child.get("visibility", "visible"),
             child.get("composite-op"), structure(child))
            for child in el if child.tag in ("stack", "layer")
        ]  # fmt: skip

    # Krita wraps its layers in a named root <stack>; the tree below it is what counts.
    assert structure(_xml_tree(tmp_path / "again.ora").find("stack")) == structure(
        _xml_tree(path).find("stack")
    )


def test_groups_of_gimp_files_keep_their_offsets(tmp_path):
    state = read_ora(corpus.gimp_style_ora(tmp_path / "g.ora"))
    write_ora(state, tmp_path / "again.ora")
    again = read_ora(tmp_path / "again.ora")
    assert _shape(again.root) == _shape(state.root)
    np.testing.assert_array_equal(flatten(again), flatten(state))


def test_a_pass_through_group_in_a_file_without_isolation_opens_pass_through(tmp_path):
    xml = """<image w="4" h="4"><stack>
      <stack name="G"><layer name="m" src="data/m.png" composite-op="svg:multiply"/></stack>
      <stack name="H" isolation="isolate" visibility="hidden">
        <layer name="n" src="data/m.png"/>
      </stack>
      <layer name="bg" src="data/bg.png"/>
    </stack></image>"""
    members = {
        "data/m.png": corpus.png_of(corpus.solid(4, 4, (128, 64, 255, 255))),
        "data/bg.png": corpus.png_of(corpus.solid(4, 4, (128, 128, 128, 255))),
    }
    state = read_ora(corpus.make_ora(tmp_path / "p.ora", xml, members))
    h, g = state.root[1], state.root[2]
    assert (g.name, g.isolated, h.name, h.isolated) == ("G", False, "H", True)
    # The multiply layer of the pass-through group multiplies the grey below it.
    assert tuple(flatten(state)[0, 0]) == (64, 32, 128, 255)


@pytest.mark.slow
def test_a_tree_as_deep_as_the_limit_composites_reduces_saves_and_opens(tmp_path):
    node: Layer | Group = Layer.from_array("leaf", _noise(8, 8, 6))
    for depth in range(MAX_GROUP_DEPTH):
        node = Group(f"g{depth}", (node,), isolated=depth % 2 == 0)
    state = DocState(8, 8, (node,))
    assert tree_depth(state.root) == MAX_GROUP_DEPTH
    expected = flatten(state)
    LevelOfDetail().state_at(state, 1)
    write_ora(state, tmp_path / "deep.ora")
    again = read_ora(tmp_path / "deep.ora")
    assert tree_depth(again.root) == MAX_GROUP_DEPTH
    np.testing.assert_array_equal(flatten(again), expected)


def test_locks_on_layers_and_groups_round_trip(tmp_path):
    state = _tree()
    outer = state.root[1]
    state = state.replace_node(outer.with_(locked=True)).replace_node(
        state.layers[0].with_(locked=True)
    )
    write_ora(state, tmp_path / "t.ora")
    again = read_ora(tmp_path / "t.ora")
    assert again.root[1].locked and again.layers[0].locked
    assert not again.layers[-1].locked
    assert again.is_locked(again.layers[1].id)  # inside the locked group
