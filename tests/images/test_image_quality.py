"""Quality advice, tuned on a synthetic skin texture and its degraded versions."""

from __future__ import annotations

import pytest
from PIL import Image

from econsult.images import check_image, process_image
from econsult.images.quality import BLUR_THRESHOLD, analysis_gray, measure
from tests.images.image_factories import blurred, encode, scaled_brightness, skin_texture


@pytest.fixture(scope="module")
def sharp() -> Image.Image:
    return skin_texture()


def _codes(data: bytes) -> set[str]:
    processed = {w.code for w in process_image(data).warnings}
    checked = {w.code for w in check_image(data).warnings}
    assert processed == checked  # the cheap check and the full pipeline agree
    return processed


def test_sharp_well_lit_skin_has_no_warnings(sharp: Image.Image) -> None:
    assert _codes(encode(sharp, "JPEG", quality=90)) == set()


def test_sharp_skin_at_phone_resolution_has_no_warnings() -> None:
    assert _codes(encode(skin_texture(4000, 3000, seed=3), "JPEG", quality=90)) == set()


@pytest.mark.parametrize("radius", [1.5, 2.5, 4.0])
def test_blurred_skin_is_blurry(sharp: Image.Image, radius: float) -> None:
    assert _codes(encode(blurred(sharp, radius), "JPEG", quality=90)) == {"blurry"}


def test_thresholds_have_margin_on_both_sides(sharp: Image.Image) -> None:
    sharp_score = measure(analysis_gray(sharp)).sharpness
    soft_score = measure(analysis_gray(blurred(sharp, 1.5))).sharpness
    assert sharp_score > 3 * BLUR_THRESHOLD
    assert soft_score < BLUR_THRESHOLD / 2


def test_dark_skin_photo_is_too_dark(sharp: Image.Image) -> None:
    # The blur check stays quiet on dark photos: exposure advice comes first.
    assert _codes(encode(scaled_brightness(sharp, 0.35), "JPEG")) == {"too_dark"}


def test_dim_but_usable_photo_is_not_flagged(sharp: Image.Image) -> None:
    assert _codes(encode(scaled_brightness(sharp, 0.6), "JPEG")) == set()


def test_washed_out_photo_is_too_bright(sharp: Image.Image) -> None:
    assert _codes(encode(scaled_brightness(sharp, 1.4, 40), "JPEG")) == {"too_bright"}


def test_mostly_clipped_photo_is_too_bright(sharp: Image.Image) -> None:
    im = sharp.copy()
    im.paste((255, 255, 255), (0, 0, 1600, 500))  # a third blown out by the flash
    assert "too_bright" in _codes(encode(im, "JPEG"))


def test_small_photo_is_low_resolution() -> None:
    codes = _codes(encode(skin_texture(900, 700), "JPEG", quality=90))
    assert codes == {"low_resolution"}


def test_low_resolution_uses_the_shown_orientation() -> None:
    # 1200 x 900 either way up: short side 900.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(skin_texture(1200, 900), "JPEG", exif=exif)
    result = check_image(data)
    assert (result.width, result.height) == (900, 1200)
    assert "low_resolution" in {w.code for w in result.warnings}


def test_warnings_carry_plain_advice(sharp: Image.Image) -> None:
    warning = process_image(encode(blurred(sharp, 3), "JPEG")).warnings[0]
    assert warning.as_dict() == {"code": "blurry", "message": warning.message}
    assert "20 cm" in warning.message and "focus" in warning.message
