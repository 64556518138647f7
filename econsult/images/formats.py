"""Which files the pipeline accepts, decided by content, never by name or declared type.

Only four photo formats are decoded: JPEG, PNG, WebP and HEIC/HEIF. Everything else is
refused before any decoder runs, so a TIFF, PSD, SVG or PDF never reaches the (much
larger) attack surface of Pillow's other plug-ins.

Polyglot rule: a file that is both a valid image and an HTML/SVG/script document is
refused when markup appears in its first or last 64 KiB. That is where such files put
it (a comment or APP segment up front, or a document appended after the image), and the
tag patterns are at least five bytes long, so the chance of random compressed data
matching one by accident is about 1 in 10^5 per photo. The pipeline re-encodes from
pixels anyway, so the markup could never be served; refusing says loudly that the upload
was not a plain photo.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass

from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from econsult import errors

ACCEPTED_MESSAGE = "Please upload a JPEG, PNG, WebP or HEIC photo."

# Pillow format names we let Image.open try, per sniffed family. "MPO" is how Pillow
# names a JPEG carrying extra pictures (e.g. stereo or depth); only its primary image
# is decoded.
PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "jpeg": ("JPEG",),
    "png": ("PNG",),
    "webp": ("WEBP",),
    "heif": ("HEIF",),
}
_FAMILY_OF_PILLOW_FORMAT = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "HEIF": "heif",
}

# ISO-BMFF major/compatible brands that mean a HEVC-coded HEIF still image.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}

# Formats we recognise only to name them in the refusal.
_KNOWN_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"II*\x00", "a TIFF"),
    (b"MM\x00*", "a TIFF"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"%PDF", "a PDF"),
    (b"BM", "a BMP"),
    (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"PK\x03\x04", "a ZIP archive"),
)

# "<!DOCTYPE html" only: Photoshop blocks legitimately embed "<!DOCTYPE plist" and XMP
# is XML, so generic XML markers would refuse ordinary camera files.
_MARKUP = re.compile(
    rb"<(?:html|head|body|script|iframe|object|embed|svg|\?php)[\s>/]|<!doctype\s+html",
    re.IGNORECASE,
)
_SCAN_WINDOW = 64 * 1024


class ImageRejected(errors.InvalidInput):
    """The upload is not an acceptable photo; `message` is written for the person uploading.

    An InvalidInput, so the web layer's error table answers 400 with code and message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)

    def __reduce__(self) -> tuple[type[ImageRejected], tuple[str, str]]:
        # Exceptions pickle as cls(*args); ours takes (code, message), and a process
        # pool must be able to send it back to the parent.
        return (ImageRejected, (self.code, self.message))

    def __repr__(self) -> str:
        return f"ImageRejected({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class Sniffed:
    family: str  # "jpeg" | "png" | "webp" | "heif"


def sniff(data: bytes) -> Sniffed:
    """Identify the format by magic bytes, or raise ImageRejected naming what it is."""
    if not data:
        raise ImageRejected("empty", f"The file is empty. {ACCEPTED_MESSAGE}")
    family = _family(data)
    if family is None:
        raise ImageRejected("unsupported_format", f"{_describe(data)} {ACCEPTED_MESSAGE}")
    if _has_markup(data):
        raise ImageRejected(
            "suspicious_content",
            f"The file contains web page or script content as well as a picture. "
            f"{ACCEPTED_MESSAGE}",
        )
    return Sniffed(family)


def open_image(data: bytes, sniffed: Sniffed) -> Image.Image:
    """Image.open restricted to the sniffed format; header only, no pixels decoded yet.

    Raises ImageRejected when Pillow cannot read it as that format. Pillow's own
    DecompressionBombError/Warning propagate so the caller can report them as a size
    refusal.
    """
    _register_heif()
    try:
        try:
            im = Image.open(io.BytesIO(data), formats=list(PILLOW_FORMATS[sniffed.family]))
        except UserWarning:
            if sniffed.family != "jpeg":
                raise
            # Pillow warns about a malformed MPO index and then reads the primary JPEG.
            # When warnings are errors (pytest, -W error) do the same, so the outcome
            # never depends on the ambient warning filters.
            im = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(
            "corrupt", f"The photo file is damaged and cannot be read. {ACCEPTED_MESSAGE}"
        ) from None
    detected = _FAMILY_OF_PILLOW_FORMAT.get(im.format or "")
    if detected != sniffed.family:  # defence in depth: formats= should make this impossible
        im.close()
        raise ImageRejected(
            "format_mismatch",
            f"The file's contents do not match a single image format. {ACCEPTED_MESSAGE}",
        )
    return im


def _family(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "heif" if _is_heif(data) else None
    return None


def _is_heif(data: bytes) -> bool:
    box_size = int.from_bytes(data[:4], "big")
    if not 16 <= box_size <= 4096 or box_size > len(data):
        return False
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if major in _HEIF_BRANDS:
        return True
    # A generic "mif1" file is HEIC only when a HEVC brand is listed; AVIF and others
    # share the container but need decoders we do not accept.
    return major in _GENERIC_HEIF_BRANDS and bool(compatible & _HEIF_BRANDS)


def _describe(data: bytes) -> str:
    for magic, name in _KNOWN_REFUSED:
        if data.startswith(magic):
            return f"This file is {name}, which is not accepted."
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "This file uses an image or video format that is not accepted."
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<"):
        kind = "an SVG drawing" if b"<svg" in head else "a web page or XML document"
        return f"This file is {kind}, not a photo."
    return "This file is not a photo in a format we accept."


def _has_markup(data: bytes) -> bool:
    if _MARKUP.search(data, 0, _SCAN_WINDOW):
        return True
    tail_start = max(_SCAN_WINDOW, len(data) - _SCAN_WINDOW)
    # Start a few bytes early so a tag straddling the window boundary is still seen.
    return tail_start < len(data) and bool(_MARKUP.search(data, tail_start - 16))


_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Register pillow-heif's opener once, on first use rather than at import."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            # Thumbnails, depth and auxiliary images are never used: skip loading them.
            pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
            _heif_registered = True
