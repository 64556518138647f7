"""Keep a photo's own colour profile, and nothing else that could ride along with it.

An iPhone tags its photos Display P3, a wider gamut than sRGB: converting to sRGB throws
away saturated reds a dermatologist can use, and every browser colour-manages a JPEG
that carries its profile. So the pipeline keeps the profile, but not as uploaded: an ICC
profile is a container of tagged blocks, and a private tag can hold anything (a maker's
notes, a serial number, text typed by someone). `clean_profile` rebuilds the profile
from the tags that describe colour only (allow-listed below), clears the header fields
that name a device or a creator, and checks that littlecms still reads the result.

A profile that is not for the pixels' colour space (a CMYK or grey profile on RGB
pixels), not a colour-space, display or input profile, too large, or unreadable
gives None: the caller then converts to sRGB as before.
"""

from __future__ import annotations

import functools
import io
import struct

from PIL import ImageCms

MAX_PROFILE_BYTES = 512 * 1024
_HEADER = 128
# Colour-describing tags (ICC.1:2022 section 9): white and black points, primaries,
# tone curves, chromatic adaptation, colourant LUTs, the gamut tag and the name shown
# by image viewers. Everything else (device descriptions, measurement, viewing
# conditions, calibration dates, private tags) is dropped.
_KEPT_TAGS = frozenset({
    b"desc", b"cprt", b"wtpt", b"bkpt", b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC",
    b"bTRC", b"kTRC", b"chad", b"chrm", b"lumi", b"A2B0", b"A2B1", b"A2B2", b"B2A0",
    b"B2A1", b"B2A2", b"gamt", b"cicp",
})
_CLASSES = frozenset({b"mntr", b"scnr", b"spac"})
_SPACES = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY"}


def kept_tags() -> frozenset[bytes]:
    return _KEPT_TAGS


@functools.lru_cache(maxsize=32)
def clean_profile(icc: bytes, mode: str) -> bytes | None:
    """The profile rebuilt from its colour tags only, for pixels of `mode`, or None."""
    space = _SPACES.get(mode)
    if space is None or not _HEADER + 4 <= len(icc) <= MAX_PROFILE_BYTES:
        return None
    header = bytearray(icc[:_HEADER])
    if header[36:40] != b"acsp" or bytes(header[12:16]) not in _CLASSES:
        return None
    if bytes(header[16:20]) != space:
        return None
    count = struct.unpack(">I", icc[_HEADER:_HEADER + 4])[0]
    table_end = _HEADER + 4 + 12 * count
    if count > 100 or table_end > len(icc):
        return None
    entries: list[tuple[bytes, int, int]] = []
    for i in range(count):
        at = _HEADER + 4 + 12 * i
        signature = icc[at:at + 4]
        offset, size = struct.unpack(">II", icc[at + 4:at + 12])
        if signature in _KEPT_TAGS:
            if offset < table_end or size < 8 or offset + size > len(icc):
                return None
            entries.append((signature, offset, size))
    if not entries:
        return None
    data_start = _HEADER + 4 + 12 * len(entries)
    body = bytearray()
    placed: dict[tuple[int, int], int] = {}  # tags may share one block (e.g. r/g/bTRC)
    table = bytearray()
    for signature, offset, size in entries:
        where = placed.get((offset, size))
        if where is None:
            where = data_start + len(body)
            placed[(offset, size)] = where
            body += icc[offset:offset + size]
            body += b"\x00" * (-len(body) % 4)
        table += signature + struct.pack(">II", where, size)
    # Header: keep the colour fields (version, class, spaces, PCS, rendering intent,
    # illuminant); clear CMM, date, platform, flags, device maker/model/attributes,
    # creator and the profile id (an MD5 of the old bytes).
    header[4:8] = b"\x00" * 4
    header[24:36] = b"\x00" * 12
    header[40:48] = b"\x00" * 8
    header[48:64] = b"\x00" * 16
    header[80:84] = b"\x00" * 4
    header[84:128] = b"\x00" * 44
    total = data_start + len(body)
    header[0:4] = struct.pack(">I", total)
    out = bytes(header) + struct.pack(">I", len(entries)) + bytes(table) + bytes(body)
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(out))
        ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return out


def profile_description(icc: bytes) -> str:
    """The name a viewer shows for the profile ("Display P3"); "" when unreadable."""
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return ""


def tag_signatures(icc: bytes) -> list[bytes]:
    """The tag signatures in a profile's tag table (for tests and `images verify`)."""
    count = struct.unpack(">I", icc[_HEADER:_HEADER + 4])[0]
    return [icc[_HEADER + 4 + 12 * i:_HEADER + 8 + 12 * i] for i in range(count)]
