"""Normalisation: orientation, colour, modes, metadata stripping, re-encoding, thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from econsult.images import process_image
from econsult.images.icc import profile_description, tag_signatures
from econsult.images.pipeline import THUMBNAIL_SIZE
from tests.images.image_factories import (
    TESTDATA,
    assert_no_metadata,
    asymmetric_pattern,
    encode,
    skin_texture,
)

# Where each EXIF orientation's stored pixels must end up, written with numpy so the
# expectation does not come from the code under test.
EXPECTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: np.rot90(a, k=2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=1),
}


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _exif(orientation: int | None = None, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (49.0, 15.0, 30.25), 3: "W", 4: (123.0, 7.0, 0.5)}
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_exactly(orientation: int) -> None:
    stored = asymmetric_pattern()
    data = encode(stored, "PNG", exif=_exif(orientation))  # PNG: lossless, exact pixels
    result = process_image(data)
    expected = EXPECTED[orientation](np.asarray(stored))
    got = _pixels(result.content)
    assert got.shape == expected.shape
    assert (result.height, result.width) == expected.shape[:2]
    assert np.array_equal(got, expected)
    assert_no_metadata(result.content, result.content_type)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_orientation_and_thumbnail_orientation(orientation: int) -> None:
    stored = asymmetric_pattern(600, 400).resize((1200, 800), Image.Resampling.NEAREST)
    result = process_image(encode(stored, "JPEG", quality=95, exif=_exif(orientation)))
    expected = EXPECTED[orientation](np.asarray(stored, dtype=np.int16))
    assert np.abs(_pixels(result.content) - expected).mean() < 3
    thumb = _pixels(result.thumbnail)
    assert max(thumb.shape[:2]) == THUMBNAIL_SIZE
    small = np.asarray(
        Image.fromarray(expected.astype(np.uint8)).resize(thumb.shape[1::-1]), dtype=np.int16
    )
    assert np.abs(thumb - small).mean() < 6


def test_gps_and_maker_data_never_reach_the_output() -> None:
    data = encode(skin_texture(800, 600), "JPEG", exif=_exif(gps=True), comment=b"note")
    assert b"SecretPhoneMaker" in data
    result = process_image(data)
    for blob in (result.content, result.thumbnail):
        assert b"SecretPhoneMaker" not in blob and b"Exif" not in blob
    assert_no_metadata(result.content, result.content_type)
    assert_no_metadata(result.thumbnail, result.thumbnail_type)


def test_png_text_exif_and_icc_chunks_are_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Secret")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(asymmetric_pattern(), "PNG", pnginfo=info, exif=_exif(gps=True), icc_profile=srgb)
    result = process_image(data)
    assert result.content_type == "image/png"
    assert b"Dr Secret" not in result.content
    assert_no_metadata(result.content, result.content_type)


def test_display_p3_profile_is_kept_with_the_pixels_unchanged() -> None:
    # Tagged Display P3 (the iPhone's profile): the pixels stay as they were and the
    # output carries the profile (rebuilt), so a browser shows the wider gamut.
    with Image.open(TESTDATA / "phones" / "pug.heic") as phone:
        p3 = bytes(phone.info["icc_profile"])
    stored = Image.new("RGB", (64, 64), (200, 60, 60))
    for fmt in ("PNG", "JPEG"):
        result = process_image(encode(stored, fmt, icc_profile=p3, quality=98))
        r, g, b = _pixels(result.content)[0, 0]
        assert abs(int(r) - 200) <= 3 and abs(int(g) - 60) <= 3 and abs(int(b) - 60) <= 3
        for content in (result.content, result.thumbnail):
            with Image.open(io.BytesIO(content)) as out:
                assert profile_description(out.info["icc_profile"]) == "Display P3"
            assert_no_metadata(content, "image/png" if content[:4] == b"\x89PNG" else
                               "image/jpeg")


def _profile_with_private_tag(base: bytes, payload: bytes) -> bytes:
    """`base` with one more tag ('zzzz', a private one) holding `payload`."""
    import struct

    count = struct.unpack(">I", base[128:132])[0]
    table = bytearray(base[132:132 + 12 * count])
    shift = 12
    for i in range(count):
        offset = struct.unpack(">I", table[12 * i + 4:12 * i + 8])[0]
        table[12 * i + 4:12 * i + 8] = struct.pack(">I", offset + shift)
    data = base[132 + 12 * count:]
    private_at = 132 + 12 * (count + 1) + len(data)
    table += b"zzzz" + struct.pack(">II", private_at, len(payload))
    body = bytearray(base[:128]) + struct.pack(">I", count + 1) + table + data + payload
    body[48:52] = b"APPL"  # a device maker in the header
    body[0:4] = struct.pack(">I", len(body))
    return bytes(body)


def test_private_tags_and_device_fields_of_a_profile_are_dropped() -> None:
    with Image.open(TESTDATA / "phones" / "pug.heic") as phone:
        p3 = bytes(phone.info["icc_profile"])
    smuggled = _profile_with_private_tag(p3, b"data GPS 49.28N 123.12W Jane Patient")
    data = encode(Image.new("RGB", (64, 64), (120, 90, 80)), "JPEG", icc_profile=smuggled)
    assert b"Jane Patient" in data
    result = process_image(data)
    for content in (result.content, result.thumbnail):
        assert b"Jane Patient" not in content and b"APPL" not in content
        with Image.open(io.BytesIO(content)) as out:
            icc = out.info["icc_profile"]
        assert b"zzzz" not in tag_signatures(icc)
        assert profile_description(icc) == "Display P3"
        assert_no_metadata(content, "image/jpeg")


def test_a_cmyk_photo_is_stored_as_untagged_rgb() -> None:
    result = process_image((TESTDATA / "metadata" / "pil_sample_cmyk.jpg").read_bytes())
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "RGB" and "icc_profile" not in out.info


def test_srgb_profile_leaves_pixels_alone() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    stored = Image.new("RGB", (64, 64), (200, 60, 60))
    result = process_image(encode(stored, "PNG", icc_profile=srgb))
    assert tuple(_pixels(result.content)[0, 0]) == (200, 60, 60)


def test_sixteen_bit_grayscale_png_keeps_its_tones() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (32, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I")
    result = process_image(data)
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "L"
        values = np.asarray(out)[0]
    # convert("L") would clip everything above 255 to white; scaling keeps the ramp.
    assert values[0] == 0 and values[-1] == 255 and 120 <= values[128] <= 135


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red ink
    result = process_image(encode(cmyk, "JPEG", quality=95))
    assert result.content_type == "image/jpeg"
    r, g, b = _pixels(result.content)[20, 20]
    assert r > 200 and g < 60 and b < 60


def test_png_with_real_alpha_keeps_it_and_gets_a_png_thumbnail() -> None:
    rgba = Image.new("RGBA", (1200, 900), (200, 150, 130, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 600, 900))
    result = process_image(encode(rgba, "PNG"))
    assert result.content_type == "image/png" and result.thumbnail_type == "image/png"
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "RGBA" and out.getpixel((10, 10)) == (0, 0, 0, 0)
    assert (result.thumbnail_width, result.thumbnail_height) == (512, 384)


def test_opaque_alpha_is_dropped() -> None:
    result = process_image(encode(Image.new("RGBA", (50, 50), (1, 2, 3, 255)), "PNG"))
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "RGB"
    assert result.thumbnail_type == "image/jpeg"


def test_webp_with_alpha_becomes_jpeg_on_white() -> None:
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    result = process_image(encode(rgba, "WEBP", lossless=True))
    assert result.source_format == "webp" and result.content_type == "image/jpeg"
    assert (_pixels(result.content) > 245).all()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA"])
def test_other_modes_are_normalised(mode: str) -> None:
    im = asymmetric_pattern().convert(mode)
    result = process_image(encode(im, "PNG"))
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode in ("L", "RGB", "RGBA")
        assert out.size == (60, 40)


def test_palette_png_with_transparency_keeps_it() -> None:
    im = Image.new("P", (30, 30), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, 15, 30))
    result = process_image(encode(im, "PNG", transparency=0))
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "RGBA"
        assert np.asarray(out)[5, 25, 3] == 0 and out.getpixel((5, 5)) == (0, 255, 0, 255)


def test_large_photo_output_shape_and_thumbnail() -> None:
    src = skin_texture(2000, 1500)
    result = process_image(encode(src, "JPEG", quality=92))
    assert (result.width, result.height) == (2000, 1500)
    assert result.content_type == "image/jpeg" and result.content.startswith(b"\xff\xd8\xff")
    assert (result.thumbnail_width, result.thumbnail_height) == (512, 384)
    with Image.open(io.BytesIO(result.thumbnail)) as thumb:
        assert thumb.size == (512, 384) and thumb.format == "JPEG"
    # The re-encode is faithful: mean error against the source stays small.
    assert np.abs(_pixels(result.content) - np.asarray(src, dtype=np.int16)).mean() < 4
    assert result.warnings == ()


def test_result_is_frozen() -> None:
    result = process_image(encode(asymmetric_pattern(), "PNG"))
    with pytest.raises(AttributeError):
        result.width = 1  # type: ignore[misc]  # frozen: the point of the test
