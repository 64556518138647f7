"""Text of a PDF read back from the file itself, with pikepdf: each font's ToUnicode
CMap turns the shown glyph codes back into characters (WeasyPrint writes two-byte
Identity-H codes). Enough to check what a letter says; not a general extractor."""

from __future__ import annotations

import io
import re

import pikepdf

_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_HEX = re.compile(rb"<([0-9a-fA-F]+)>")


def _cmap(font: pikepdf.Object) -> dict[int, str]:
    table: dict[int, str] = {}
    if "/ToUnicode" not in font:
        return table
    data = font.ToUnicode.read_bytes()
    for block in _BFCHAR.findall(data):
        codes = _HEX.findall(block)
        for src, dst in zip(codes[::2], codes[1::2], strict=True):
            table[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in _BFRANGE.findall(data):
        codes = _HEX.findall(block)
        for lo, hi, dst in zip(codes[::3], codes[1::3], codes[2::3], strict=True):
            start = int(dst, 16)
            for n, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                table[code] = chr(start + n)
    return table


def _decode(raw: bytes, cmap: dict[int, str]) -> str:
    return "".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "")
                   for i in range(0, len(raw) - 1, 2))


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page, one line per text-showing operator."""
    pages = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            fonts = {str(name): _cmap(font) for name, font in page.Resources.Font.items()}
            lines, cmap = [], {}
            for instruction in pikepdf.parse_content_stream(page):
                if not isinstance(instruction, pikepdf.ContentStreamInstruction):
                    continue  # an inline image
                operands, operator = instruction.operands, instruction.operator
                if operator == pikepdf.Operator("Tf"):
                    cmap = fonts.get(str(operands[0]), {})
                elif operator == pikepdf.Operator("Tj"):
                    lines.append(_decode(bytes(operands[0]), cmap))
                elif operator == pikepdf.Operator("TJ"):
                    lines.append("".join(_decode(bytes(part), cmap) for part in operands[0]
                                         if isinstance(part, pikepdf.String)))
            pages.append("\n".join(lines))
    return pages


def image_count(pdf: bytes) -> int:
    """Distinct raster images embedded anywhere in the document."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return sum(1 for obj in doc.objects
                   if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image")
