"""OpenRaster: the spec's layout, round trips with Warpaint's extensions, other editors' files."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree as ET

import io_corpus as corpus
import numpy as np
import pytest
from PIL import Image

from warpaint.engine.core.compositing import BLEND_MODES, flatten
from warpaint.engine.core.document import DocMeta, DocState, Document, Group, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io import (
    WARPAINT_NS,
    describe,
    open_document,
    open_image_as_layer,
    pngio,
    read_ora,
    save_document,
    write_ora,
)
from warpaint.engine.runtime.errors import BadInputError

WP = f"{{{WARPAINT_NS}}}"


def _rich_state() -> DocState:
    """Layers covering every property: depths, masks, offsets, modes, extras."""
    bg = Layer.from_array("Background", corpus.rgba_pattern(40, 50, np.uint8, opaque=True))
    mask8 = TiledImage.from_array(
        np.tile(np.arange(0, 250, 25, dtype=np.uint8), (12, 1))[..., None]
    )
    masked = Layer(
        "Masked multiply",
        TiledImage.from_array(corpus.rgba_pattern(12, 10, np.uint8)),
        opacity=0.25,
        blend_mode="multiply",
        mask=mask8,
        x=-3,
        y=7,
        extra=(("selected", "true"), ("{urn:other-editor}tag", "kept")),
    )
    deep = Layer(
        "Deep screen",
        TiledImage.from_array(corpus.rgba_pattern(20, 30, np.uint16)),
        blend_mode="screen",
        x=5,
        y=5,
    )
    hidden = Layer(
        "Hidden difference",
        TiledImage.from_array(corpus.rgba_pattern(8, 8, np.uint8)),
        visible=False,
        blend_mode="difference",
        x=45,
        y=35,
    )
    floaty = corpus.rgba_pattern(6, 6, np.float32)
    float_mask = TiledImage.from_array(np.linspace(0, 1, 36, dtype=np.float32).reshape(6, 6, 1))
    floating = Layer(
        "Float overlay",
        TiledImage.from_array(floaty),
        blend_mode="overlay",
        mask=float_mask,
        opacity=0.6,
    )
    meta = DocMeta(
        source_format="png", bit_depth=16, icc_profile=corpus.make_rgb_profile(), dpi=(240.0, 240.0)
    )
    return DocState(50, 40, (bg, masked, deep, hidden, floating), meta)


def test_round_trip_keeps_every_layer_property_and_pixels(tmp_path):
    state = _rich_state()
    path = tmp_path / "rich.ora"
    write_ora(state, path)
    back = read_ora(path)
    assert (back.width, back.height) == (50, 40)
    assert [lay.name for lay in back.layers] == [lay.name for lay in state.layers]
    for a, b in zip(state.layers, back.layers, strict=True):
        assert (a.x, a.y, a.visible, a.blend_mode) == (b.x, b.y, b.visible, b.blend_mode), a.name
        assert a.opacity == pytest.approx(b.opacity), a.name
        assert b.pixels.dtype == a.pixels.dtype, a.name
        if a.pixels.dtype == np.float32:
            np.testing.assert_allclose(b.pixels.to_array(), a.pixels.to_array(), atol=1 / 65535)
        else:
            assert b.pixels.equals(a.pixels), a.name
        assert (a.mask is None) == (b.mask is None), a.name
        if a.mask is not None and b.mask is not None:
            assert b.mask.dtype == a.mask.dtype
            np.testing.assert_allclose(b.mask.read_float(), a.mask.read_float(), atol=1 / 65535)
    assert dict(back.layers[1].extra) == {"selected": "true", "{urn:other-editor}tag": "kept"}
    assert back.meta.icc_profile == state.meta.icc_profile
    assert back.meta.dpi == (240.0, 240.0)
    assert back.meta.bit_depth == 16


def test_archive_layout_follows_the_openraster_spec(tmp_path):
    state = _rich_state()
    path = tmp_path / "spec.ora"
    write_ora(state, path)
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"image/openraster"
        names = zf.namelist()
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= set(names)
        root = ET.fromstring(zf.read("stack.xml"))
        layers = root.find("stack").findall("layer")
        # The first <layer> is the top of the stack.
        assert [el.get("name") for el in layers] == [lay.name for lay in reversed(state.layers)]
        assert all(
            el.get("src", "").startswith("data/") and el.get("src") in names for el in layers
        )
        ops = {el.get("name"): el.get("composite-op") for el in layers}
        assert ops == {
            "Background": "svg:src-over",
            "Masked multiply": "svg:multiply",
            "Deep screen": "svg:screen",
            "Hidden difference": "svg:difference",
            "Float overlay": "svg:overlay",
        }
        hidden = next(el for el in layers if el.get("name") == "Hidden difference")
        assert hidden.get("visibility") == "hidden" and (hidden.get("x"), hidden.get("y")) == (
            "45",
            "35",
        )
        masked = next(el for el in layers if el.get("name") == "Masked multiply")
        assert masked.get(WP + "mask") in names
        with Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png"))) as thumb:
            assert max(thumb.size) <= 256
        merged_bytes = zf.read("mergedimage.png")
        deep_src = next(el for el in layers if el.get("name") == "Deep screen").get("src")
        deep_header = pngio.read_header(zf.read(deep_src))
    assert deep_header is not None and deep_header.bit_depth == 16
    merged_header = pngio.read_header(merged_bytes)
    assert merged_header is not None and merged_header.bit_depth == 16  # a 16-bit document
    merged = pngio.decode16(merged_bytes)
    np.testing.assert_array_equal(merged, flatten(state, np.uint16))


def test_thumbnail_of_a_big_canvas_is_at_most_256_pixels(tmp_path):
    state = DocState(600, 300, (Layer.from_array("a", corpus.rgba_pattern(300, 600)),))
    write_ora(state, tmp_path / "big.ora")
    with (
        zipfile.ZipFile(tmp_path / "big.ora") as zf,
        Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png"))) as t,
    ):
        assert t.size == (256, 128)


def test_warpaint_only_blend_mode_is_an_extension_with_an_svg_fallback(tmp_path, monkeypatch):
    monkeypatch.setitem(BLEND_MODES, "multiresolution", lambda cb, cs: cs)
    layer = Layer.from_array("Multires", corpus.rgba_pattern(4, 4), blend_mode="multiresolution")
    write_ora(DocState(4, 4, (layer,)), tmp_path / "m.ora")
    with zipfile.ZipFile(tmp_path / "m.ora") as zf:
        el = ET.fromstring(zf.read("stack.xml")).find("stack/layer")
    assert el.get("composite-op") == "svg:src-over"
    assert el.get(WP + "blend-mode") == "multiresolution"
    assert read_ora(tmp_path / "m.ora").layers[0].blend_mode == "multiresolution"


def test_a_blend_mode_this_version_lacks_opens_as_normal_and_is_written_back(tmp_path):
    xml = f"""<image w="4" h="4" xmlns:warpaint="{WARPAINT_NS}"><stack>
      <layer name="future" src="data/a.png" composite-op="svg:src-over"
             warpaint:blend-mode="hologram"/>
    </stack></image>"""
    corpus.make_ora(
        tmp_path / "f.ora", xml, {"data/a.png": corpus.png_of(corpus.rgba_pattern(4, 4))}
    )
    state = read_ora(tmp_path / "f.ora")
    assert state.layers[0].blend_mode == "normal"
    write_ora(state, tmp_path / "again.ora")
    with zipfile.ZipFile(tmp_path / "again.ora") as zf:
        el = ET.fromstring(zf.read("stack.xml")).find("stack/layer")
    assert el.get(WP + "blend-mode") == "hologram"


def test_unknown_composite_op_reads_as_normal_and_survives_a_save(tmp_path):
    state = read_ora(corpus.krita_style_ora(tmp_path / "k.ora"))
    paint = next(lay for lay in state.layers if lay.name == "Paint")
    assert paint.blend_mode == "normal"
    write_ora(state, tmp_path / "k2.ora")
    with zipfile.ZipFile(tmp_path / "k2.ora") as zf:
        root = ET.fromstring(zf.read("stack.xml"))
    ops = {el.get("name"): el.get("composite-op") for el in root.iter("layer")}
    assert ops["Paint"] == "krita:linear_burn"
    assert ops["Dodge"] == "svg:color-dodge"


def test_gimp_shaped_file_opens_with_its_group(tmp_path):
    state = read_ora(corpus.gimp_style_ora(tmp_path / "gimp.ora"))
    assert (state.width, state.height) == (64, 48)
    assert [lay.name for lay in state.layers] == ["Background", "Hidden", "In group"]
    group = state.root[-1]
    assert isinstance(group, Group)
    assert group.opacity == pytest.approx(0.5)
    assert group.isolated  # below full opacity, OpenRaster isolates it
    in_group = state.layers[2]
    assert group.children == (in_group,)
    assert in_group.opacity == 1.0
    assert in_group.blend_mode == "multiply"
    assert (in_group.x, in_group.y) == (8, 4)
    assert not state.layers[1].visible
    assert tuple(state.layers[0].pixels.read()[0, 0]) == (200, 200, 200, 255)


def test_krita_shaped_file_opens_with_defaults_and_extras(tmp_path):
    state = read_ora(corpus.krita_style_ora(tmp_path / "krita.ora"))
    assert [lay.name for lay in state.layers] == ["Background", "Paint", "Dodge"]
    paint, dodge = state.layers[1], state.layers[2]
    assert (paint.x, paint.y, paint.opacity, paint.visible) == (0, 0, 1.0, True)
    assert dodge.visible
    assert not state.parent_of(dodge.id).visible  # inside a hidden group
    assert dodge.opacity == pytest.approx(0.8)
    assert ("selected", "true") in dodge.extra
    assert state.meta.dpi == (300.0, 300.0)


def test_mypaint_shaped_file_opens_with_negative_offsets_and_unnamed_layers(tmp_path):
    doc = open_document(corpus.mypaint_style_ora(tmp_path / "mypaint.ora"))
    ink = doc.layers[1]
    assert (ink.x, ink.y) == (-64, -64) and ink.pixels.width == 128
    assert ink.blend_mode == "screen" and ink.opacity == pytest.approx(0.7)
    assert ("mypaint_strokemap_v2", "data/layer001_strokemap.dat") in ink.extra
    assert doc.layers[0].name == "Layer 1"
    assert not doc.dirty and doc.path == str(tmp_path / "mypaint.ora")


def test_archive_without_layers_opens_its_merged_image(tmp_path):
    xml = '<image w="5" h="3"><stack/></image>'
    merged = corpus.rgba_pattern(3, 5)
    corpus.make_ora(tmp_path / "flat.ora", xml, {"mergedimage.png": corpus.png_of(merged)})
    state = read_ora(tmp_path / "flat.ora")
    assert len(state.layers) == 1
    np.testing.assert_array_equal(state.layers[0].pixels.to_array(), merged)


@pytest.mark.parametrize("variant", ["no-mimetype", "compressed-mimetype"])
def test_lenient_about_the_mimetype_member(tmp_path, variant):
    xml = '<image w="2" h="2"><stack><layer src="data/a.png" name="a"/></stack></image>'
    members = {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))}
    path = corpus.make_ora(
        tmp_path / "m.ora",
        xml,
        members,
        mimetype=None if variant == "no-mimetype" else b"image/openraster",
        mimetype_compressed=variant == "compressed-mimetype",
    )
    assert read_ora(path).layers[0].name == "a"


def test_save_document_marks_clean_and_refuses_other_extensions(tmp_path):
    doc = Document.from_array(corpus.rgba_pattern(4, 4))
    doc.rename_layer(doc.layers[0].id, "Renamed")
    assert doc.dirty
    save_document(doc, tmp_path / "doc.ora")
    assert not doc.dirty and doc.path == str(tmp_path / "doc.ora")
    assert read_ora(tmp_path / "doc.ora").layers[0].name == "Renamed"
    with pytest.raises(BadInputError, match=r"\.ora"):
        save_document(doc, tmp_path / "doc.png")
    assert not (tmp_path / "doc.png").exists()


def test_describe_lists_layers_top_first_without_decoding(tmp_path):
    write_ora(_rich_state(), tmp_path / "d.ora")
    info = describe(tmp_path / "d.ora")
    assert info["format"] == "OpenRaster" and (info["width"], info["height"]) == (50, 40)
    assert info["bit_depth"] == 16
    assert info["icc"]["description"] == "Adobe RGB like (test)"
    first = info["layers"][0]
    assert (
        first["name"] == "Float overlay" and first["has_mask"] and first["blend_mode"] == "overlay"
    )
    masked = next(x for x in info["layers"] if x["name"] == "Masked multiply")
    assert (masked["x"], masked["y"], masked["width"], masked["height"]) == (-3, 7, 10, 12)
    assert masked["opacity"] == pytest.approx(0.25) and masked["visible"]


def test_open_image_as_layer_flattens_a_layered_file(tmp_path):
    state = _rich_state()
    write_ora(state, tmp_path / "l.ora")
    layer = open_image_as_layer(tmp_path / "l.ora")
    assert layer.name == "l" and layer.pixels.dtype == np.uint16
    np.testing.assert_array_equal(
        layer.pixels.to_array(), flatten(read_ora(tmp_path / "l.ora"), np.uint16)
    )
