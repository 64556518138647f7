"""PDFs built for the PDF tests: a benign report, and the hostile shapes we strip or refuse.

Most are built with pikepdf from the benign report; the ones pikepdf would normalise away
(hex-escaped names, object streams that inflate to a gigabyte) are written byte by byte.
"""

from __future__ import annotations

import io
import re
import warnings
import zlib
from collections.abc import Callable

import pikepdf
from pikepdf import Array, Dictionary, Name, String

# Markers that must not survive sanitising, searched for in the output.
SCRIPT = "app.alert('MARK-SCRIPT')"
PAYLOAD = b"MZ MARK-PAYLOAD embedded program"
WEB_LINK = "https://example.org/reference-ranges"


def page_text(number: int) -> bytes:
    return b"BT /F1 18 Tf 72 720 Td (Page %d: potassium 4.1 mmol/L) Tj ET" % number


def report(pages: int = 3) -> pikepdf.Pdf:
    """A lab-report-like PDF: text on every page, a web link and an internal link."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    )
    for number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=(612, 792))
        page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(page_text(number))
    links = [
        link(Dictionary(S=Name.URI, URI=String(WEB_LINK))),
        link(Dictionary(S=Name.GoTo, D=Array([pdf.pages[-1].obj, Name.Fit]))),
    ]
    pdf.pages[0].obj.Annots = Array([pdf.make_indirect(link) for link in links])
    return pdf


def saved(pdf: pikepdf.Pdf, **options: object) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        # Fixtures with form widgets outside a form are the point of some tests.
        warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
        pdf.save(out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def benign(pages: int = 3) -> bytes:
    return saved(report(pages))


def hostile(change: Callable[[pikepdf.Pdf], None]) -> bytes:
    """The benign report with `change` applied."""
    pdf = report()
    change(pdf)
    return saved(pdf)


def script(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=String(SCRIPT)))


def add_annotation(pdf: pikepdf.Pdf, annotation: Dictionary) -> None:
    pdf.pages[0].obj.Annots.append(pdf.make_indirect(annotation))


def link(action: pikepdf.Object) -> Dictionary:
    return Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array([72, 600, 300, 620]), A=action)


def file_spec(pdf: pikepdf.Pdf) -> Dictionary:
    # Without /Type /EmbeddedFile, which the specification requires and not every writer adds.
    stream = pdf.make_stream(PAYLOAD)
    return Dictionary(Type=Name.Filespec, F=String("evil.exe"), EF=Dictionary(F=stream))


def many_pages(count: int) -> bytes:
    """`count` pages in one flat page tree, sharing one content stream."""
    pdf = pikepdf.new()
    content = pdf.make_stream(b"BT /F1 12 Tf 72 720 Td (page) Tj ET")
    tree = pdf.Root.Pages
    kids = [
        pdf.make_indirect(
            Dictionary(
                Type=Name.Page, Parent=tree, MediaBox=Array([0, 0, 612, 792]), Contents=content
            )
        )
        for _ in range(count)
    ]
    tree.Kids = Array(kids)
    tree.Count = count
    return saved(pdf)


def lying_count(declared: int, actual: int) -> bytes:
    """`actual` pages, while the page tree's /Count claims `declared` (written by hand:
    pikepdf corrects /Count when it saves)."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(actual))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> >>"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, declared),
            *[page] * actual,
        ]
    )


def looped_page_tree(declared: int) -> bytes:
    """A page tree that lists itself among its kids: walking it is an error."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count %d >>" % declared,
            PAGE,
        ]
    )


def deflated_zeros(mebibytes: int, prefix: bytes = b"") -> bytes:
    """`prefix` then `mebibytes` MiB of zero bytes, zlib-compressed, in about 1/1000 the size.

    Compressing a gigabyte takes seconds, so one MiB is compressed after a full flush
    (which makes its deflate blocks independent of what came before) and repeated.
    """
    mib = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    head = compressor.compress(prefix + mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(prefix + mib)
    for _ in range(mebibytes - 1):
        checksum = zlib.adler32(mib, checksum)
    final_empty_block = b"\x03\x00"
    return head + block * (mebibytes - 1) + final_empty_block + checksum.to_bytes(4, "big")


def content_bomb(mebibytes: int = 1024) -> bytes:
    """A page whose content stream inflates to `mebibytes` MiB (zero bytes are whitespace).

    Deflated twice, so that saving with qpdf's default decode level would inflate it (qpdf
    copies a stream deflated once as it is, but decodes and recompresses a filter chain).
    Written by hand: pikepdf, saving, would already take one layer off.
    """
    twice = zlib.compress(deflated_zeros(mebibytes))
    contents = b"<< /Length %d /Filter [/FlateDecode /FlateDecode] >>\nstream\n%s\nendstream" % (
        len(twice),
        twice,
    )
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> "
    return raw_pdf([CATALOG, PAGES, page + b"/Contents 4 0 R >>", contents])


def raw_pdf(objects: list[bytes], *, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A classic PDF written byte for byte: objects numbered from 1, a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


def incremental_update(base: bytes, replaced: dict[int, bytes]) -> bytes:
    """`base` with an update appended that replaces objects, as editors save: the old
    versions stay in the file, unreferenced."""
    start = base.rindex(b"startxref") + len(b"startxref")
    previous = int(base[start:].split()[0])
    size = int(re.findall(rb"/Size (\d+)", base)[-1])
    out = bytearray(base)
    offsets = {}
    for number, body in replaced.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n"
    for number, offset in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n \n" % (number, offset)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\n" % (size, previous)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def hex_escaped_script() -> bytes:
    """JavaScript and Launch actions whose names are spelt with #-escapes."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /J#53 (%s) >> >>"
            % SCRIPT.encode(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> "
            b"/Annots [4 0 R] >>",
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] "
            b"/A << /S /L#61unch /F (calc.exe) >> /Foo /#45mbeddedFile >>",
        ]
    )


def object_stream_pdf(plain: list[bytes], packed: list[bytes], *, padding_mib: int) -> bytes:
    """`plain` objects (numbered from 1; the catalog is 1), then `packed` ones in a compressed
    object stream that ends with `padding_mib` MiB of zeros, found through an xref stream."""
    first_packed = len(plain) + 1
    header = b""
    body = b""
    for number, obj in enumerate(packed, start=first_packed):
        header += b"%d %d " % (number, len(body))
        body += obj + b"\n"
    header += b"\n"
    plain_data = header + body
    data = deflated_zeros(padding_mib, plain_data) if padding_mib else zlib.compress(plain_data)
    stream_number = first_packed + len(packed)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, obj in enumerate(plain, start=1):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    offsets[stream_number] = len(out)
    out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\n" % (
        stream_number,
        len(packed),
        len(header),
        len(data),
    )
    out += b"stream\n" + data + b"\nendstream\nendobj\n"
    xref_number = stream_number + 1
    offsets[xref_number] = len(out)
    rows = [b"\x00" + bytes(4) + b"\xff\xff"]
    for number in range(1, xref_number + 1):
        if first_packed <= number < stream_number:
            index = number - first_packed
            rows.append(b"\x02" + stream_number.to_bytes(4, "big") + index.to_bytes(2, "big"))
        else:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + bytes(2))
    table = b"".join(rows)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\n" % (
        xref_number,
        xref_number + 1,
        len(table),
    )
    out += b"stream\n" + table + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> >>"


def catalog_bomb() -> bytes:
    """The catalog itself sits in an object stream that inflates to 1 GiB."""
    return object_stream_pdf([], [CATALOG, PAGES, PAGE], padding_mib=1024)


def resources_bomb() -> bytes:
    """A page's resources sit in an object stream that inflates to 1 GiB."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources 4 0 R >>"
    return object_stream_pdf([CATALOG, PAGES, page], [b"<< /Font << >> >>"], padding_mib=1024)
