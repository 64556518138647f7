"""The frame header of a JPEG, read without decoding it: what DICOM needs to carry the
JPEG as it is (JPEG Baseline, Process 1), and a refusal for anything it cannot."""

from __future__ import annotations

from typing import NamedTuple

from econsult.errors import InvalidInput


class JpegFrame(NamedTuple):
    width: int
    height: int
    components: int


def jpeg_frame(data: bytes) -> JpegFrame:
    """Read the frame header; refuse what JPEG Baseline (Process 1) cannot carry."""
    if not data.startswith(b"\xff\xd8\xff"):
        raise InvalidInput("The photo is not a JPEG.", field="image")
    if not data.endswith(b"\xff\xd9"):  # what we serve ends at its End Of Image marker
        raise InvalidInput("The JPEG is truncated.", field="image")
    pos, sof, adobe_transform = 2, b"", None
    while True:  # walk the header segments up to the start of scan
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise InvalidInput("The JPEG is damaged.", field="image")
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        segment = data[pos + 4:pos + 2 + length]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if marker != 0xC0 or segment[:1] != b"\x08":
                raise InvalidInput("Only baseline 8-bit JPEGs can be exported to DICOM.",
                                   field="image")
            sof = segment
        elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
            adobe_transform = segment[11]
        pos += 2 + max(length, 2)
    components = sof[5] if len(sof) >= 6 else 0
    if len(sof) < 6 + 3 * components:
        raise InvalidInput("The JPEG is damaged.", field="image")
    ids = bytes(sof[6 + 3 * i] for i in range(components))
    if components == 3 and (adobe_transform == 0 or (adobe_transform is None and ids == b"RGB")):
        # RGB-coded JPEG: a VL image may only be YBR_FULL_422 here, and we do not re-encode.
        raise InvalidInput("This JPEG stores RGB, not YCbCr; DICOM VL photos need YCbCr.",
                           field="image")
    if components not in (1, 3):
        raise InvalidInput("Only greyscale or colour JPEGs can be exported (not CMYK).",
                           field="image")
    return JpegFrame(int.from_bytes(sof[3:5], "big"), int.from_bytes(sof[1:3], "big"), components)
