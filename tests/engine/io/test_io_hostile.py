"""Hostile and broken input: always a one-line BadInputError, never another
exception, never a hang, never a partial output file."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import io_corpus as corpus
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from warpaint.engine.core.document import Document
from warpaint.engine.io import (
    Limits,
    describe,
    export_image,
    open_document,
    read_image_array,
    write_ora,
)
from warpaint.engine.io import raster as raster_module
from warpaint.engine.runtime.errors import BadInputError

TINY = Limits(max_pixels=1_000_000)


def _bad(path: Path, match: str, limits: Limits | None = None) -> str:
    """Opening (and describing) `path` fails cleanly with a one-line reason matching `match`."""
    with pytest.raises(BadInputError, match=match) as caught:
        open_document(path, limits)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message  # the user learns which file
    return message


# -- rasters ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "jpg", "ora", "tif"])
def test_zero_byte_file(tmp_path, ext):
    path = tmp_path / f"empty.{ext}"
    path.write_bytes(b"")
    _bad(path, "empty")
    with pytest.raises(BadInputError, match="empty"):
        describe(path)


def test_missing_file_and_folder(tmp_path):
    _bad(tmp_path / "nope.png", "no such file")
    _bad(tmp_path, "is a folder")


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("text.png", b"this is not an image, just some text\n" * 10),
        ("random.jpg", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8))),
        ("script.webp", b"#!/bin/sh\necho hello\n"),
    ],
)
def test_not_an_image(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    _bad(path, "not an image Warpaint can open")


def test_an_unsupported_real_image_format(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("P", (4, 4)).save(path)
    _bad(path, "not an image Warpaint can open")


@pytest.mark.parametrize("kind", ["png8", "png16", "jpeg", "webp", "tiff16", "bmp"])
def test_truncated_images(tmp_path, kind):
    rgba = corpus.rgba_pattern(64, 64, np.uint8, opaque=True)
    data = {
        "png8": lambda: corpus.png_of(rgba),
        "png16": lambda: corpus.raw_png(corpus.rgba_pattern(64, 64, np.uint16)),
        "jpeg": lambda: corpus.pil_bytes(Image.fromarray(rgba[..., :3]), "JPEG", quality=95),
        "webp": lambda: corpus.pil_bytes(Image.fromarray(rgba), "WEBP", lossless=True),
        "tiff16": lambda: _tiff16_bytes(corpus.rgba_pattern(64, 64, np.uint16)),
        "bmp": lambda: corpus.pil_bytes(Image.fromarray(rgba[..., :3]), "BMP"),
    }[kind]()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    _bad(path, "damaged|truncated")


def _tiff16_bytes(array: np.ndarray) -> bytes:
    import io

    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="rgb", extrasamples=("unassalpha",))
    return buf.getvalue()


def test_png_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    # Declares 15000 x 15000 = 225 MP (over the 200 MP default, under Pillow's own 2x guard).
    path.write_bytes(corpus.raw_png(np.zeros((2, 2, 3), np.uint8), declared_size=(15000, 15000)))
    _bad(path, "225 megapixels")
    with pytest.raises(BadInputError, match="megapixels"):
        describe(path)


def test_header_far_over_the_limit_trips_pillows_guard_cleanly(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(corpus.raw_png(np.zeros((2, 2, 3), np.uint8), declared_size=(30000, 30000)))
    _bad(path, "megapixels")
    assert Image.MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS  # Pillow's setting is restored


def test_pillow_global_guard_is_restored_after_an_open(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "ok.png"
    path.write_bytes(corpus.png_of(corpus.rgba_pattern(4, 4)))
    open_document(path, Limits(max_pixels=10_000_000_000))
    assert before == Image.MAX_IMAGE_PIXELS


def test_real_decompression_bomb_is_refused_under_a_configured_limit(tmp_path):
    path = tmp_path / "zeros.png"
    Image.new("L", (2000, 2000)).save(path)  # 4 MP of zeros: a few kilobytes on disk
    assert path.stat().st_size < 50_000
    _bad(path, "over the limit of 1 megapixels", TINY)


def test_pixel_limit_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    path.write_bytes(corpus.png_of(corpus.rgba_pattern(20, 20)))
    monkeypatch.setenv("WARPAINT_MAX_PIXELS", "100")
    _bad(path, "WARPAINT_MAX_PIXELS")
    monkeypatch.setenv("WARPAINT_MAX_PIXELS", "lots")
    with pytest.raises(BadInputError, match="not a number"):
        Limits.from_env()


@pytest.mark.parametrize(
    ("name", "make", "match"),
    [
        (
            "wide.png",
            lambda: corpus.raw_png(np.zeros((1, 1, 3), np.uint8), declared_size=(400_000, 1)),
            "largest side",
        ),
        (
            "huge.jpg",
            lambda: corpus.patch_jpeg_size(corpus.small_jpeg(), 60000, 60000),
            "megapixels",
        ),
        (
            "huge.bmp",
            lambda: corpus.patch_bmp_size(
                corpus.pil_bytes(Image.new("RGB", (2, 2)), "BMP"), 50000, 50000
            ),
            "megapixels",
        ),
        (
            "zero.png",
            lambda: corpus.raw_png(np.zeros((1, 1, 3), np.uint8), declared_size=(0, 5)),
            "damaged|invalid size",
        ),
    ],
)
def test_absurd_dimensions(tmp_path, name, make, match):
    path = tmp_path / name
    path.write_bytes(make())
    _bad(path, match)


def test_total_memory_limit_applies_to_single_images(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(corpus.raw_png(corpus.rgba_pattern(100, 100, np.uint16)))
    _bad(path, "needs 78.1 KiB of memory", Limits(max_total_bytes=50_000))


# -- OpenRaster --------------------------------------------------------------------------------


def _ora(tmp_path: Path, xml: str | bytes, members: dict[str, bytes] | None = None, **kw) -> Path:
    if members is None:
        members = {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))}
    return corpus.make_ora(tmp_path / "bad.ora", xml, members, **kw)


def test_broken_zip(tmp_path):
    path = tmp_path / "broken.ora"
    path.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
    _bad(path, "broken zip archive")


def test_truncated_ora(tmp_path):
    good = tmp_path / "good.ora"
    write_ora(Document.from_array(corpus.rgba_pattern(8, 8)).state, good)
    path = tmp_path / "cut.ora"
    path.write_bytes(good.read_bytes()[:-200])
    _bad(path, "broken zip archive")


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        ("<image w='2' h='2'><stack><layer src='data/a.png'", "stack.xml is broken"),
        ("<stack/>", "no <image> root"),
        ("<image h='2'><stack/></image>", "no valid image size"),
        ("<image w='two' h='2'><stack/></image>", "no valid image size"),
        ("<image w='100000000' h='2'><stack/></image>", "largest side"),
        (corpus.billion_laughs(), "entities"),
        (corpus.EXTERNAL_ENTITY, "entities"),
        (b"\xff\xfe\x00garbage", "stack.xml is broken"),
        ("<image w='2' h='2'><stack><layer name='x'/></stack></image>", "has no src"),
    ],
)
def test_broken_or_hostile_stack_xml(tmp_path, xml, match):
    _bad(_ora(tmp_path, xml), match)


def test_no_stack_xml_and_wrong_mimetype(tmp_path):
    path = tmp_path / "nostack.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
    _bad(path, "no stack.xml")
    _bad(
        _ora(tmp_path, corpus.one_layer_xml(), mimetype=b"application/x-krita"),
        "not an OpenRaster file",
    )


@pytest.mark.parametrize(
    "src",
    [
        "../evil.png",
        "data/../../evil.png",
        "/etc/passwd",
        "C:/Windows/evil.png",
        "data\\..\\evil.png",
    ],
)
def test_src_paths_escaping_the_archive(tmp_path, src):
    _bad(_ora(tmp_path, corpus.one_layer_xml(src)), "outside the archive")


def test_mask_path_escaping_the_archive(tmp_path):
    xml = corpus.one_layer_xml(extra=f'xmlns:warpaint="{corpus_ns()}" warpaint:mask="../m.png"')
    _bad(_ora(tmp_path, xml), "outside the archive")


def corpus_ns() -> str:
    from warpaint.engine.io import WARPAINT_NS

    return WARPAINT_NS


def test_missing_member(tmp_path):
    _bad(_ora(tmp_path, corpus.one_layer_xml("data/gone.png")), "missing from the archive")


def test_oversized_member_is_refused_by_its_declared_size(tmp_path):
    big = corpus.png_of(np.random.default_rng(0).integers(0, 255, (40, 40, 4), dtype=np.uint8))
    path = _ora(tmp_path, corpus.one_layer_xml(w=40, h=40), {"data/a.png": big})
    _bad(path, "would unpack to", Limits(max_member_bytes=1000))


def test_over_compressed_member_is_refused_as_a_zip_bomb(tmp_path):
    path = _ora(tmp_path, corpus.one_layer_xml(), {"data/a.png": b"\0" * (8 << 20)})
    _bad(path, "zip bomb")


def test_corrupted_member_data(tmp_path):
    xml = corpus.one_layer_xml()
    path = tmp_path / "crc.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", xml)
        zf.writestr("data/a.png", corpus.png_of(corpus.rgba_pattern(2, 2)))
    data = bytearray(path.read_bytes())
    offset = data.index(b"IDAT")
    data[offset + 6] ^= 0xFF  # inside the stored PNG: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    _bad(path, "damaged")


def test_damaged_layer_png(tmp_path):
    png = corpus.png_of(corpus.rgba_pattern(8, 8))
    path = _ora(tmp_path, corpus.one_layer_xml(w=8, h=8), {"data/a.png": png[: len(png) // 2]})
    _bad(path, "layer 'a'.*(damaged|truncated)")


def test_too_many_layers(tmp_path):
    layers = "".join(f'<layer name="l{i}" src="data/a.png"/>' for i in range(5))
    _bad(
        _ora(tmp_path, f"<image w='2' h='2'><stack>{layers}</stack></image>"),
        "5 layers",
        Limits(max_layers=3),
    )


def test_more_layers_than_memory_allows_fails_before_decoding(tmp_path, monkeypatch):
    layers = "".join(f'<layer name="l{i}" src="data/a.png"/>' for i in range(30))
    members = {"data/a.png": corpus.png_of(corpus.rgba_pattern(100, 100))}
    path = _ora(tmp_path, f"<image w='100' h='100'><stack>{layers}</stack></image>", members)
    decoded: list[str] = []
    original = raster_module.read_raster
    monkeypatch.setattr(
        "warpaint.engine.io.ora.read_raster",
        lambda *a, **k: decoded.append("x") or original(*a, **k),
    )
    _bad(path, "needs .* of memory", Limits(max_total_bytes=500_000))
    assert decoded == []  # refused from the headers alone


def test_mask_of_the_wrong_size(tmp_path):
    ns = corpus_ns()
    xml = corpus.one_layer_xml(w=4, h=4, extra=f'xmlns:warpaint="{ns}" warpaint:mask="data/m.png"')
    members = {
        "data/a.png": corpus.png_of(corpus.rgba_pattern(4, 4)),
        "data/m.png": corpus.png_of(np.zeros((3, 3), np.uint8)),
    }
    _bad(_ora(tmp_path, xml, members), "mask is 3 x 3")


def test_layer_png_over_the_pixel_limit_inside_an_ora(tmp_path):
    lying = corpus.raw_png(np.zeros((1, 1, 4), np.uint8), declared_size=(20000, 20000))
    _bad(_ora(tmp_path, corpus.one_layer_xml(), {"data/a.png": lying}), "megapixels")


def test_read_image_array_reports_errors_the_same_way(tmp_path):
    path = tmp_path / "style.png"
    path.write_bytes(b"nope")
    with pytest.raises(BadInputError, match="not an image"):
        read_image_array(path)


# -- outputs ---------------------------------------------------------------------------------------


def test_export_into_a_missing_folder_writes_nothing(tmp_path):
    with pytest.raises(BadInputError, match="no such folder"):
        export_image(
            Document.from_array(corpus.rgba_pattern(2, 2)).state, tmp_path / "no" / "x.png"
        )
    assert not (tmp_path / "no").exists()


def test_failing_export_leaves_the_previous_file_and_no_partial_output(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous version")

    def explode(fh, *args):
        fh.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(raster_module._WRITERS, "PNG", explode)
    with pytest.raises(BadInputError, match="No space left on device"):
        export_image(Document.from_array(corpus.rgba_pattern(2, 2)).state, target)
    assert target.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


# -- property: mutated files open correctly or fail cleanly ---------------------------


def _seeds() -> dict[str, bytes]:
    rgba = corpus.rgba_pattern(12, 10, np.uint8)
    tmp = Path(tempfile.mkdtemp())
    write_ora(Document.from_array(rgba).state, tmp / "seed.ora", compress_level=1)
    return {
        "png": corpus.png_of(rgba),
        "png16": corpus.raw_png(corpus.rgba_pattern(6, 5, np.uint16)),
        "jpg": corpus.pil_bytes(Image.fromarray(rgba[..., :3]), "JPEG", quality=80),
        "tif": _tiff16_bytes(corpus.rgba_pattern(6, 5, np.uint16)),
        "ora": (tmp / "seed.ora").read_bytes(),
    }


SEEDS = _seeds()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
)


def _mutate(data: bytes, mutations: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, pos, arg in mutations:
        if not out:
            break
        pos %= len(out)
        if kind == "flip":
            out[pos] ^= arg
        elif kind == "cut":
            del out[pos:]
        else:
            out[pos:pos] = arg
    return bytes(out)


def test_an_ora_asking_for_a_newer_zip_version_is_refused_cleanly(tmp_path):
    # Found by the mutation test below: zipfile raises NotImplementedError when
    # the central directory's "version needed to extract" is above what it reads.
    path = tmp_path / "newer.ora"
    write_ora(Document.from_array(corpus.rgba_pattern(8, 8)).state, path)
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")  # the first central directory entry
    data[entry + 6 : entry + 8] = (84).to_bytes(2, "little")  # version 8.4
    path.write_bytes(bytes(data))
    _bad(path, "broken zip archive")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SEEDS)), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_open_correctly_or_fail_cleanly(kind, mutations):
    data = _mutate(SEEDS[kind], mutations)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mutant.{kind}"
        path.write_bytes(data)
        try:
            doc = open_document(path, TINY)
        except BadInputError as err:
            assert str(err) and "\n" not in str(err)
            return
        state = doc.state
        assert state.width >= 1 and state.height >= 1 and not doc.dirty
        for layer in state.layers:
            pixels = layer.pixels.to_array()
            assert pixels.shape == (layer.pixels.height, layer.pixels.width, 4)
            assert pixels.dtype in (np.uint8, np.uint16, np.float32)


# -- paths that are not regular files, over-long names --------------------------------


def _within(seconds: float, call, unblock: Path | None = None):
    """`call()` in a thread; fails the test if it has not returned in `seconds`
    (then opens the FIFO `unblock` for writing so the thread can finish)."""
    import os
    import threading

    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed to the test below
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            os.close(os.open(unblock, os.O_WRONLY))
        pytest.fail(f"still blocked after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


@pytest.fixture
def fifo(tmp_path):
    import os

    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "reader",
    [open_document, describe, read_image_array],
    ids=["open", "info", "read_image_array"],
)
def test_a_fifo_is_refused_at_once_not_waited_on(fifo, reader):
    with pytest.raises(BadInputError, match="named pipe") as caught:
        _within(10, lambda: reader(fifo), unblock=fifo)
    assert str(fifo) in str(caught.value) and "\n" not in str(caught.value)


def test_a_fifo_model_file_is_refused_at_once(tmp_path):
    import os

    from warpaint.engine.features.eyes.attributes import read_model_header
    from warpaint.engine.features.fast_style.effect import load_generator
    from warpaint.engine.runtime.models import load_state_dict

    pipe = tmp_path / "model.safetensors"
    os.mkfifo(pipe)
    for load in (load_state_dict, read_model_header, lambda p: load_generator(p, "cpu")):
        with pytest.raises(BadInputError, match="named pipe"):
            _within(10, lambda load=load: load(pipe), unblock=pipe)


def test_a_character_device_is_refused():
    with pytest.raises(BadInputError, match="is a device"):
        open_document("/dev/zero")


def test_an_over_long_name_is_bad_input(tmp_path):
    long_name = tmp_path / ("a" * 300 + ".png")
    for reader in (open_document, describe):
        with pytest.raises(BadInputError, match="File name too long"):
            reader(long_name)


def test_a_244_character_output_name_can_be_written(tmp_path):
    target = tmp_path / ("b" * 240 + ".png")
    assert len(target.name.encode()) == 244
    export_image(Document.from_array(corpus.rgba_pattern(4, 4)).state, target)
    assert open_document(target).state.width == 4
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "no temporary file left"


# -- layer offsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "shown"),
    [
        ("3200000", "offset 3200000"),
        ("-2147483648", "offset -2147483648"),
        ("1e300", "digits"),
        ("-1e300", "digits"),
    ],
)
def test_layer_offsets_beyond_any_canvas_are_refused_when_reading(tmp_path, x, shown):
    path = corpus.make_ora(
        tmp_path / "far.ora",
        corpus.one_layer_xml(extra=f'x="{x}" y="0"'),
        {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))},
    )
    message = _bad(path, shown)
    assert "WARPAINT_MAX_DIMENSION" in message
    with pytest.raises(BadInputError, match=shown):
        describe(path)


def test_offsets_within_reach_still_open(tmp_path):
    path = corpus.make_ora(
        tmp_path / "near.ora",
        corpus.one_layer_xml(extra='x="-250000" y="299999"'),
        {"data/a.png": corpus.png_of(corpus.rgba_pattern(2, 2))},
    )
    layer = open_document(path).layers[0]
    assert (layer.x, layer.y) == (-250000, 299999)


def test_an_over_long_output_name_is_bad_input_and_writes_nothing(tmp_path):
    target = tmp_path / ("c" * 300 + ".png")
    with pytest.raises(BadInputError, match="File name too long"):
        export_image(Document.from_array(corpus.rgba_pattern(4, 4)).state, target)
    assert list(tmp_path.iterdir()) == []


# -- resolutions a format cannot hold -------------------------------------------------------


def test_a_huge_png_resolution_is_not_written_where_it_does_not_fit(tmp_path):
    import struct

    path = tmp_path / "dense.png"
    phys = struct.pack(">IIB", 0xFFFFFFFF, 0xFFFFFFFF, 1)
    path.write_bytes(corpus.raw_png(corpus.rgba_pattern(4, 4), extra_chunks=((b"pHYs", phys),)))
    doc = open_document(path)
    assert doc.state.meta.dpi is not None and doc.state.meta.dpi[0] > 1e8
    for ext in ("bmp", "png", "jpg", "tif"):
        result = export_image(doc.state, tmp_path / f"out.{ext}")
        stored = Image.open(tmp_path / f"out.{ext}").info.get("dpi")
        if ext == "tif":  # TIFF's rationals hold it
            assert result.notes == () and stored is not None
        else:
            assert any("cannot be stored" in n for n in result.notes), (ext, result.notes)
            assert stored is None or stored[0] < 1e8


def test_jpeg_refuses_to_wrap_a_resolution_over_65535_dpi(tmp_path):
    from dataclasses import replace

    doc = Document.from_array(corpus.rgba_pattern(4, 4))
    state = replace(doc.state, meta=replace(doc.state.meta, dpi=(100000.0, 100000.0)))
    result = export_image(state, tmp_path / "out.jpg")
    assert result.notes == (
        "the resolution of 100000 x 100000 dpi cannot be stored in JPEG (1 to 65,535 dpi); "
        "written without one",
    )
    assert Image.open(tmp_path / "out.jpg").info.get("dpi", (0, 0))[0] != 34464
    state = replace(state, meta=replace(state.meta, dpi=(300.0, 300.0)))
    assert export_image(state, tmp_path / "ok.jpg").notes == ()
    assert Image.open(tmp_path / "ok.jpg").info["dpi"] == (300, 300)


def test_a_junk_profile_in_a_16_bit_png_is_dropped_without_output_on_stderr(tmp_path, capfd):
    path = tmp_path / "junk16.png"
    rgb_junk = corpus.make_rgb_profile()[:128] + b"\xff" * 300  # an RGB header, broken tags
    for profile in (
        bytes(np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8)),
        rgb_junk,
    ):
        path.write_bytes(
            corpus.raw_png(
                corpus.rgba_pattern(8, 8, np.uint16), extra_chunks=(corpus.iccp_chunk(profile),)
            )
        )
        doc = open_document(path)
        assert doc.state.meta.icc_profile is None
        np.testing.assert_array_equal(
            doc.layers[0].pixels.to_array(), corpus.rgba_pattern(8, 8, np.uint16)
        )
        assert capfd.readouterr().err == ""


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0"])
def test_a_non_finite_or_non_positive_limit_in_the_environment_is_refused(text):
    # A NaN ratio would pass every comparison and switch the zip-bomb check off.
    with pytest.raises(BadInputError, match="WARPAINT_MAX_COMPRESSION_RATIO"):
        Limits.from_env({"WARPAINT_MAX_COMPRESSION_RATIO": text})
