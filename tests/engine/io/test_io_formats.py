"""Single-image formats: round trips, 16-bit, alpha, ICC, EXIF orientation, modes."""

from __future__ import annotations

import io
from pathlib import Path

import io_corpus as corpus
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocMeta, DocState, Document, Layer
from warpaint.engine.core.tiles import TiledImage
from warpaint.engine.io import (
    EXPORT_FORMATS,
    OPEN_EXTENSIONS,
    describe,
    export_image,
    open_document,
    open_image_as_layer,
    read_image_array,
)
from warpaint.engine.io.colour import is_srgb_like, profile_description, srgb_profile_bytes
from warpaint.engine.runtime.errors import BadInputError

ADOBE = corpus.make_rgb_profile()


def _doc(array: np.ndarray, **meta: object) -> Document:
    h, w = array.shape[:2]
    layer = Layer.from_array("Background", array)
    bits = {1: 8, 2: 16, 4: 32}[array.dtype.itemsize]
    return Document(DocState(w, h, (layer,), DocMeta(bit_depth=bits, **meta)))  # type: ignore[arg-type]


def _pixels(doc: Document) -> np.ndarray:
    assert len(doc.layers) == 1
    return doc.layers[0].pixels.to_array()


def _embedded_profile(path: Path) -> bytes | None:
    with Image.open(path) as im:
        if im.format == "TIFF":
            with tifffile.TiffFile(path) as tif:
                tag = tif.pages.first.tags.get(34675)
                return bytes(tag.value) if tag else None
        return im.info.get("icc_profile")


def _lcms_to_srgb(rgb: np.ndarray, profile: bytes) -> np.ndarray:
    src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    out = ImageCms.profileToProfile(Image.fromarray(rgb, "RGB"), src, dst, outputMode="RGB")
    return np.asarray(out)


# -- lossless round trips --------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "dtype"),
    [
        ("png", np.uint8),
        ("png", np.uint16),
        ("tif", np.uint8),
        ("tiff", np.uint16),
        ("tif", np.float32),
        ("webp", np.uint8),
    ],
)
def test_lossless_formats_round_trip_pixels_alpha_and_depth_exactly(tmp_path, ext, dtype):
    original = corpus.rgba_pattern(37, 53, dtype)
    path = tmp_path / f"image.{ext}"
    result = export_image(_doc(original).state, path, quality=100)
    doc = open_document(path)
    pixels = _pixels(doc)
    assert pixels.dtype == original.dtype
    assert (
        doc.state.meta.bit_depth
        == result.bit_depth
        == {1: 8, 2: 16, 4: 32}[original.dtype.itemsize]
    )
    if dtype == np.float32:
        np.testing.assert_allclose(pixels, original, atol=1e-6)
    else:
        np.testing.assert_array_equal(pixels, original)
    assert result.notes == ()


def test_sixteen_bit_png_keeps_values_that_eight_bits_cannot_hold(tmp_path):
    original = corpus.rgba_pattern(20, 30, np.uint16)
    original[..., 0] = np.arange(30, dtype=np.uint16)[None, :] * 7 + 1  # not multiples of 257
    path = tmp_path / "fine.png"
    export_image(_doc(original).state, path)
    pixels = _pixels(open_document(path))
    assert pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels[..., 0], original[..., 0])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_sixteen_bit_png_from_another_encoder_opens_at_sixteen_bits(tmp_path, channels):
    rng = np.random.default_rng(channels)
    raw = rng.integers(0, 65536, (9, 11, channels)).astype(np.uint16)
    path = tmp_path / "other.png"
    path.write_bytes(corpus.raw_png(raw))
    pixels = _pixels(open_document(path))
    assert pixels.dtype == np.uint16
    grey = channels in (1, 2)
    for c in range(3):
        np.testing.assert_array_equal(pixels[..., c], raw[..., 0 if grey else c])
    expected_alpha = raw[..., -1] if channels in (2, 4) else np.full((9, 11), 65535)
    np.testing.assert_array_equal(pixels[..., 3], expected_alpha)


@pytest.mark.parametrize(("ext", "tolerance"), [("jpg", 6), ("jpeg", 6), ("webp", 12), ("bmp", 0)])
def test_eight_bit_only_formats_round_trip_opaque_images(tmp_path, ext, tolerance):
    original = corpus.rgba_pattern(40, 48, np.uint8, opaque=True)
    original[..., 2] = 128  # smooth content, so lossy codecs stay close
    path = tmp_path / f"image.{ext}"
    export_image(_doc(original).state, path, quality=95)
    pixels = _pixels(open_document(path))
    assert pixels.dtype == np.uint8
    assert np.all(pixels[..., 3] == 255)
    diff = np.abs(pixels[..., :3].astype(int) - original[..., :3]).mean()
    assert diff <= tolerance / 4
    assert np.abs(pixels[..., :3].astype(int) - original[..., :3]).max() <= max(tolerance * 4, 0)


def test_webp_keeps_alpha(tmp_path):
    original = corpus.rgba_pattern(16, 16, np.uint8)
    path = tmp_path / "alpha.webp"
    export_image(_doc(original).state, path, quality=100)
    np.testing.assert_array_equal(_pixels(open_document(path))[..., 3], original[..., 3])


def test_jpeg_export_flattens_transparency_over_white(tmp_path):
    clear = np.zeros((8, 8, 4), np.uint8)
    path = tmp_path / "clear.jpg"
    export_image(_doc(clear).state, path)
    assert np.all(_pixels(open_document(path))[..., :3] >= 250)


def test_jpeg_quality_changes_the_file(tmp_path):
    doc = _doc(corpus.rgba_pattern(64, 64, np.uint8, opaque=True))
    export_image(doc.state, tmp_path / "low.jpg", quality=10)
    export_image(doc.state, tmp_path / "high.jpg", quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size / 2


# -- bit depth policy ------------------------------------------------------------------


def test_sixteen_bit_document_exported_as_jpeg_is_reported_not_silent(tmp_path):
    result = export_image(_doc(corpus.rgba_pattern(8, 8, np.uint16)).state, tmp_path / "x.jpg")
    assert result.bit_depth == 8
    assert any("16-bit" in note for note in result.notes)


def test_asking_an_eight_bit_format_for_sixteen_bits_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="JPEG cannot store 16-bit"):
        export_image(
            _doc(corpus.rgba_pattern(8, 8, np.uint16)).state, tmp_path / "x.jpg", bit_depth=16
        )
    assert not (tmp_path / "x.jpg").exists()


def test_eight_bit_document_can_be_exported_at_sixteen_bits_on_request(tmp_path):
    original = corpus.rgba_pattern(8, 8, np.uint8)
    export_image(_doc(original).state, tmp_path / "deep.png", bit_depth=16)
    pixels = _pixels(open_document(tmp_path / "deep.png"))
    assert pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels, original.astype(np.uint16) * 257)


def test_unknown_export_extension_and_bad_quality_are_refused(tmp_path):
    doc = _doc(corpus.rgba_pattern(4, 4))
    with pytest.raises(BadInputError, match="unknown export format"):
        export_image(doc.state, tmp_path / "x.gif")
    with pytest.raises(BadInputError, match="quality"):
        export_image(doc.state, tmp_path / "x.jpg", quality=0)


def test_export_format_metadata_describes_depth_alpha_and_quality():
    assert EXPORT_FORMATS["png"].supports_16bit and EXPORT_FORMATS["tif"].supports_16bit
    assert not EXPORT_FORMATS["jpg"].supports_16bit and not EXPORT_FORMATS["jpg"].alpha
    assert EXPORT_FORMATS["jpeg"].quality and EXPORT_FORMATS["webp"].quality
    assert not EXPORT_FORMATS["png"].quality
    assert EXPORT_FORMATS["png"].as_dict()["bit_depths"] == [8, 16]
    assert {"ora", "png", "jpg", "tif", "webp", "bmp"} <= set(OPEN_EXTENSIONS)


# -- colour profiles ---------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp"])
def test_exports_embed_an_srgb_profile(tmp_path, ext):
    path = tmp_path / f"x.{ext}"
    export_image(_doc(corpus.rgba_pattern(8, 8, opaque=True)).state, path)
    embedded = _embedded_profile(path)
    assert embedded is not None and is_srgb_like(embedded)


def test_eight_bit_png_with_a_wide_gamut_profile_is_converted_to_srgb(tmp_path):
    rgb = corpus.rgba_pattern(24, 32, np.uint8, opaque=True)[..., :3]
    path = tmp_path / "adobe.png"
    path.write_bytes(corpus.raw_png(rgb, (corpus.iccp_chunk(ADOBE),)))
    doc = open_document(path)
    expected = _lcms_to_srgb(rgb, ADOBE)
    pixels = _pixels(doc)
    assert np.abs(pixels[..., :3].astype(int) - expected).max() <= 1
    assert np.abs(pixels[..., :3].astype(int) - rgb).max() > 10  # a real conversion happened
    assert doc.state.meta.icc_profile == ADOBE
    assert profile_description(doc.state.meta.icc_profile) == "Adobe RGB like (test)"


def test_sixteen_bit_png_with_a_wide_gamut_profile_is_converted_at_sixteen_bits(tmp_path):
    rgb8 = corpus.rgba_pattern(24, 32, np.uint8, opaque=True)[..., :3]
    rgb16 = (
        rgb8.astype(np.uint16) * 257
    )  # the same colours, so LittleCMS on 8 bits is the reference
    path = tmp_path / "adobe16.png"
    path.write_bytes(corpus.raw_png(rgb16, (corpus.iccp_chunk(ADOBE),)))
    doc = open_document(path)
    pixels = _pixels(doc)
    assert pixels.dtype == np.uint16 and doc.state.meta.bit_depth == 16
    expected8 = _lcms_to_srgb(rgb8, ADOBE).astype(float)
    assert np.abs(pixels[..., :3] / 257.0 - expected8).max() <= 1.5
    assert np.any(pixels[..., :3] % 257 != 0)  # precision beyond 8 bits survives
    assert doc.state.meta.icc_profile == ADOBE


def test_jpeg_and_tiff_profiles_are_converted_too(tmp_path):
    rgb = corpus.rgba_pattern(16, 16, np.uint8, opaque=True)[..., :3]
    rgb[..., 2] = 200
    jpeg = tmp_path / "adobe.jpg"
    jpeg.write_bytes(
        corpus.pil_bytes(
            Image.fromarray(rgb), "JPEG", quality=100, subsampling=0, icc_profile=ADOBE
        )
    )
    tiff = tmp_path / "adobe16.tif"
    tifffile.imwrite(tiff, rgb.astype(np.uint16) * 257, photometric="rgb", iccprofile=ADOBE)
    expected = _lcms_to_srgb(rgb, ADOBE).astype(float)
    for path, scale, tol in ((jpeg, 1.0, 8), (tiff, 257.0, 2.5)):
        doc = open_document(path)
        assert doc.state.meta.icc_profile == ADOBE
        assert np.abs(_pixels(doc)[..., :3] / scale - expected).mean() <= tol / 2
        assert np.abs(_pixels(doc)[..., :3] / scale - expected).max() <= tol * 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_keep_profile_export_converts_back_and_embeds_the_source_profile(tmp_path, dtype):
    # Moderate colours, inside the sRGB gamut, so nothing clips on the way through sRGB.
    source = corpus.rgba_pattern(16, 20, dtype, opaque=True)[..., :3] // 4
    source += np.array(96 if dtype == np.uint8 else 96 * 257, dtype)
    src_path = tmp_path / "source.png"
    src_path.write_bytes(corpus.raw_png(source, (corpus.iccp_chunk(ADOBE),)))
    doc = open_document(src_path)
    out = tmp_path / ("kept.png" if dtype == np.uint8 else "kept16.png")
    export_image(doc.state, out, keep_profile=True)
    assert _embedded_profile(out) == ADOBE
    back = corpus_read_raw(out, dtype)
    top = 255.0 if dtype == np.uint8 else 65535.0
    assert np.abs(back.astype(float) - source).max() / top <= 2.5 / 255


def corpus_read_raw(path: Path, dtype: type) -> np.ndarray:
    """Pixels of a PNG without any colour conversion (the file's own numbers)."""
    if dtype == np.uint16:
        import imagecodecs

        return np.asarray(imagecodecs.png_decode(path.read_bytes()))[..., :3]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_keep_profile_without_a_source_profile_writes_srgb_and_says_so(tmp_path):
    result = export_image(
        _doc(corpus.rgba_pattern(4, 4)).state, tmp_path / "x.png", keep_profile=True
    )
    assert any("no source profile" in note for note in result.notes)
    assert is_srgb_like(_embedded_profile(tmp_path / "x.png") or b"")


def test_keep_profile_refuses_a_cmyk_profile(tmp_path):
    cmyk_like = bytearray(ADOBE)
    cmyk_like[16:20] = b"CMYK"
    doc = _doc(corpus.rgba_pattern(4, 4), icc_profile=bytes(cmyk_like))
    with pytest.raises(BadInputError, match="only RGB profiles"):
        export_image(doc.state, tmp_path / "x.png", keep_profile=True)
    assert not (tmp_path / "x.png").exists()


def test_grey_image_with_a_grey_profile_is_converted(tmp_path):
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    profile = corpus.make_grey_profile(1.8)
    path = tmp_path / "grey.png"
    path.write_bytes(corpus.raw_png(grey, (corpus.iccp_chunk(profile),)))
    pixels = _pixels(open_document(path))
    # Gamma 1.8 data shown as sRGB would look too dark; the conversion brightens mid-tones.
    linear = (128 / 255) ** 1.8
    expected = 255 * (1.055 * linear ** (1 / 2.4) - 0.055)
    assert abs(int(pixels[0, 8, 0]) - expected) <= 2
    assert pixels[0, 0, 0] == 0 and pixels[0, 15, 0] >= 238
    assert np.all(pixels[..., 0] == pixels[..., 1])


def test_srgb_tagged_image_is_not_altered(tmp_path):
    rgb = corpus.rgba_pattern(8, 8, np.uint8, opaque=True)[..., :3]
    path = tmp_path / "srgb.png"
    path.write_bytes(corpus.raw_png(rgb, (corpus.iccp_chunk(srgb_profile_bytes()),)))
    doc = open_document(path)
    np.testing.assert_array_equal(_pixels(doc)[..., :3], rgb)
    assert doc.state.meta.icc_profile == srgb_profile_bytes()


def test_a_damaged_profile_is_ignored_not_fatal(tmp_path):
    rgb = corpus.rgba_pattern(8, 8, np.uint8, opaque=True)[..., :3]
    path = tmp_path / "badicc.png"
    path.write_bytes(corpus.raw_png(rgb, (corpus.iccp_chunk(b"RGB nonsense" * 10),)))
    doc = open_document(path)
    np.testing.assert_array_equal(_pixels(doc)[..., :3], rgb)
    assert doc.state.meta.icc_profile is None


# -- EXIF orientation --------------------------------------------------------------------

# Stored image = the inverse of what a viewer applies for each orientation.
_STORE = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_lands_upright_in_png(tmp_path, orientation):
    upright = corpus.upright_marker()
    stored = _STORE[orientation](Image.fromarray(upright))
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(
        corpus.pil_bytes(stored, "PNG", exif=corpus.exif_with_orientation(orientation))
    )
    doc = open_document(path)
    assert (doc.state.width, doc.state.height) == (10, 6)
    np.testing.assert_array_equal(_pixels(doc)[..., :3], upright)
    assert (describe(path)["width"], describe(path)["height"]) == (10, 6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_lands_upright_in_jpeg(tmp_path, orientation):
    upright = np.kron(
        corpus.upright_marker(), np.ones((8, 8, 1), np.uint8)
    )  # 48 x 80, JPEG-friendly
    stored = _STORE[orientation](Image.fromarray(upright))
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(
        corpus.pil_bytes(
            stored, "JPEG", quality=100, exif=corpus.exif_with_orientation(orientation)
        )
    )
    pixels = _pixels(open_document(path))
    assert pixels.shape[:2] == (48, 80)
    assert np.abs(pixels[..., :3].astype(int) - upright).mean() < 3


def test_exif_orientation_in_a_sixteen_bit_png(tmp_path):
    upright = corpus.upright_marker().astype(np.uint16) * 257 + 3
    stored = np.ascontiguousarray(
        np.rot90(upright, k=1)
    )  # viewer rotates 90 clockwise: orientation 6
    exif = corpus.exif_with_orientation(6).removeprefix(b"Exif\x00\x00")
    path = tmp_path / "o6.png"
    path.write_bytes(corpus.raw_png(stored, ((b"eXIf", exif),)))
    pixels = _pixels(open_document(path))
    np.testing.assert_array_equal(pixels[..., :3], upright)


# -- pixel modes ---------------------------------------------------------------------------


def test_palette_png_with_transparency_opens_as_rgba(tmp_path):
    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    path = tmp_path / "pal.png"
    path.write_bytes(corpus.pil_bytes(pal, "PNG", transparency=1))
    pixels = _pixels(open_document(path))
    assert tuple(pixels[0, 0]) == (255, 0, 0, 255)
    assert pixels[0, 1, 3] == 0


def test_grey_alpha_png_opens_as_rgba(tmp_path):
    la = np.stack([np.full((3, 3), 90, np.uint8), np.full((3, 3), 40, np.uint8)], -1)
    path = tmp_path / "la.png"
    path.write_bytes(corpus.pil_bytes(Image.fromarray(la, "LA"), "PNG"))
    assert tuple(_pixels(open_document(path))[1, 1]) == (90, 90, 90, 40)


def test_one_bit_bmp_opens_as_black_and_white(tmp_path):
    bw = Image.new("1", (8, 2), 0)
    bw.putpixel((3, 1), 1)
    path = tmp_path / "bw.bmp"
    path.write_bytes(corpus.pil_bytes(bw, "BMP"))
    pixels = _pixels(open_document(path))
    assert tuple(pixels[1, 3]) == (255, 255, 255, 255) and tuple(pixels[0, 0]) == (0, 0, 0, 255)


def test_cmyk_jpeg_opens_as_rgb(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink mix
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(corpus.pil_bytes(cmyk, "JPEG", quality=100))
    pixels = _pixels(open_document(path))
    assert pixels[8, 8, 0] > 230 and pixels[8, 8, 1] < 30 and pixels[8, 8, 2] < 30


def test_cmyk_tiff_opens_as_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # cyan
    path = tmp_path / "cmyk.tif"
    path.write_bytes(corpus.pil_bytes(cmyk, "TIFF"))
    pixels = _pixels(open_document(path))
    assert pixels[4, 4, 0] < 30 and pixels[4, 4, 1] > 220 and pixels[4, 4, 2] > 220


def test_i16_grey_png_and_tiff_stay_sixteen_bit(tmp_path):
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000 + 7).astype(np.uint16)
    png = tmp_path / "i16.png"
    png.write_bytes(corpus.pil_bytes(Image.fromarray(grey), "PNG"))
    tif = tmp_path / "i16.tif"
    tifffile.imwrite(tif, grey, photometric="minisblack")
    for path in (png, tif):
        doc = open_document(path)
        pixels = _pixels(doc)
        assert pixels.dtype == np.uint16 and doc.state.meta.bit_depth == 16
        np.testing.assert_array_equal(pixels[..., 1], grey)


def test_sixteen_bit_tiff_with_unassociated_alpha_keeps_alpha(tmp_path):
    rgba = corpus.rgba_pattern(6, 7, np.uint16)
    path = tmp_path / "rgba16.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=("unassalpha",))
    np.testing.assert_array_equal(_pixels(open_document(path)), rgba)


# -- entry points and describe ---------------------------------------------------------------


def test_open_document_is_clean_with_path_and_metadata(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(
        corpus.raw_png(corpus.rgba_pattern(5, 6, np.uint16), (corpus.iccp_chunk(ADOBE),))
    )
    doc = open_document(path)
    assert not doc.dirty
    assert doc.path == str(path)
    assert doc.layers[0].name == "photo"
    assert doc.state.meta.source_format == "png"
    assert doc.state.meta.bit_depth == 16


def test_format_is_recognised_by_content_not_extension(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    original = corpus.rgba_pattern(4, 4)
    path.write_bytes(corpus.png_of(original))
    np.testing.assert_array_equal(_pixels(open_document(path)), original)


def test_open_image_as_layer_and_read_image_array(tmp_path):
    original = corpus.rgba_pattern(6, 9)
    path = tmp_path / "stamp.png"
    path.write_bytes(corpus.png_of(original))
    layer = open_image_as_layer(path)
    assert layer.name == "stamp"
    np.testing.assert_array_equal(layer.pixels.to_array(), original)
    array = read_image_array(path)
    assert array.dtype == np.float32 and array.shape == (6, 9, 4)
    np.testing.assert_allclose(array, original / 255.0, atol=1e-6)


def test_dpi_survives_export_and_import(tmp_path):
    doc = _doc(corpus.rgba_pattern(4, 4), dpi=(300.0, 300.0))
    for ext in ("png", "tif", "jpg"):
        export_image(doc.state, tmp_path / f"d.{ext}")
        dpi = open_document(tmp_path / f"d.{ext}").state.meta.dpi
        assert dpi is not None and abs(dpi[0] - 300) < 1, ext


def test_describe_reports_depth_mode_profile_and_orientation(tmp_path):
    path = tmp_path / "deep.png"
    exif = corpus.exif_with_orientation(6).removeprefix(b"Exif\x00\x00")
    path.write_bytes(
        corpus.raw_png(
            corpus.rgba_pattern(5, 9, np.uint16), (corpus.iccp_chunk(ADOBE), (b"eXIf", exif))
        )
    )
    info = describe(path)
    assert info["format"] == "PNG" and info["bit_depth"] == 16 and info["mode"] == "RGBA;16"
    assert (info["width"], info["height"]) == (5, 9)  # upright: rotated by the orientation
    assert info["icc"]["description"] == "Adobe RGB like (test)" and info["icc"]["srgb"] is False
    assert info["orientation"] == 6
    assert info["layers"][0]["width"] == 5


def test_flatten_of_a_multi_layer_document_is_what_gets_exported(tmp_path):
    base = Layer.from_array("base", corpus.rgba_pattern(10, 10, opaque=True))
    top = Layer(
        "top",
        TiledImage.filled(4, 4, (1.0, 0.0, 0.0, 1.0), np.uint8),
        x=3,
        y=3,
        blend_mode="multiply",
    )
    state = DocState(10, 10, (base, top))
    export_image(state, tmp_path / "flat.png")
    np.testing.assert_array_equal(
        _pixels(open_document(tmp_path / "flat.png")), flatten(state, np.uint8)
    )
