"""Every file in the shared real-world corpus, with the outcome the pipeline promises.

Decisions worth knowing (see also econsult/images/decode.py):
- hostile/truncated.heic decodes to 16 x 16 in libheif, but its mdat box is one byte
  short of what it declares: refused as incomplete, like any cut-off upload. libheif
  fills missing tiles of cut-off HEICs silently, so the container is what we trust.
- metadata/ultrahdr.jpg is refused as incomplete: its primary image's scan data is
  missing (Pillow decodes it to flat grey 128), so there are no pixels to keep. A real
  Ultra HDR photo decodes by its primary image (see test_image_formats
  test_an_extra_jpeg_after_the_image_is_not_markup).
- hostile/sugarshack_bad_mpo_header.jpg: the malformed MPO index is ignored and the
  primary JPEG is used, whatever the warning filters (Pillow warns, then does the same).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from econsult.images import ImageRejected, check_image, process_image
from tests.images.image_factories import TESTDATA, assert_no_metadata

ACCEPTED: dict[str, tuple[int, int]] = {
    "hostile/invalid-exif.jpg": (200, 200),
    "hostile/junk_jpeg_header.jpg": (1024, 768),
    "hostile/multiple_exif.jpg": (1, 1),
    "hostile/sugarshack_bad_mpo_header.jpg": (640, 480),
    "metadata/L_exif_xmp_iptc.heic": (64, 64),
    "metadata/app13.jpg": (4, 4),
    "metadata/exif_gps.jpg": (8, 8),
    "metadata/hopper_orientation_5.jpg": (128, 128),
    "metadata/hopper_orientation_6.jpg": (128, 128),
    "metadata/hopper_orientation_8.jpg": (128, 128),
    "metadata/icc_profile_big.jpg": (425, 250),
    "metadata/iptc.jpg": (640, 480),
    "metadata/pil_sample_cmyk.jpg": (100, 100),
    "phones/pug.heic": (4032, 3024),
    "phones/xiaomi.heic": (2592, 1944),
}
REFUSED: dict[str, str] = {
    "hostile/200MP.heic": "too_many_pixels",
    "hostile/corrupted.heic": "corrupt",
    "hostile/truncated.heic": "truncated",
    "hostile/truncated_jpeg.jpg": "truncated",
    "metadata/ultrahdr.jpg": "truncated",
}


def _read(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def test_every_corpus_file_has_an_expected_outcome() -> None:
    present = {str(p.relative_to(TESTDATA)) for p in TESTDATA.rglob("*") if p.is_file()} - {
        "README.md"
    }
    assert present == set(ACCEPTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted(name: str) -> None:
    data = _read(name)
    result = process_image(data)
    assert (result.width, result.height) == ACCEPTED[name]
    assert_no_metadata(result.content, result.content_type)
    assert_no_metadata(result.thumbnail, result.thumbnail_type)
    assert result.source_format == ("heif" if name.endswith(".heic") else "jpeg")
    assert result.content_type == "image/jpeg"
    checked = check_image(data)
    assert (checked.width, checked.height) == ACCEPTED[name]
    assert {w.code for w in checked.warnings} == {w.code for w in result.warnings}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused(name: str) -> None:
    for operation in (process_image, check_image):
        with pytest.raises(ImageRejected) as info:
            operation(_read(name))
        assert info.value.code == REFUSED[name]


def test_200mp_heic_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from pillow_heif.as_plugin import HeifImageFile

    def no_decode(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(HeifImageFile, "load", no_decode)
    with pytest.raises(ImageRejected) as info:
        process_image(_read("hostile/200MP.heic"))
    assert info.value.code == "too_many_pixels"


@pytest.mark.parametrize("name", ["phones/pug.heic", "phones/xiaomi.heic"])
def test_phone_photos_lose_gps_and_maker_data(name: str) -> None:
    data = _read(name)
    with Image.open(TESTDATA / name) as src:
        exif = src.getexif()
        assert exif.get_ifd(0x8825)  # the source does carry GPS
        make = str(exif.get(0x010F)).strip("\x00 ").encode()
    result = process_image(data)
    assert make and make in data and make not in result.content
    assert b"GPS" not in result.content and b"Exif" not in result.content
    assert result.thumbnail_width == 512 and result.thumbnail_height == 384
    assert result.warnings == ()


@pytest.mark.parametrize("orientation", [5, 6, 8])
def test_hopper_orientations_match_pillows_exif_transpose(orientation: int) -> None:
    path: Path = TESTDATA / "metadata" / f"hopper_orientation_{orientation}.jpg"
    with Image.open(path) as src:
        expected = np.asarray(ImageOps.exif_transpose(src).convert("RGB"), dtype=np.int16)
    with Image.open(io.BytesIO(process_image(path.read_bytes()).content)) as out:
        got = np.asarray(out.convert("RGB"), dtype=np.int16)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 3  # only re-encoding loss
    # And it really was turned: the unrotated picture differs a lot.
    with Image.open(path) as src:
        raw = np.asarray(src.convert("RGB"), dtype=np.int16)
    assert np.abs(raw - got).mean() > 20


def test_cmyk_sample_converts_to_plausible_rgb() -> None:
    with Image.open(TESTDATA / "metadata" / "pil_sample_cmyk.jpg") as src:
        expected = np.asarray(src.convert("RGB"), dtype=np.int16)
    result = process_image(_read("metadata/pil_sample_cmyk.jpg"))
    with Image.open(io.BytesIO(result.content)) as out:
        assert out.mode == "RGB"
        diff = np.abs(np.asarray(out, dtype=np.int16) - expected)
    # A chart of hard colour edges: JPEG ringing at the edges, exact in flat areas.
    assert np.median(diff) <= 2 and diff.mean() < 10
