"""Images generated for the image tests: skin-like photos and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from econsult.images.icc import kept_tags, tag_signatures

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "images"
if not TESTDATA.exists():  # the repo at /work/main, shared data at /work/shared
    TESTDATA = Path("/work/shared/testdata/images")


def skin_texture(width: int = 1600, height: int = 1200, seed: int = 7) -> Image.Image:
    """A sharp, skin-like RGB photo: tone, soft shading, pores, fine lines, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 0.85 + 0.15 * np.sin(xx / width * 2.5) * np.cos(yy / height * 1.7)
    lum = np.full((height, width), 1.0, np.float32) * shade
    # Pores: small dark dots, 1-2 px.
    n = width * height // 60
    py, px = rng.integers(1, height - 1, n), rng.integers(1, width - 1, n)
    depth = rng.uniform(0.08, 0.25, n).astype(np.float32)
    for dy, dx, w in ((0, 0, 1.0), (0, 1, 0.5), (1, 0, 0.5), (0, -1, 0.5), (-1, 0, 0.5)):
        np.subtract.at(lum, (py + dy, px + dx), depth * w)
    # Fine lines (skin creases) across the frame.
    for _ in range(40):
        y0, slope = rng.uniform(0, height), rng.uniform(-0.4, 0.4)
        ys = (y0 + slope * np.arange(width)).astype(int)
        ok = (ys >= 0) & (ys < height)
        lum[ys[ok], np.arange(width)[ok]] -= 0.12
    lum += rng.normal(0, 0.02, lum.shape).astype(np.float32)
    tone = np.array([205, 155, 135], np.float32)
    rgb = np.clip(lum[..., None] * tone, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def blurred(im: Image.Image, radius: float) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(radius))


def scaled_brightness(im: Image.Image, factor: float, offset: float = 0.0) -> Image.Image:
    a = np.asarray(im, dtype=np.float32) * factor + offset
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), im.mode)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def asymmetric_pattern(width: int = 60, height: int = 40) -> Image.Image:
    """An RGB picture where every flip and rotation gives a different, checkable result."""
    a = np.zeros((height, width, 3), np.uint8)
    a[: height // 2, : width // 3] = (255, 0, 0)  # red: top-left block
    a[height // 2 :, width // 3 : 2 * width // 3] = (0, 255, 0)  # green: bottom-middle
    a[: height // 4, 2 * width // 3 :] = (0, 0, 255)  # blue: top-right strip
    return Image.fromarray(a, "RGB")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height 8-bit gray pixels (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # A little compressed zero data: a real bomb would deflate to width*height bytes.
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + (png_chunk(b"IEND", b""))
    )


def jpeg_segments(data: bytes) -> list[bytes]:
    """Marker names (e.g. b'\\xff\\xe1') of the JPEG header segments before the scan."""
    return [marker for marker, _ in jpeg_segment_payloads(data)]


def jpeg_segment_payloads(data: bytes) -> list[tuple[bytes, bytes]]:
    """(marker, payload) of the JPEG header segments before the scan."""
    segments, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i : i + 2]
        if marker == b"\xff\xda":
            segments.append((marker, b""))
            break
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segments.append((marker, data[i + 4 : i + 2 + length]))
        i += 2 + length
    return segments


def png_chunks(data: bytes) -> list[bytes]:
    kinds, i = [], 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kinds.append(data[i + 4 : i + 8])
        i += 12 + length
    return kinds


# SOI, JFIF APP0, quantisation and Huffman tables, frame header, start of scan, and
# APP2 for the ICC profile only (checked below).
_ALLOWED_JPEG_MARKERS = {
    b"\xff\xd8",
    b"\xff\xe0",
    b"\xff\xe2",
    b"\xff\xdb",
    b"\xff\xc0",
    b"\xff\xc4",
    b"\xff\xda",
}


def assert_no_metadata(content: bytes, content_type: str) -> None:
    """Nothing but pixels and, at most, a colour profile rebuilt from colour tags only."""
    if content_type == "image/jpeg":
        segments = jpeg_segment_payloads(content)
        assert {m for m, _ in segments} <= _ALLOWED_JPEG_MARKERS  # no APP1/13, no COM
        for marker, payload in segments:
            if marker == b"\xff\xe2":
                assert payload.startswith(b"ICC_PROFILE\x00")  # APP2 only as ICC (no MPF)
    else:
        assert set(png_chunks(content)) <= {b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS",
                                            b"iCCP"}
    with Image.open(io.BytesIO(content)) as im:
        assert not im.getexif()
        assert "xmp" not in im.info and "exif" not in im.info
        icc = im.info.get("icc_profile")
        if icc:
            assert set(tag_signatures(icc)) <= kept_tags()
            assert icc[48:56] == b"\x00" * 8 and icc[80:100] == b"\x00" * 20  # no device
