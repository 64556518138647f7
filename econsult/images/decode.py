"""Open and fully decode an accepted upload, refusing oversized and incomplete files.

Pixel cap, without touching global state: Pillow's own bomb check reads the global
`Image.MAX_IMAGE_PIXELS` and reports through the (process-global, not thread-safe)
warnings machinery, so the pipeline neither changes that global nor wraps decodes in
`warnings.catch_warnings`. Instead it compares the header's dimensions with its own
`max_pixels` before any pixel is decoded, and requires `max_pixels` to be no larger
than Pillow's warning threshold. Every image Pillow would warn about is therefore one
we refuse anyway, whatever the ambient warning filters do: printed (default), ignored,
or raised as an error (as under pytest), the outcome is the same refusal.

Truncated files are refused (`ImageFile.LOAD_TRUNCATED_IMAGES` stays False): a photo
with its lower half grey is worse than asking for the file again.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .formats import ACCEPTED_MESSAGE, ImageRejected, Sniffed, open_image, sniff

DEFAULT_MAX_PIXELS = 50_000_000

_INCOMPLETE = "The photo file is incomplete (the upload may have been cut off). Please try again."


@dataclass
class Decoded:
    image: Image.Image  # loaded; the caller owns it
    source_format: str  # "jpeg" | "png" | "webp" | "heif"


def check_max_pixels(max_pixels: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if max_pixels < 1 or (limit is not None and max_pixels > limit):
        raise ValueError(
            f"max_pixels must be between 1 and Pillow's MAX_IMAGE_PIXELS ({limit}), "
            f"got {max_pixels}"
        )


def open_checked(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, Sniffed]:
    """Sniff, open (header only) and enforce the pixel cap; no pixel data decoded yet."""
    check_max_pixels(max_pixels)
    sniffed = sniff(data)
    if sniffed.family == "heif":
        # libheif quietly decodes a cut-off file, leaving its missing tiles wrong, so
        # completeness is checked on the container: every top-level box must fit.
        structure = _box_structure(data)
        if structure == "truncated":
            raise ImageRejected("truncated", _INCOMPLETE)
        if structure == "corrupt":
            raise _corrupt()
    try:
        im = open_image(data, sniffed)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(None, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError):
        raise _corrupt() from None
    width, height = im.size
    if width < 1 or height < 1:
        im.close()
        raise _corrupt()
    if width * height > max_pixels:
        im.close()
        raise _too_large((width, height), max_pixels)
    if getattr(im, "is_animated", False) and sniffed.family in ("png", "webp"):
        im.close()
        raise ImageRejected("animated", f"Animated images are not accepted. {ACCEPTED_MESSAGE}")
    return im, sniffed


def load(im: Image.Image) -> None:
    """Decode every pixel of the current (primary) frame, mapping decoder failures."""
    try:
        im.load()
    except OSError as exc:
        if "truncated" in str(exc) or "broken data stream" in str(exc):
            raise ImageRejected("truncated", _INCOMPLETE) from None
        raise _corrupt() from None
    except (SyntaxError, ValueError, EOFError, RuntimeError):
        raise _corrupt() from None


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    im, sniffed = open_checked(data, max_pixels=max_pixels)
    try:
        load(im)
    except BaseException:
        im.close()
        raise
    return Decoded(im, sniffed.family)


def _box_structure(data: bytes) -> str:
    """ "ok" when the ISO-BMFF top-level boxes tile the file, else "truncated" or "corrupt"."""
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < 8:
            return "truncated"
        size = int.from_bytes(data[offset : offset + 4], "big")
        box_type = data[offset + 4 : offset + 8]
        if not all(0x20 <= c < 0x7F for c in box_type):
            return "corrupt"
        if size == 1:  # 64-bit "largesize" follows the type
            if end - offset < 16:
                return "truncated"
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        elif size == 0:  # the box runs to the end of the file
            return "ok"
        if size < 8:
            return "corrupt"
        if offset + size > end:
            return "truncated"
        offset += size
    return "ok"


def _too_large(size: tuple[int, int] | None, max_pixels: int) -> ImageRejected:
    megapixels = f"{max_pixels / 1_000_000:g}"
    found = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return ImageRejected(
        "too_many_pixels",
        f"The photo is too large{found}; the limit is {megapixels} megapixels. "
        "Please send a smaller copy or a screenshot of it.",
    )


def _corrupt() -> ImageRejected:
    return ImageRejected(
        "corrupt", f"The photo file is damaged and cannot be read. {ACCEPTED_MESSAGE}"
    )
