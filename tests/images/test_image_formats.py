"""Accept by content: the hostile corpus, generated here, and format sniffing."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from econsult import errors
from econsult.images import ImageRejected, check_image, process_image
from econsult.images.formats import ACCEPTED_MESSAGE, sniff
from tests.images.image_factories import asymmetric_pattern, encode, png_declaring, skin_texture


def _photo(fmt: str, **params: object) -> bytes:
    return encode(asymmetric_pattern(), fmt, **params)


def _rejected(data: bytes, **kwargs: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        process_image(data, **kwargs)
    # check_image applies the same gate.
    with pytest.raises(ImageRejected) as checked:
        check_image(data, **kwargs)
    assert checked.value.code == info.value.code
    return info.value


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PSD = b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03" + b"\x00\x00\x00\x10" * 2 + b"\x00\x08\x00\x03"


def _animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("svg", SVG, "SVG"),
        ("html", b"<!DOCTYPE html><html><body>hi</body></html>", "web page"),
        ("tiff", _photo("TIFF"), "TIFF"),
        ("psd", PSD, "Photoshop"),
        ("gif", _animated_gif(), "GIF"),
        ("pdf", PDF, "PDF"),
        ("bmp", _photo("BMP"), "BMP"),
        ("text", b"just some text, not a picture", "not a photo"),
    ],
)
def test_other_formats_are_refused_naming_what_we_accept(name: str, data: bytes, says: str) -> None:
    exc = _rejected(data)
    assert exc.code == "unsupported_format"
    assert ACCEPTED_MESSAGE in exc.message
    assert says in exc.message
    assert isinstance(exc, errors.InvalidInput)  # the web layer answers 400


def test_zero_bytes_is_refused() -> None:
    exc = _rejected(b"")
    assert exc.code == "empty"
    assert "Please upload a JPEG, PNG, WebP or HEIC photo." in exc.message


@pytest.mark.parametrize(
    "markup",
    [b"<html><script>alert(1)</script></html>", b"<svg onload=alert(1)>", b"<SCRIPT>x</SCRIPT>"],
)
def test_jpeg_with_appended_markup_is_refused(markup: bytes) -> None:
    exc = _rejected(_photo("JPEG") + markup)
    assert exc.code == "suspicious_content"


def test_markup_in_a_comment_segment_is_refused() -> None:
    exc = _rejected(_photo("JPEG", comment=b"<html><body onload=alert(1)>"))
    assert exc.code == "suspicious_content"


def test_markup_after_a_large_image_is_found_in_the_tail() -> None:
    big = encode(skin_texture(1200, 900), "JPEG", quality=95)
    assert len(big) > 3 * 64 * 1024
    assert _rejected(big + b"<script>alert(1)</script>").code == "suspicious_content"


def test_an_extra_jpeg_after_the_image_is_not_markup() -> None:
    # Ultra HDR / MPO files carry a second JPEG after the first one's EOI.
    primary = _photo("JPEG", quality=95)
    result = process_image(primary + encode(Image.new("L", (30, 20), 128), "JPEG"))
    assert (result.width, result.height) == (60, 40)


def test_xmp_and_plist_xml_are_not_markup() -> None:
    xmp = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    plist = b'<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN">'
    data = _photo("JPEG", xmp=xmp, comment=plist)
    assert process_image(data).source_format == "jpeg"


def test_png_bytes_named_jpg_are_accepted_as_png() -> None:
    # The name and declared type are never consulted: content decides.
    result = process_image(_photo("PNG"))
    assert result.source_format == "png"
    assert result.content_type == "image/png"


@pytest.mark.parametrize(("fmt", "family"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_sniff_accepts_the_photo_formats(fmt: str, family: str) -> None:
    assert sniff(_photo(fmt)).family == family


def test_heif_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16

    assert sniff(ftyp(b"heic", b"mif1", b"heic")).family == "heif"
    assert sniff(ftyp(b"mif1", b"mif1", b"heic")).family == "heif"
    for refused in (ftyp(b"avif", b"mif1", b"avif"), ftyp(b"mif1", b"avif"), ftyp(b"isom")):
        with pytest.raises(ImageRejected) as info:
            sniff(refused)
        assert info.value.code == "unsupported_format"


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    data = png_declaring(20000, 20000)
    assert len(data) < 1000
    exc = _rejected(data)
    assert exc.code == "too_many_pixels"
    assert "50 megapixels" in exc.message


def test_pixel_cap_applies_below_pillows_own_limit() -> None:
    # 8000 x 8000 = 64 MP: under Pillow's bomb threshold (89 MP) but over our 50 MP.
    exc = _rejected(png_declaring(8000, 8000))
    assert exc.code == "too_many_pixels"
    assert "8000 x 8000" in exc.message


def test_pixel_cap_is_configurable() -> None:
    data = _photo("PNG")  # 60 x 40 = 2400 px
    assert _rejected(data, max_pixels=2399).code == "too_many_pixels"
    assert process_image(data, max_pixels=2400).width == 60


def test_max_pixels_above_pillows_threshold_is_a_programming_error() -> None:
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    with pytest.raises(ValueError):
        process_image(_photo("PNG"), max_pixels=limit + 1)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_refused_as_incomplete(fmt: str) -> None:
    data = encode(skin_texture(400, 300), fmt)
    exc = _rejected(data[: len(data) * 2 // 3])
    assert exc.code in ("truncated", "corrupt")
    if fmt == "JPEG":
        assert exc.code == "truncated"
        assert "incomplete" in exc.message


def test_garbage_after_a_valid_magic_is_corrupt() -> None:
    assert _rejected(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100).code == "corrupt"
    assert _rejected(b"\xff\xd8\xff" + b"\x00" * 100).code == "corrupt"


def test_animated_png_is_refused() -> None:
    frames = [Image.new("RGB", (20, 20), (i * 80, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    assert _rejected(buf.getvalue()).code == "animated"
