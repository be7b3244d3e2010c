"""OpenRaster with other programs: what they see in Warpaint's files, and what
Warpaint keeps, shows and refuses in theirs. Every file is made here."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import io_corpus as corpus
import numpy as np
import pytest
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocMeta, DocState, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io import (
    WARPAINT_NS,
    Limits,
    describe,
    open_document,
    pngio,
    read_ora,
    write_ora,
)
from warpaint.engine.io.colour import profile_description
from warpaint.engine.io.ora import MODES_BY_OP, MYPAINT_NS
from warpaint.engine.io.raster import read_raster
from warpaint.engine.runtime.errors import BadInputError

WP = f"{{{WARPAINT_NS}}}"
DRAWPILE_XML = """<?xml version='1.0' encoding='UTF-8'?>
<image w="8" h="6" version="0.0.6">
<stack>
<layer name="Marker" src="data/l3.png" composite-op="svg:-dp-marker" opacity="1.0"/>
<layer name="Erase" src="data/l2.png" composite-op="svg:-dp-erase-light" opacity="1.0"/>
<layer name="Paper" src="data/l1.png" composite-op="svg:src-over" opacity="1.0"/>
</stack>
</image>"""


def _layer_elements(path: Path) -> list[ET.Element]:
    with zipfile.ZipFile(path) as zf:
        return list(ET.fromstring(zf.read("stack.xml")).iter("layer"))


def _as_a_plain_reader_sees_it(path: Path) -> DocState:
    """The file as a program that knows only OpenRaster draws it: each src at
    its x, y with its composite-op, no `warpaint:` attribute used."""
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("stack.xml"))
        layers = []
        for el in reversed(list(root.iter("layer"))):
            stored = read_raster(zf.read(el.get("src")), Limits(), convert_colour=False).pixels
            layers.append(
                Layer(
                    el.get("name"),
                    TiledImage.from_array(stored),
                    opacity=float(el.get("opacity")),
                    visible=el.get("visibility") != "hidden",
                    blend_mode=MODES_BY_OP[el.get("composite-op")],
                    x=int(el.get("x")),
                    y=int(el.get("y")),
                )
            )
    return DocState(int(root.get("w")), int(root.get("h")), tuple(layers))


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    out = rgba.copy()
    out[..., :3] *= out[..., 3:4]
    return out


def _replace_member(path: Path, name: str, data: bytes) -> None:
    """Rewrite the archive with one member's bytes changed (as another editor
    that keeps unknown attributes and members would save it)."""
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, old in members:
            zf.writestr(info, data if info.filename == name else old)


def _cli(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_exit_2(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0]


# -- 16-bit layers carry a colour profile ------------------------------------------------


def test_16bit_layer_pngs_carry_an_srgb_icc_profile_and_8bit_ones_stay_as_they_were(tmp_path):
    deep = Layer.from_array("Deep", corpus.rgba_pattern(10, 12, np.uint16))
    floaty = Layer.from_array("Float", corpus.rgba_pattern(10, 12, np.float32))
    mask = TiledImage.from_array(np.full((10, 12, 1), 40000, np.uint16))
    masked_deep = Layer.from_array("Masked", corpus.rgba_pattern(10, 12, np.uint16)).with_(
        mask=mask
    )
    eight = Layer.from_array("Eight", corpus.rgba_pattern(10, 12, np.uint8))
    state = DocState(12, 10, (eight, deep, floaty, masked_deep), DocMeta(bit_depth=16))
    path = tmp_path / "deep.ora"
    write_ora(state, path)
    with zipfile.ZipFile(path) as zf:
        srcs = {el.get("name"): el for el in _layer_elements(path)}
        for name in ("Deep", "Float", "Masked"):
            for member in (srcs[name].get("src"), srcs[name].get(WP + "pixels")):
                if member is None:
                    continue
                data = zf.read(member)
                assert pngio.read_header(data).bit_depth == 16
                icc = pngio.read_meta(data).icc_profile
                assert icc is not None, member
                assert "sRGB" in (profile_description(icc) or ""), member
        assert pngio.read_meta(zf.read("mergedimage.png")).icc_profile is not None
        # A grey mask gets no RGB profile (invalid there); 8-bit layers none (Krita
        # opens them as sRGB already).
        assert pngio.read_meta(zf.read(srcs["Masked"].get(WP + "mask"))).icc_profile is None
        assert pngio.read_meta(zf.read(srcs["Eight"].get("src"))).icc_profile is None
    back = read_ora(path)
    assert back.layers[1].pixels.equals(deep.pixels)
    assert back.layers[1].pixels.dtype == np.uint16


# -- what Warpaint saves is what others see -------------------------------------------------


def _masked_state(dtype: type = np.uint8) -> DocState:
    bg = Layer.from_array("Background", corpus.rgba_pattern(40, 50, dtype, opaque=True))
    ramp = np.linspace(0, 255, 20, dtype=np.float64)[None, :, None] * np.ones((16, 1, 1))
    masked = Layer(
        "Masked",
        TiledImage.from_array(corpus.rgba_pattern(16, 20, dtype)),
        opacity=0.8,
        blend_mode="multiply",
        mask=TiledImage.from_array(np.rint(ramp).astype(np.uint8)),
        x=7,
        y=-3,
    )
    return DocState(50, 40, (bg, masked))


def test_a_masked_layer_is_written_with_its_mask_in_its_alpha_and_its_mode_kept(tmp_path):
    state = _masked_state()
    path = tmp_path / "masked.ora"
    write_ora(state, path)
    el = _layer_elements(path)[0]
    assert el.get("composite-op") == "svg:multiply"
    assert (el.get("x"), el.get("y"), el.get("opacity")) == ("7", "-3", "0.8")
    with zipfile.ZipFile(path) as zf:
        shown = read_raster(zf.read(el.get("src")), Limits(), convert_colour=False).pixels
    layer = state.layers[1]
    expected_alpha = np.rint(layer.pixels.to_array()[..., 3:4] * layer.mask.read_float()).astype(
        np.uint8
    )
    np.testing.assert_array_equal(shown[..., 3:4], expected_alpha)
    np.testing.assert_array_equal(shown[..., :3], layer.pixels.to_array()[..., :3])
    seen = flatten(_as_a_plain_reader_sees_it(path), np.float32)
    np.testing.assert_allclose(seen, flatten(state, np.float32), atol=1 / 255)


@pytest.mark.parametrize(("dtype", "tolerance"), [(np.uint8, 1.0), (np.uint16, 0.01)])
def test_a_multiresolution_layer_is_written_as_its_splined_result_in_normal_mode(
    tmp_path, dtype, tolerance
):
    """Laid normally over what is below, the written pixels give Warpaint's
    flatten to within rounding: the largest premultiplied difference is under
    1/255 at 8 bits and 0.01/255 at 16 (measured: 0.50 and 0.002 over an
    opaque backdrop, 1.0 and 0.004 over a transparent one)."""
    bg = Layer.from_array("Background", corpus.rgba_pattern(60, 80, dtype, opaque=True))
    spline = Layer.from_array(
        "Spline",
        corpus.rgba_pattern(30, 40, dtype, opaque=True),
        blend_mode="multiresolution",
        opacity=0.7,
        x=30,
        y=20,
    )
    above = Layer.from_array("Above", corpus.rgba_pattern(12, 14, dtype), blend_mode="screen")
    for layers in ((bg, spline, above), (spline.with_(x=0, y=0),)):
        state = DocState(80, 60, layers)
        path = tmp_path / "spline.ora"
        write_ora(state, path)
        el = next(e for e in _layer_elements(path) if e.get("name") == "Spline")
        assert el.get("composite-op") == "svg:src-over"
        assert el.get("opacity") == "1.0"  # the opacity is in the baked pixels
        seen = _premultiplied(flatten(_as_a_plain_reader_sees_it(path), np.float32))
        want = _premultiplied(flatten(state, np.float32))
        assert np.abs(seen - want).max() * 255 < tolerance
        back = read_ora(path)
        assert back.meta.warnings == ()
        for a, b in zip(state.layers, back.layers, strict=True):
            assert (a.blend_mode, a.x, a.y, a.opacity) == (b.blend_mode, b.x, b.y, b.opacity)
            assert a.pixels.equals(b.pixels)


def test_a_masked_layer_reopens_editable_in_warpaint(tmp_path):
    state = _masked_state(np.uint16)
    write_ora(state, tmp_path / "m.ora")
    back = read_ora(tmp_path / "m.ora")
    layer, again = state.layers[1], back.layers[1]
    assert again.pixels.equals(layer.pixels)  # the unmasked pixels
    assert again.mask is not None and again.mask.equals(layer.mask)
    assert (again.blend_mode, again.x, again.y) == ("multiply", 7, -3)
    assert back.meta.warnings == ()


def _edited(stored: np.ndarray) -> bytes:
    edited = stored.copy()
    edited[0, 0] = (255, 0, 0, 255)
    return corpus.png_of(edited)


def test_a_masked_layer_edited_elsewhere_opens_as_edited_and_says_the_mask_was_dropped(
    tmp_path, capsys
):
    path = tmp_path / "m.ora"
    write_ora(_masked_state(), path)
    el = _layer_elements(path)[0]
    with zipfile.ZipFile(path) as zf:
        stored = read_raster(zf.read(el.get("src")), Limits(), convert_colour=False).pixels
    _replace_member(path, el.get("src"), _edited(stored))
    back = read_ora(path)
    layer = back.layers[1]
    assert tuple(layer.pixels.to_array()[0, 0]) == (255, 0, 0, 255)
    np.testing.assert_array_equal(layer.pixels.to_array()[1:], stored[1:])
    assert layer.mask is None and layer.blend_mode == "multiply"
    assert (layer.x, layer.y) == (7, -3)
    (warning,) = back.meta.warnings
    assert "'Masked'" in warning and "changed in another program" in warning
    assert "live mask was dropped" in warning
    assert describe(path)["warnings"] == [warning]
    code, out, _ = _cli(["info", path], capsys)
    assert code == 0 and f"warning: {warning}" in out.splitlines()


def test_a_multiresolution_layer_edited_elsewhere_opens_as_edited_in_normal_mode(tmp_path):
    bg = Layer.from_array("Background", corpus.rgba_pattern(30, 30, opaque=True))
    spline = Layer.from_array(
        "Spline", corpus.rgba_pattern(10, 10, opaque=True), blend_mode="multiresolution", x=9
    )
    path = tmp_path / "s.ora"
    write_ora(DocState(30, 30, (bg, spline)), path)
    el = _layer_elements(path)[0]
    with zipfile.ZipFile(path) as zf:
        stored = read_raster(zf.read(el.get("src")), Limits(), convert_colour=False).pixels
    _replace_member(path, el.get("src"), _edited(stored))
    back = read_ora(path)
    layer = back.layers[1]
    assert layer.blend_mode == "normal"
    assert (layer.x, layer.y) == (int(el.get("x")), int(el.get("y")))
    assert tuple(layer.pixels.to_array()[0, 0]) == (255, 0, 0, 255)
    (warning,) = back.meta.warnings
    assert "'Spline'" in warning and "live multiresolution mode was dropped" in warning


def test_originals_lost_by_another_program_open_the_shown_pixels_with_a_warning(tmp_path):
    path = tmp_path / "m.ora"
    write_ora(_masked_state(), path)
    el = _layer_elements(path)[0]
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist() if i.filename != el.get(WP + "pixels")]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            zf.writestr(info, data)
    back = read_ora(path)
    assert back.layers[1].mask is None
    assert "live mask was dropped" in back.meta.warnings[0]


# -- other programs' files -----------------------------------------------------------------


def _mypaint_like(path: Path, layer_png: bytes | None = None) -> Path:
    """Like MyPaint 2: strokemaps beside layers, a background layer whose src is
    the tile repeated plus a namespaced attribute naming the single tile."""
    xml = f"""<?xml version='1.0' encoding='UTF-8'?>
<image h="9" w="10" version="0.0.6" xmlns:mypaint="{MYPAINT_NS}">
<stack>
<layer composite-op="svg:src-over" mypaint_strokemap_v2="data/layer001_strokemap.dat"
 name="Ink" opacity="1.0" src="data/layer001.png" visibility="visible" x="2" y="1"/>
<layer composite-op="svg:src-over" mypaint:background-tile="data/background_tile.png"
 name="background" opacity="1.0" src="data/background.png" visibility="visible" x="0" y="0"/>
</stack>
</image>"""
    tile = corpus.rgba_pattern(4, 3, opaque=True)
    members = {
        "data/layer001.png": layer_png or corpus.png_of(corpus.rgba_pattern(5, 6)),
        "data/layer001_strokemap.dat": bytes(range(256)) * 3,
        "data/background.png": corpus.png_of(tile),  # drawn once if not tiled
        "data/background_tile.png": corpus.png_of(tile),
        "mergedimage.png": corpus.png_of(corpus.rgba_pattern(9, 10, opaque=True)),
        "Thumbnails/thumbnail.png": corpus.png_of(corpus.rgba_pattern(9, 10, opaque=True)),
    }
    return corpus.make_ora(path, xml, members)


def _drawpile_like(path: Path) -> Path:
    members = {
        "data/l3.png": corpus.png_of(corpus.rgba_pattern(6, 8)),
        "data/l2.png": corpus.png_of(corpus.rgba_pattern(6, 8)),
        "data/l1.png": corpus.png_of(corpus.rgba_pattern(6, 8, opaque=True)),
        "drawpile/annotations.xml": b"<annotations><a x='1' y='2'>hello</a></annotations>",
        "drawpile/timeline.json": b'{"frames": [1, 2, 3]}',
        "mergedimage.png": corpus.png_of(corpus.rgba_pattern(6, 8, opaque=True)),
    }
    return corpus.make_ora(path, DRAWPILE_XML, members)


def test_a_background_tile_is_repeated_over_the_canvas(tmp_path):
    path = _mypaint_like(tmp_path / "mp.ora")
    state = read_ora(path)
    background = state.layers[0]
    assert (background.x, background.y) == (0, 0)
    assert (background.pixels.width, background.pixels.height) == (10, 9)
    tile = corpus.rgba_pattern(4, 3, opaque=True)
    np.testing.assert_array_equal(background.pixels.to_array(), np.tile(tile, (3, 4, 1))[:9, :10])
    facts = describe(path)["layers"][-1]
    assert (facts["width"], facts["height"], facts["x"], facts["y"]) == (10, 9, 0, 0)


def test_the_older_background_tile_attribute_and_a_tile_offset_are_honoured(tmp_path):
    xml = """<image w="7" h="5"><stack>
      <layer name="bg" src="data/tile.png" background_tile="data/tile.png" x="1" y="2"/>
    </stack></image>"""
    tile = corpus.rgba_pattern(2, 3, opaque=True)
    path = corpus.make_ora(tmp_path / "old.ora", xml, {"data/tile.png": corpus.png_of(tile)})
    layer = read_ora(path).layers[0]
    # One copy of the tile has its corner at (1, 2): canvas (1, 2) is tile (0, 0).
    pixels = layer.pixels.to_array()
    assert pixels.shape == (5, 7, 4)
    np.testing.assert_array_equal(pixels[2, 1], tile[0, 0])
    np.testing.assert_array_equal(pixels[0, 0], tile[0, 2])
    # Saved back, the attribute still names a member that is there.
    write_ora(read_ora(path), tmp_path / "again.ora")
    with zipfile.ZipFile(tmp_path / "again.ora") as zf:
        el = ET.fromstring(zf.read("stack.xml")).find("stack/layer")
        assert zf.read(el.get("background_tile")) == corpus.png_of(tile)


def test_resaving_foreign_files_keeps_every_unknown_member_byte_for_byte(tmp_path):
    for source in (_mypaint_like(tmp_path / "mp.ora"), _drawpile_like(tmp_path / "dp.ora")):
        with zipfile.ZipFile(source) as zf:
            original = {name: zf.read(name) for name in zf.namelist()}
        saved = tmp_path / f"saved-{source.name}"
        write_ora(read_ora(source), saved)
        again = tmp_path / f"again-{source.name}"
        write_ora(read_ora(saved), again)  # and once more, from Warpaint's own file
        for path in (saved, again):
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                root = ET.fromstring(zf.read("stack.xml"))
                referenced = {
                    value for el in root.iter("layer") for value in el.attrib.values()
                } & set(original) | {el.get("src") for el in root.iter("layer")}
                assert referenced <= names, referenced - names
                for name in ("data/layer001_strokemap.dat", "data/background_tile.png"):
                    if name in original:
                        assert zf.read(name) == original[name]
                for name in ("drawpile/annotations.xml", "drawpile/timeline.json"):
                    if name in original:
                        assert zf.read(name) == original[name]
            assert len(names) == len(zf.namelist())  # no duplicate members


def test_a_foreign_member_named_like_a_warpaint_layer_keeps_its_name_and_bytes(tmp_path):
    xml = """<image w="4" h="4"><stack>
      <layer name="a" src="data/a.png" notes="data/layer-000.png"/>
    </stack></image>"""
    notes = b"not a picture, just named like one"
    path = corpus.make_ora(
        tmp_path / "clash.ora",
        xml,
        {"data/a.png": corpus.png_of(corpus.rgba_pattern(4, 4)), "data/layer-000.png": notes},
    )
    write_ora(read_ora(path), tmp_path / "out.ora")
    with zipfile.ZipFile(tmp_path / "out.ora") as zf:
        el = ET.fromstring(zf.read("stack.xml")).find("stack/layer")
        assert el.get("src") != "data/layer-000.png"
        assert zf.read("data/layer-000.png") == notes
        assert zf.read(el.get("src")).startswith(pngio.SIGNATURE)


def test_a_damaged_unknown_member_is_left_out_with_a_warning_and_saving_works(tmp_path):
    path = _drawpile_like(tmp_path / "dp.ora")
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            info.compress_type = zipfile.ZIP_STORED  # so the bytes can be changed in place
            zf.writestr(info, data)
    data = path.read_bytes()
    at = data.index(b"hello")
    path.write_bytes(data[:at] + b"HELLO" + data[at + 5 :])  # the CRC no longer matches
    state = read_ora(path)
    assert any("annotations.xml" in w and "damaged" in w for w in state.meta.warnings)
    write_ora(state, tmp_path / "out.ora")
    with zipfile.ZipFile(tmp_path / "out.ora") as zf:
        assert "drawpile/annotations.xml" not in zf.namelist()
        assert zf.read("drawpile/timeline.json") == b'{"frames": [1, 2, 3]}'


def test_a_source_changed_before_the_save_is_reported_not_copied(tmp_path):
    path = _drawpile_like(tmp_path / "dp.ora")
    state = read_ora(path)
    _replace_member(path, "drawpile/timeline.json", b"{}")
    notes = write_ora(state, tmp_path / "out.ora")
    assert any("timeline.json" in note and "changed" in note for note in notes)


def test_info_reports_the_bit_depth_layers_open_at(tmp_path, capsys):
    one_bit = Image.fromarray(np.eye(8, dtype=np.uint8) * 255).convert("1")
    palette = Image.fromarray(corpus.rgba_pattern(8, 8, opaque=True)[..., :3]).convert("P")
    xml = """<image w="8" h="8"><stack>
      <layer name="lines" src="data/bits.png"/><layer name="paper" src="data/pal.png"/>
    </stack></image>"""
    path = corpus.make_ora(
        tmp_path / "mp1.ora",
        xml,
        {
            "data/bits.png": corpus.pil_bytes(one_bit, "PNG"),
            "data/pal.png": corpus.pil_bytes(palette, "PNG"),
        },
    )
    assert describe(path)["bit_depth"] == 8
    assert read_ora(path).meta.bit_depth == 8
    one_bit.save(tmp_path / "bits.png")
    assert describe(tmp_path / "bits.png")["bit_depth"] == 8
    deep = corpus.make_ora(
        tmp_path / "deep.ora",
        '<image w="4" h="4"><stack><layer name="d" src="data/d.png"/></stack></image>',
        {"data/d.png": corpus.raw_png(corpus.rgba_pattern(4, 4, np.uint16))},
    )
    code, out, _ = _cli(["info", deep, "--json"], capsys)
    assert code == 0 and json.loads(out)["bit_depth"] == 16


def test_unknown_blend_modes_are_reported_on_open_and_by_info(tmp_path, capsys):
    path = _drawpile_like(tmp_path / "dp.ora")
    message = "2 layers use blend modes Warpaint does not know; they are shown as normal and kept"
    state = open_document(path).state
    assert message in state.meta.warnings
    assert [lay.blend_mode for lay in state.layers] == ["normal"] * 3
    code, out, _ = _cli(["info", path], capsys)
    assert code == 0 and f"warning: {message}" in out.splitlines()
    code, out, _ = _cli(["info", path, "--json"], capsys)
    assert code == 0 and json.loads(out)["warnings"] == [message]
    # And they are kept: the ops go back out unchanged.
    write_ora(state, tmp_path / "out.ora")
    ops = {el.get("name"): el.get("composite-op") for el in _layer_elements(tmp_path / "out.ora")}
    assert ops == {
        "Marker": "svg:-dp-marker",
        "Erase": "svg:-dp-erase-light",
        "Paper": ops["Paper"],
    }


def test_one_unknown_blend_mode_is_reported_in_the_singular(tmp_path):
    xml = """<image w="2" h="2"><stack>
      <layer name="a" src="data/a.png" composite-op="krita:linear_burn"/></stack></image>"""
    path = corpus.make_ora(
        tmp_path / "k.ora", xml, {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))}
    )
    assert read_ora(path).meta.warnings == (
        "1 layer uses a blend mode Warpaint does not know; it is shown as normal and kept",
    )


# -- hostile input -----------------------------------------------------------------------


def _nested_xml(depth: int) -> str:
    return (
        '<image w="2" h="2">'
        + "<stack>" * depth
        + '<layer name="deep" src="data/a.png"/>'
        + "</stack>" * depth
        + "</image>"
    )


def test_groups_nested_thousands_deep_are_refused_cleanly(tmp_path, capsys):
    members = {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))}
    path = corpus.make_ora(tmp_path / "deep.ora", _nested_xml(5000), members)
    with pytest.raises(BadInputError, match="nests groups more than 64 levels deep"):
        read_ora(path)
    code, _, err = _cli(["info", path], capsys)
    _one_line_exit_2(code, err, "nests groups")
    fine = corpus.make_ora(tmp_path / "fine.ora", _nested_xml(60), members)
    assert read_ora(fine).layers[0].name == "deep"


@pytest.fixture
def unpacked(monkeypatch) -> dict[str, int]:
    """Bytes read out of each zip member (inflated, for compressed ones) while
    the test runs: every reader of an archive member goes through
    `ZipExtFile.read`, so this is the work a hostile member costs."""
    counts: dict[str, int] = {}
    read = zipfile.ZipExtFile.read

    def counted(self, n=-1):
        data = read(self, n)
        counts[self.name] = counts.get(self.name, 0) + len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counted)
    return counts


def test_many_layers_sharing_one_big_blank_image_are_refused_before_decoding(tmp_path, unpacked):
    blank = corpus.pil_bytes(Image.new("RGBA", (4096, 4096)), "PNG")
    layers = "".join(f'<layer name="l{i}" src="data/blank.png"/>' for i in range(150))
    xml = f'<image w="4096" h="4096"><stack>{layers}</stack></image>'
    path = corpus.make_ora(tmp_path / "many.ora", xml, {"data/blank.png": blank})
    assert path.stat().st_size < 200_000
    with pytest.raises(BadInputError, match="megapixels across its layers"):
        read_ora(path)
    with pytest.raises(BadInputError, match="megapixels across its layers"):
        describe(path)
    # Only the PNG's header was read (64 bytes per call), never its data (64 MiB of pixels).
    assert 0 < unpacked["data/blank.png"] <= 2 * 64


def test_layers_sharing_one_image_decode_it_once(tmp_path):
    layers = "".join(f'<layer name="l{i}" src="data/a.png"/>' for i in range(20))
    path = corpus.make_ora(
        tmp_path / "shared.ora",
        f'<image w="8" h="8"><stack>{layers}</stack></image>',
        {"data/a.png": corpus.png_of(corpus.rgba_pattern(8, 8))},
    )
    state = read_ora(path)
    assert all(layer.pixels is state.layers[0].pixels for layer in state.layers)


def _png(array: np.ndarray) -> bytes:
    return corpus.pil_bytes(Image.fromarray(array), "PNG")


@pytest.mark.parametrize("kind", ["png", "jpg"])
def test_info_on_a_truncated_image_says_it_is_damaged(tmp_path, capsys, kind):
    picture = corpus.rgba_pattern(64, 80, opaque=True)[..., :3]
    data = _png(picture) if kind == "png" else corpus.pil_bytes(Image.fromarray(picture), "JPEG")
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(BadInputError, match="damaged"):
        describe(path)
    code, _, err = _cli(["info", path], capsys)
    _one_line_exit_2(code, err, "damaged")
    path.write_bytes(data)
    assert describe(path)["width"] == 80


def test_info_on_an_ora_with_a_truncated_layer_says_it_is_damaged(tmp_path, capsys):
    whole = _png(corpus.rgba_pattern(32, 32))
    xml = '<image w="32" h="32"><stack><layer name="a" src="data/a.png"/></stack></image>'
    path = corpus.make_ora(tmp_path / "cut.ora", xml, {"data/a.png": whole[:-200]})
    code, _, err = _cli(["info", path], capsys)
    _one_line_exit_2(code, err, "'data/a.png' is damaged (truncated)")
    corpus.make_ora(path, xml, {"data/a.png": whole})
    assert describe(path)["layers"][0]["name"] == "a"


def test_info_on_a_png_with_a_corrupted_data_checksum_says_it_is_damaged(tmp_path):
    data = bytearray(_png(corpus.rgba_pattern(16, 16)))
    at = bytes(data).index(b"IDAT") + 10
    data[at] ^= 0xFF
    path = tmp_path / "flip.png"
    path.write_bytes(bytes(data))
    with pytest.raises(BadInputError, match="damaged"):
        describe(path)


def test_png_verification_streams_and_stops_at_the_promised_size(monkeypatch):
    # An IDAT that inflates far beyond what the header promises is inflated
    # only as far as needed (in pieces of 1 MiB): the check stays fast and small.
    header = corpus.png_chunk(b"IHDR", bytes.fromhex("00000004 00000004 08 06 00 00 00"))
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    data = pngio.SIGNATURE + header + corpus.png_chunk(b"IDAT", bomb)
    inflated = []
    inflater = zlib.decompressobj

    class Counted:
        def __init__(self):
            self.inner = inflater()

        def decompress(self, piece, max_length=0):
            out = self.inner.decompress(piece, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):  # unconsumed_tail, eof
            return getattr(self.inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Counted)
    assert pngio.verify_stream(io.BytesIO(data).read) is None
    assert 4 * (4 * 4 + 1) <= sum(inflated) <= 1 << 20  # the promised 68 bytes, in one piece
    cut = len(pngio.SIGNATURE) + len(header) + 10  # inside the IDAT's first bytes
    assert pngio.verify_stream(io.BytesIO(data[:cut]).read) == "truncated"


def test_an_unbaked_file_for_warpaint_alone_keeps_the_originals_as_srcs(tmp_path):
    state = _masked_state()
    write_ora(state, tmp_path / "r.ora", bake=False)
    el = _layer_elements(tmp_path / "r.ora")[0]
    assert el.get(WP + "pixels") is None and el.get(WP + "mask") is not None
    back = read_ora(tmp_path / "r.ora")
    assert back.layers[1].pixels.equals(state.layers[1].pixels)
    assert back.layers[1].mask.equals(state.layers[1].mask)


def test_an_unknown_member_that_inflates_like_a_bomb_is_not_carried(tmp_path, unpacked):
    path = _drawpile_like(tmp_path / "dp.ora")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("drawpile/huge.bin", b"\0" * (64 << 20))
    state = read_ora(path)
    assert "drawpile/huge.bin" not in unpacked  # refused from its zip entry, never inflated
    assert sum(unpacked.values()) < 64 << 10  # the rest of the file is a few KiB
    assert any("huge.bin" in w and "zip bomb" in w for w in state.meta.warnings)
    assert "drawpile/huge.bin" not in {name for _, name, _, _ in state.meta.carried}


def test_unknown_members_are_checked_against_the_memory_budget(tmp_path):
    path = _drawpile_like(tmp_path / "dp.ora")
    state = read_ora(path, Limits(max_total_bytes=1_000_000))
    carried = {name for _, name, _, _ in state.meta.carried}
    assert carried == {"drawpile/annotations.xml", "drawpile/timeline.json"}
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("drawpile/big.bin", bytes(range(256)) * 8192)  # 2 MiB, incompressible-ish
    state = read_ora(path, Limits(max_total_bytes=1_500_000))
    assert any("big.bin" in w and "too large" in w for w in state.meta.warnings)
