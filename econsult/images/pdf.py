"""Check a PDF attachment and rewrite it without anything that can act: `sanitise_pdf`.

Order: byte checks (size, header, polyglots, cut-off uploads, LZW) -> open with pikepdf
-> page count from the page tree's /Count (no page walk for a 10,000-page file) -> strip
active content (pdf_active.py) -> save a fresh, unencrypted file. CPU-bound and blocking:
request paths run it in the image worker pool, so it takes bytes and returns a frozen,
picklable dataclass.

Decisions:
- Passwords: we open with the empty password only, as a reader does when nobody types
  one; pikepdf.open does not go through QPDFJob, so qpdf never tries other passwords or
  re-encodings of one. A file that needs a user password is refused. A file with only an
  owner password ("permissions": no printing, no copying) opens that way and is accepted,
  saved without its encryption and reported in `removed`: lab portals issue such PDFs
  routinely, the rewrite needs the decrypted objects anyway, an unencrypted result is
  what lets us (and tests) check that nothing active survived, and the stored copy is
  encrypted at rest by the blob store.
- Damage: a file pikepdf opens by repairing it (bad cross-reference offsets, wrong stream
  lengths) is accepted and marked `repaired`; one it cannot open is refused. A file with
  no end-of-file marker in its last 1 KiB is refused as cut off before pikepdf sees it:
  qpdf would rebuild it from the objects that arrived and we would store a PDF missing
  its last pages without anyone noticing.
- Decompression bombs: stream contents are never decoded (the file is saved with
  StreamDecodeLevel.none and no recompression, so streams are copied as they are). qpdf must
  decode cross-reference and object streams, some of them inside pikepdf.open before we
  see any object; its only bound for that is a process-wide limit, set on first use (see
  _bound_qpdf_decoders). qpdf has no such limit for LZW, so files naming the LZW filter
  are refused; PDF writers moved from LZW to Flate in the late 1990s.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass, field

import pikepdf

from econsult import errors

from .pdf_active import strip_active_content

DEFAULT_MAX_PAGES = 200
# Generous for what qpdf decodes on its own (cross-reference and object streams of a file
# of at most tens of MB) and for any other pikepdf use in the process.
MAX_DECODED_STREAM_BYTES = 64 * 1024 * 1024

_RESEND = "Please save or print it as a new PDF and attach that."
_HEADER_WINDOW = 1024  # readers accept %PDF- anywhere in the first 1 KiB, and %%EOF in the last
_ZIP_TAIL = 64 * 1024 + 22  # a ZIP's end record sits in its last 64 KiB + 22 bytes
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "a JPEG photo"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"MZ", "a program"),
    (b"\x7fELF", "a program"),
)
_MARKUP = re.compile(rb"<(?:!doctype|html|head|body|script|iframe|svg|\?xml|\?php)", re.I)
# /LZWDecode or qpdf's accepted abbreviation /LZW, each letter possibly #-escaped.
_LZW = re.compile(
    rb"/(?:L|#4[cC])(?:Z|#5[aA])(?:W|#57)(?:(?:D|#44)(?:e|#65)(?:c|#63)(?:o|#6[fF])"
    rb"(?:d|#64)(?:e|#65)|(?=[\s()<>\[\]{}/%]))"
)
_LIMIT_HIT = "memory limit exceeded"  # qpdf's words when a decoder reaches its cap
_FAILURES = (pikepdf.PikepdfError, RuntimeError, ValueError, TypeError, KeyError, IndexError)


class PdfRejected(errors.InvalidInput):
    """The attachment is not a PDF we can store; `message` is written for the GP.

    An InvalidInput (400) like ImageRejected, so one error table covers photos and PDFs.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, field="attachments")

    def __reduce__(self) -> tuple[type[PdfRejected], tuple[str, str]]:
        # A process pool must be able to send it back to the parent (see ImageRejected).
        return (PdfRejected, (self.code, self.message))

    def __repr__(self) -> str:
        return f"PdfRejected({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class SanitisedPdf:
    content: bytes = field(repr=False)
    pages: int
    removed: tuple[str, ...]  # what was stripped, for the GP: "JavaScript", "embedded file"
    original_size: int
    repaired: bool  # pikepdf had to repair the file to read it


def sanitise_pdf(
    data: bytes, *, max_bytes: int, max_pages: int = DEFAULT_MAX_PAGES
) -> SanitisedPdf:
    """Refuse (PdfRejected) or return a rewritten PDF with no active content."""
    if max_bytes < 1 or max_pages < 1:
        raise ValueError(f"max_bytes and max_pages must be positive: {max_bytes}, {max_pages}")
    check_bytes(data, max_bytes=max_bytes)
    _bound_qpdf_decoders()
    pdf = _open(data)
    try:
        pages = _count_pages(pdf, max_pages)
        removed = strip_active_content(pdf)
        if pdf.is_encrypted:
            removed.add("copy and print restrictions")
        content = _save(pdf)
        repairs = pdf.get_warnings()
    except _FAILURES as exc:
        raise _rejected("decompression_bomb" if _LIMIT_HIT in str(exc) else "damaged") from None
    finally:
        pdf.close()
    # qpdf reports an object stream it stopped inflating as a warning and reads the
    # objects in it as null; a file built like that is refused, not stored half-empty.
    if any(_LIMIT_HIT in repair for repair in repairs):
        raise _rejected("decompression_bomb")
    return SanitisedPdf(content, pages, tuple(sorted(removed)), len(data), bool(repairs))


def check_bytes(data: bytes, *, max_bytes: int) -> None:
    """The checks that need no PDF parser: size, header, other formats, cut-off uploads."""
    if not data:
        raise _rejected("empty")
    if len(data) > max_bytes:
        raise PdfRejected(
            "too_large",
            f"The PDF is too large ({_megabytes(len(data))}); the limit is "
            f"{_megabytes(max_bytes)}. Please attach only the pages the specialist needs.",
        )
    start = data.find(b"%PDF-", 0, _HEADER_WINDOW)
    if start < 0:
        raise PdfRejected("not_pdf", f"{_describe(data)} Please attach a PDF document.")
    other = _other_format(data, start)
    if other:
        raise PdfRejected(
            "suspicious_content",
            f"The file is both a PDF and {other}, which is how harmful files are disguised. "
            f"{_RESEND}",
        )
    if b"%%EOF" not in data[-_HEADER_WINDOW:]:
        raise _rejected("truncated")
    if _LZW.search(data):
        raise PdfRejected(
            "unsupported_compression",
            f"The PDF uses an old kind of compression (LZW) that we do not accept. {_RESEND}",
        )


def _other_format(data: bytes, start: int) -> str | None:
    prefix = data[:start]
    for magic, name in _OTHER_FORMATS:
        if prefix.startswith(magic):
            return name
    if prefix[4:8] == b"ftyp":
        return "a photo or video"
    if _MARKUP.search(prefix) or prefix.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "a web page"
    # ZIP readers start from the end, so an archive appended to a PDF opens as both.
    if b"PK\x05\x06" in data[-_ZIP_TAIL:]:
        return "a ZIP archive"
    return None


def _describe(data: bytes) -> str:
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            picture = "photo" in name or "image" in name
            hint = " Photos go with the images, not the attachments." if picture else ""
            return f"This file is {name}, not a PDF.{hint}"
    head = data[:_HEADER_WINDOW].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "This file is a web page or XML document, not a PDF."
    return "This file is not a PDF."


_limits_lock = threading.Lock()
_limits_set = False


def _bound_qpdf_decoders() -> None:
    """Cap what one qpdf decoder may output, once per process, unless already capped.

    qpdf's limits are process-wide and read without locking, so they are set once, under a
    lock, before this process's first PDF; a limit another part of the process chose
    (nonzero) is left alone. Unset, a 25 MB object stream may inflate to 25 GB inside
    pikepdf.open. The caps are per decoding stage; a stream may chain at most qpdf's
    default 25 filters.
    """
    global _limits_set
    if _limits_set:
        return
    with _limits_lock:
        if _limits_set:
            return
        current = pikepdf.settings.get_qpdf_limits()

        def cap(name: str) -> int | None:
            return MAX_DECODED_STREAM_BYTES if not current[name] else None

        pikepdf.settings.set_qpdf_limits(
            flate_max_memory=cap("flate_max_memory"),
            run_length_max_memory=cap("run_length_max_memory"),
            png_max_memory=cap("png_max_memory"),
            tiff_max_memory=cap("tiff_max_memory"),
        )
        _limits_set = True


def _open(data: bytes) -> pikepdf.Pdf:
    try:
        return pikepdf.open(
            io.BytesIO(data),
            password="",
            attempt_recovery=True,
            # True would push inherited attributes to every page: a walk of the whole page
            # tree before we have read its /Count.
            inherit_page_attributes=False,
            access_mode=pikepdf.AccessMode.stream,
        )
    except pikepdf.PasswordError:
        raise _rejected("encrypted") from None
    except _FAILURES:
        raise _rejected("damaged") from None


def _count_pages(pdf: pikepdf.Pdf, max_pages: int) -> int:
    tree = pdf.Root.get("/Pages")
    if isinstance(tree, pikepdf.Dictionary):
        try:
            # int(): an int, or a pikepdf.Integer when explicit conversion mode is on.
            declared = int(tree.get("/Count", 0))
        except (TypeError, ValueError):
            declared = 0  # missing or not a number: the walk below decides
        if declared > max_pages:
            raise _too_many_pages(declared, max_pages)
    # /Count may lie; the walk qpdf does here is bounded by the file size, and needed anyway.
    pages = len(pdf.pages)
    if pages > max_pages:
        raise _too_many_pages(pages, max_pages)
    if pages == 0:
        raise PdfRejected("no_pages", f"The PDF has no pages. {_RESEND}")
    return pages


def _save(pdf: pikepdf.Pdf) -> bytes:
    try:
        return _write(pdf)
    except pikepdf.PageCopyWarning:
        # Raised only when warnings are errors (pytest, -W error): form widgets outside the
        # form's field tree, harmless here. Save as the default filters would, so the
        # outcome never depends on the ambient warning filters.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            return _write(pdf)


def _write(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(
        out,
        object_stream_mode=pikepdf.ObjectStreamMode.preserve,
        # Copy streams as they are: decoding would inflate any bomb we were sent. qpdf
        # decodes a chain of filters to recompress it even at decode level none, so
        # streams stored uncompressed stay uncompressed.
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        compress_streams=False,
        encryption=False,
        # True would decode and parse the XMP metadata stream.
        fix_metadata_version=False,
    )
    return out.getvalue()


_MESSAGES = {
    "empty": "The file is empty. Please attach the PDF again.",
    "truncated": "The PDF is incomplete (the upload may have been cut off). Please try again.",
    "damaged": f"The PDF is damaged and cannot be read. {_RESEND}",
    "decompression_bomb": (
        "The PDF contains compressed data that expands to an unreasonable size, so it "
        f"cannot be checked safely. {_RESEND}"
    ),
    "encrypted": (
        "The PDF is protected with a password, so the specialist could not open it. Please "
        "remove the password (open it with the password and save or print a copy without "
        "one) and attach that copy."
    ),
}


def _rejected(code: str) -> PdfRejected:
    return PdfRejected(code, _MESSAGES[code])


def _too_many_pages(pages: int, max_pages: int) -> PdfRejected:
    return PdfRejected(
        "too_many_pages",
        f"The PDF has {pages:,} pages; the limit is {max_pages:,}. "
        "Please attach only the pages the specialist needs.",
    )


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
