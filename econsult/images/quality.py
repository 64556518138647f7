"""Photo quality advice: too small, blurry, too dark, too bright.

Measured on a grayscale copy whose longest side is at most ANALYSIS_SIZE px, so the cost
is the same for a 2 MP and a 48 MP photo (a few ms of numpy) and the blur measure
means the same thing whatever the camera's resolution.

Thresholds, tuned in tests/images/test_image_quality.py on a synthetic skin texture
(pores, fine lines and sensor noise on a skin tone, 1600 x 1200) and on versions of it
blurred, darkened and brightened:
- sharpness = variance of the 4-neighbour Laplacian. The sharp texture scores ~135 at
  1600 x 1200 and ~40 at 4000 x 3000 (its pores are 1-2 px, so shrinking to the analysis
  size softens them); a Gaussian blur of radius 1.5 px at 1600 px (a missed focus on
  a close-up) brings it to ~7, radius 4 to ~1.4. BLUR_THRESHOLD = 20 sits between, with
  margin on both sides. A featureless subject (a white wall) also scores low, and the
  advice is fine there too.
- exposure: mean luminance below 60 of 255, or more than half the pixels below 35, is
  too dark (the texture at 35% brightness has a mean of ~52, at 50% ~75); mean above
  215, or more than a quarter of the pixels clipped at 250+, is too bright (the texture
  x1.4 + 40 has a mean of ~238). Well-lit skin sits between 110 and 200.
- The blur check is skipped when exposure is wrong: a dark picture has little contrast,
  so its Laplacian is small even when in focus, and the exposure advice comes first.
- resolution: shorter side under 1000 px. Phone cameras give 2000+; under 1000 a
  specialist cannot zoom into a lesion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

ANALYSIS_SIZE = 1024
MIN_SHORT_SIDE = 1000
BLUR_THRESHOLD = 20.0
DARK_MEAN, DARK_LEVEL, DARK_FRACTION = 60.0, 35, 0.5
BRIGHT_MEAN, BRIGHT_LEVEL, BRIGHT_FRACTION = 215.0, 250, 0.25


@dataclass(frozen=True)
class QualityWarning:
    code: str  # "low_resolution" | "blurry" | "too_dark" | "too_bright"
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


LOW_RESOLUTION = QualityWarning(
    "low_resolution",
    "This photo is small, so fine detail may be lost. Send the original photo from the "
    "camera rather than a screenshot or a copy from a messaging app.",
)
BLURRY = QualityWarning(
    "blurry",
    "This photo looks blurry. Hold the camera about 20 cm away and tap the screen to "
    "focus on the skin before taking the picture.",
)
TOO_DARK = QualityWarning(
    "too_dark",
    "This photo is too dark. Take it in daylight or a well-lit room; avoid the flash "
    "if it causes glare.",
)
TOO_BRIGHT = QualityWarning(
    "too_bright",
    "This photo is too bright and details are washed out. Move out of direct sunlight "
    "or turn off the flash.",
)


@dataclass(frozen=True)
class Measures:
    sharpness: float
    mean: float
    dark_fraction: float
    bright_fraction: float


def analysis_gray(im: Image.Image) -> Image.Image:
    """A grayscale copy with the longest side at most ANALYSIS_SIZE px."""
    gray = im if im.mode == "L" else im.convert("L")
    longest = max(gray.size)
    if longest <= ANALYSIS_SIZE:
        return gray
    scale = ANALYSIS_SIZE / longest
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    return gray.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


def measure(gray: Image.Image) -> Measures:
    pixels = np.asarray(gray, dtype=np.float32)
    if pixels.shape[0] < 3 or pixels.shape[1] < 3:
        sharpness = 0.0
    else:
        centre = pixels[1:-1, 1:-1]
        laplacian = (
            pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:]
        ) - 4.0 * centre
        sharpness = float(laplacian.var())
    return Measures(
        sharpness=sharpness,
        mean=float(pixels.mean()),
        dark_fraction=float((pixels < DARK_LEVEL).mean()),
        bright_fraction=float((pixels >= BRIGHT_LEVEL).mean()),
    )


def assess(width: int, height: int, gray: Image.Image) -> tuple[QualityWarning, ...]:
    """Warnings for a photo of width x height (as shown) analysed through `gray`."""
    found: list[QualityWarning] = []
    if min(width, height) < MIN_SHORT_SIDE:
        found.append(LOW_RESOLUTION)
    m = measure(gray)
    if m.mean < DARK_MEAN or m.dark_fraction > DARK_FRACTION:
        found.append(TOO_DARK)
    elif m.mean > BRIGHT_MEAN or m.bright_fraction > BRIGHT_FRACTION:
        found.append(TOO_BRIGHT)
    elif m.sharpness < BLUR_THRESHOLD:
        found.append(BLURRY)
    return tuple(found)
