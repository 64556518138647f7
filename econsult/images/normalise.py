"""Turn a decoded image into upright pixels in one of three modes: L, RGB or RGBA, with
the photo's own colour profile where it has one that fits them.

Nothing from the source survives but pixels and a rebuilt colour profile (icc.py: colour
tags only): the returned image's `info` is empty, so no encoder can copy EXIF, GPS, XMP,
IPTC or maker notes into the output. A wide-gamut photo (an iPhone's Display P3) keeps
its gamut; the profile is embedded in the re-encoded JPEG and browsers colour-manage it.
Photos whose profile cannot be kept (CMYK, a profile for another colour space, an
unreadable one) are converted to sRGB and stored untagged, as before.

Orientation is applied from the EXIF tag with a plain transpose rather than
`ImageOps.exif_transpose`, which also re-serialises the EXIF block we are about to
discard (slow, and it warns on the malformed EXIF some cameras write).
"""

from __future__ import annotations

import functools
import io
import threading

import numpy as np
from PIL import Image, ImageCms

from .icc import clean_profile

_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must not cost the user their photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def normalise(im: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Upright pixels in mode L/RGB/RGBA with empty info, and the colour profile to embed
    with them (None: the pixels are sRGB). May return `im` itself."""
    turn = orientation(im)
    icc = im.info.get("icc_profile")
    out = _to_working_mode(im)
    kept = clean_profile(bytes(icc), out.mode) if icc else None
    if icc and kept is None and out.mode != "L":
        out = _to_srgb(out, icc, source_mode=im.mode)
    if turn in _TRANSPOSE:
        out = out.transpose(_TRANSPOSE[turn])
    out.info = {}
    return out, kept


def has_alpha(im: Image.Image) -> bool:
    return im.mode == "RGBA"


def _to_working_mode(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode in ("RGB", "L"):
        return im
    if mode == "RGBA":
        return _drop_opaque_alpha(im)
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        if mode == "PA" or "transparency" in im.info:
            return _drop_opaque_alpha(im.convert("RGBA"))
        return im.convert("RGB")
    if mode in ("LA", "La", "RGBa"):
        return _drop_opaque_alpha(im.convert("RGBA"))
    if mode in _SIXTEEN_BIT:
        # convert("L") clips 16-bit values at 255 (a white picture); scale instead.
        wide = np.asarray(im, dtype=np.uint32)
        return Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), "L")
    if mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32))
        top = float(values.max()) or 1.0
        return Image.fromarray((np.clip(values / top, 0, 1) * 255).astype(np.uint8), "L")
    if mode == "CMYK" and "icc_profile" in im.info:
        return im  # the ICC transform below maps CMYK straight to sRGB
    return im.convert("RGB")  # CMYK without a profile, YCbCr, LAB, HSV, RGBX, ...


def _drop_opaque_alpha(im: Image.Image) -> Image.Image:
    """RGBA whose alpha is everywhere 255 carries nothing: store it as RGB (smaller, JPEG)."""
    if im.getchannel("A").getextrema() == (255, 255):
        return im.convert("RGB")
    return im


def _to_srgb(im: Image.Image, icc: bytes, *, source_mode: str) -> Image.Image:
    source = _profile(icc)
    if source is None or _is_srgb(icc):
        return im.convert("RGB") if im.mode == "CMYK" else im
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    try:
        transform = ImageCms.buildTransform(source, _srgb(), im.mode, out_mode)
        converted = ImageCms.applyTransform(im, transform, inPlace=im.mode == out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A profile that does not fit the pixels (e.g. a grey profile on an RGB photo):
        # showing the pixels as sRGB beats refusing the photo.
        return im.convert("RGB") if im.mode == "CMYK" else im
    return converted if converted is not None else im


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile | None:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=64)
def _is_srgb(icc: bytes) -> bool:
    profile = _profile(icc)
    if profile is None:
        return False
    try:
        description = ImageCms.getProfileDescription(profile)
    except ImageCms.PyCMSError:
        return False
    return "srgb" in description.lower().replace(" ", "")


# littlecms profile objects are not shared between threads (tag reads move a shared
# I/O position), so each worker thread keeps its own sRGB profile.
_local = threading.local()


def _srgb() -> ImageCms.ImageCmsProfile:
    profile: ImageCms.ImageCmsProfile | None = getattr(_local, "srgb", None)
    if profile is None:
        profile = _local.srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return profile
