"""PDF attachments: what is refused, what is stripped, and that what is kept reopens inert."""

from __future__ import annotations

import io
import json
import pickle
import re
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from econsult import errors
from econsult.images.pdf import (
    MAX_DECODED_STREAM_BYTES,
    PdfRejected,
    SanitisedPdf,
    sanitise_pdf,
)
from tests.images import pdf_factories as f

MAX_BYTES = 25_000_000
ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"/JavaScript", "/JS", "/Launch", "/EmbeddedFiles", "/EmbeddedFile"}
_NAME = re.compile(rb"/(?:[^\x00\t\n\x0c\r ()<>\[\]{}/%#]|#[0-9A-Fa-f]{2})*")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def sanitise(data: bytes, *, max_bytes: int = MAX_BYTES, **limits: int) -> SanitisedPdf:
    result = sanitise_pdf(data, max_bytes=max_bytes, **limits)
    assert_inert(result.content)
    return result


def rejected(data: bytes, *, max_bytes: int = MAX_BYTES, **limits: int) -> PdfRejected:
    with pytest.raises(PdfRejected) as info:
        sanitise_pdf(data, max_bytes=max_bytes, **limits)
    assert info.value.field == "attachments"
    assert info.value.message.endswith(".")
    return info.value


def names_in_bytes(data: bytes) -> set[str]:
    """Every PDF name token in `data`, #-escapes decoded: /J#61vaScript is /JavaScript."""
    return {
        _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), token).decode("latin-1")
        for token in _NAME.findall(data)
    }


def names_in_objects(pdf: pikepdf.Pdf) -> set[str]:
    """Every name used as a key or a value in any object of `pdf`."""
    found: set[str] = set()
    stack: list[pikepdf.Object] = [*pdf.objects, pdf.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, Name):
            found.add(str(obj))
            continue
        if isinstance(obj, Dictionary | pikepdf.Stream):
            found.update(obj.keys())
            children = [obj[key] for key in obj.keys()]
        elif isinstance(obj, Array):
            children = list(obj)
        else:
            continue
        stack.extend(
            child
            for child in children
            if isinstance(child, Name | Dictionary | Array | pikepdf.Stream)
            and not child.is_indirect  # indirect ones are in pdf.objects already
        )
    return found


def expanded(content: bytes) -> bytes:
    """`content` rewritten with no object streams and every stream decoded, so a byte scan
    sees every name and string."""
    with pikepdf.open(io.BytesIO(content)) as pdf:
        return f.saved(
            pdf,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.generalized,
        )


def assert_inert(content: bytes, *, expand: bool = True, scan_bytes: bool = True) -> None:
    with pikepdf.open(io.BytesIO(content)) as pdf:
        assert not pdf.is_encrypted
        assert not names_in_objects(pdf) & FORBIDDEN
    if not scan_bytes:
        return
    assert not names_in_bytes(content) & FORBIDDEN
    # A fresh file: one cross-reference section, no incremental update keeping old objects.
    assert content.count(b"startxref") == 1
    if expand:
        plain = expanded(content)
        assert not names_in_bytes(plain) & FORBIDDEN
        assert f.SCRIPT.encode() not in plain
        assert f.PAYLOAD not in plain


def page_contents(content: bytes) -> list[bytes]:
    with pikepdf.open(io.BytesIO(content)) as pdf:
        return [page.Contents.read_bytes() for page in pdf.pages]


# --- what is kept ----------------------------------------------------------------------


def test_benign_report_keeps_its_pages_text_and_links() -> None:
    data = f.benign(3)
    result = sanitise(data)
    assert (result.pages, result.removed, result.repaired) == (3, (), False)
    assert result.original_size == len(data)
    assert page_contents(result.content) == [f.page_text(n) for n in (1, 2, 3)]
    with (
        pikepdf.open(io.BytesIO(result.content)) as pdf,
        pikepdf.open(io.BytesIO(data)) as original,
    ):
        assert len(pdf.pages) == len(original.pages) == 3
        for page, before in zip(pdf.pages, original.pages, strict=True):
            assert len(page.Contents.read_raw_bytes()) == len(before.Contents.read_raw_bytes())
        web, internal = pdf.pages[0].obj.Annots
        assert web.A.S == Name.URI and str(web.A.URI) == f.WEB_LINK
        assert internal.A.S == Name.GoTo
        assert internal.A.D[0].objgen == pdf.pages[2].obj.objgen


@pytest.mark.parametrize(
    "uri, kept",
    [
        ("https://example.org/ranges", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("mailto:lab@example.org", True),
        ("javascript:alert(1)", False),
        ("  JavaScript:alert(1)", False),
        ("file:///C:/Windows/System32/calc.exe", False),
        ("\\\\attacker.example\\share\\x", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("reference.pdf", False),
    ],
)
def test_only_web_and_mail_links_are_kept(uri: str, kept: bool) -> None:
    data = f.hostile(lambda pdf: f.add_annotation(pdf, f.link(Dictionary(S=Name.URI, URI=uri))))
    result = sanitise(data)
    with pikepdf.open(io.BytesIO(result.content)) as pdf:
        annotations = pdf.pages[0].obj.Annots
        assert len(annotations) == 3  # the link stays; only its action may go
        assert ("/A" in annotations[2]) is kept
    assert ("non-web link" in result.removed) is not kept


def test_form_widgets_outside_any_form_are_kept_without_their_actions() -> None:
    submit = Dictionary(S=Name.SubmitForm, F=String("https://collect.example/"))
    widget = Dictionary(
        Type=Name.Annot, Subtype=Name.Widget, FT=Name.Btn, Rect=Array([0, 0, 50, 20]), A=submit
    )
    # pikepdf warns when it saves such widgets; the error filter must not decide the outcome.
    result = sanitise(f.hostile(lambda pdf: f.add_annotation(pdf, widget)))
    assert result.removed == ("form submit action",)
    with pikepdf.open(io.BytesIO(result.content)) as pdf:
        assert pdf.pages[0].obj.Annots[2].Subtype == Name.Widget


# --- what is stripped ------------------------------------------------------------------


def _open_action(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = f.script(pdf)


def _names_tree(pdf: pikepdf.Pdf) -> None:
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("init"), f.script(pdf)])))


def _document_aa(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AA = Dictionary(WC=f.script(pdf))


def _page_aa(pdf: pikepdf.Pdf) -> None:
    pdf.pages[1].obj.AA = Dictionary(O=Dictionary(S=Name.JavaScript, JS=String(f.SCRIPT)))


def _annotation_action(pdf: pikepdf.Pdf) -> None:
    f.add_annotation(pdf, f.link(f.script(pdf)))


def _annotation_aa(pdf: pikepdf.Pdf) -> None:
    square = Dictionary(Type=Name.Annot, Subtype=Name.Square, Rect=Array([0, 0, 9, 9]))
    square.AA = Dictionary(E=Dictionary(S=Name.JavaScript, JS=pdf.make_stream(f.SCRIPT.encode())))
    f.add_annotation(pdf, square)


def _chained_after_goto(pdf: pikepdf.Pdf) -> None:
    goto = Dictionary(S=Name.GoTo, D=Array([pdf.pages[0].obj, Name.Fit]), Next=f.script(pdf))
    f.add_annotation(pdf, f.link(goto))


def _outline_item(pdf: pikepdf.Pdf) -> None:
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
    item = pdf.make_indirect(Dictionary(Title=String("Results"), Parent=outlines, A=f.script(pdf)))
    outlines.First = outlines.Last = item
    pdf.Root.Outlines = outlines


def _launch(pdf: pikepdf.Pdf) -> None:
    win = Dictionary(F=String("cmd.exe"), P=String("/c calc"))
    f.add_annotation(pdf, f.link(Dictionary(S=Name.Launch, F=String("cmd.exe"), Win=win)))


def _under_an_odd_key(pdf: pikepdf.Pdf) -> None:
    pdf.docinfo.Extra = Dictionary(Nested=Array([Dictionary(S=Name.Launch, F=String("calc"))]))


def _bare_keys(pdf: pikepdf.Pdf) -> None:
    page = pdf.pages[2].obj
    page.JS = String(f.SCRIPT)
    page.Launch = String("calc.exe")


def _file_under_an_odd_key(pdf: pikepdf.Pdf) -> None:
    pdf.docinfo.Attached = f.file_spec(pdf)


def _file_stream_under_an_odd_key(pdf: pikepdf.Pdf) -> None:
    pdf.docinfo.Blob = pdf.make_stream(f.PAYLOAD, Type=Name.EmbeddedFile)


def _in_the_trailer(pdf: pikepdf.Pdf) -> None:
    pdf.trailer.Extra = Dictionary(S=Name.JavaScript, JS=String(f.SCRIPT))


def _embedded_file(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["evil.exe"] = pikepdf.AttachedFileSpec(pdf, f.PAYLOAD, filename="evil.exe")


def _file_attachment(pdf: pikepdf.Pdf) -> None:
    pin = Dictionary(
        Type=Name.Annot, Subtype=Name.FileAttachment, Rect=Array([0, 0, 9, 9]), FS=f.file_spec(pdf)
    )
    f.add_annotation(pdf, pin)


def _xfa(pdf: pikepdf.Pdf) -> None:
    template = pdf.make_stream(b"<template><script>" + f.SCRIPT.encode() + b"</script></template>")
    pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=Array([String("template"), template]))


@pytest.mark.parametrize(
    "change, label",
    [
        (_open_action, "JavaScript"),
        (_names_tree, "JavaScript"),
        (_document_aa, "JavaScript"),
        (_page_aa, "JavaScript"),
        (_annotation_action, "JavaScript"),
        (_annotation_aa, "JavaScript"),
        (_chained_after_goto, "JavaScript"),
        (_outline_item, "JavaScript"),
        (_launch, "launch action"),
        (_under_an_odd_key, "launch action"),
        (_in_the_trailer, "JavaScript"),
        (_bare_keys, "JavaScript"),
        (_bare_keys, "launch action"),
        (_file_under_an_odd_key, "embedded file"),
        (_file_stream_under_an_odd_key, "embedded file"),
        (_embedded_file, "embedded file"),
        (_file_attachment, "embedded file"),
        (_xfa, "XFA form"),
    ],
    ids=lambda value: getattr(value, "__name__", "").strip("_") or None,
)
def test_active_content_is_removed(change: Callable[[pikepdf.Pdf], None], label: str) -> None:
    data = f.hostile(change)
    result = sanitise(data)  # checks the output: no script, payload or forbidden name
    assert label in result.removed
    assert result.pages == 3
    assert page_contents(result.content) == [f.page_text(n) for n in (1, 2, 3)]


def test_the_well_known_places_are_emptied() -> None:
    def everything(pdf: pikepdf.Pdf) -> None:
        for change in (_open_action, _names_tree, _document_aa, _page_aa, _xfa, _file_attachment):
            change(pdf)

    with pikepdf.open(io.BytesIO(sanitise(f.hostile(everything)).content)) as pdf:
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        assert "/JavaScript" not in pdf.Root.Names
        assert "/AA" not in pdf.pages[1].obj
        assert "/XFA" not in pdf.Root.AcroForm
        subtypes = [annotation.Subtype for annotation in pdf.pages[0].obj.Annots]
        assert subtypes == [Name.Link, Name.Link]  # the file attachment pin is gone


@pytest.mark.parametrize(
    "kind, label",
    [
        ("SubmitForm", "form submit action"),
        ("ImportData", "form import action"),
        ("ResetForm", "form reset action"),
        ("GoToR", "link to another file"),
        ("GoToE", "link to an embedded file"),
        ("Rendition", "multimedia"),
        ("Sound", "multimedia"),
        ("Movie", "multimedia"),
        ("Named", "other action"),
        ("NoSuchAction", None),  # unknown types go too (allow-list), unreported
    ],
)
def test_every_action_but_goto_and_web_links_is_removed(kind: str, label: str | None) -> None:
    action = Dictionary(S=Name("/" + kind), F=String("other.pdf"))
    result = sanitise(f.hostile(lambda pdf: f.add_annotation(pdf, f.link(action))))
    assert result.removed == ((label,) if label else ())
    with pikepdf.open(io.BytesIO(result.content)) as pdf:
        assert "/A" not in pdf.pages[0].obj.Annots[2]
        assert "/" + kind not in names_in_objects(pdf)


def test_objects_nothing_refers_to_are_walked_and_dropped() -> None:
    orphan = b"<< /S /JavaScript /JS (%s) >>" % f.SCRIPT.encode()
    data = f.raw_pdf([f.CATALOG, f.PAGES, f.PAGE, orphan])
    assert sanitise(data).removed == ("JavaScript",)


def test_old_revisions_left_by_an_incremental_update_are_not_kept() -> None:
    scripted = b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (%s) >> >>"
    base = f.raw_pdf([scripted % f.SCRIPT.encode(), f.PAGES, f.PAGE])
    data = f.incremental_update(base, {1: f.CATALOG})
    assert f.SCRIPT.encode() in data and data.count(b"startxref") == 2
    result = sanitise(data)  # checks the script is not in the output, one xref section
    assert result.removed == ()  # the current revision never had it


def test_hex_escaped_names_are_recognised() -> None:
    data = f.hex_escaped_script()
    assert b"/J#61vaScript" in data and b"/JavaScript" not in data and b"/Launch" not in data
    result = sanitise(data)
    assert set(result.removed) == {"JavaScript", "launch action", "embedded file"}


# --- encryption ------------------------------------------------------------------------


def test_user_password_is_refused_and_the_message_says_so() -> None:
    data = f.saved(f.report(), encryption=pikepdf.Encryption(user="clinic", owner="secret"))
    error = rejected(data)
    assert error.code == "encrypted"
    assert "password" in error.message


@pytest.mark.parametrize("revision", [4, 6])
def test_owner_password_only_is_accepted_and_its_encryption_removed(
    revision: Literal[4, 6],
) -> None:
    lock = pikepdf.Encryption(
        user="", owner="secret", R=revision, allow=pikepdf.Permissions(extract=False)
    )
    data = f.saved(f.report(), encryption=lock)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.is_encrypted  # the fixture is what it claims to be
    result = sanitise(data)  # checks the output is not encrypted
    assert result.removed == ("copy and print restrictions",)
    assert page_contents(result.content) == [f.page_text(n) for n in (1, 2, 3)]


# --- size and page limits --------------------------------------------------------------


@pytest.fixture(scope="module")
def ten_thousand_pages() -> bytes:
    return f.many_pages(10_000)


def test_ten_thousand_pages_are_refused_from_the_page_tree_count(
    ten_thousand_pages: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_walk(pdf: pikepdf.Pdf) -> None:
        raise AssertionError("the page list was built")

    monkeypatch.setattr(pikepdf.Pdf, "pages", property(no_walk))
    error = rejected(ten_thousand_pages)
    assert error.code == "too_many_pages"
    assert "10,000 pages" in error.message and "200" in error.message


def test_too_many_pages_are_refused_before_any_walk_of_the_page_tree() -> None:
    # Walking this tree, in Python or inside qpdf, fails with "loop detected".
    assert rejected(f.looped_page_tree(10_000)).code == "too_many_pages"
    assert rejected(f.looped_page_tree(1)).code == "damaged"


def test_a_count_claiming_too_many_pages_is_refused() -> None:
    error = rejected(f.lying_count(10_000, actual=1))
    assert (error.code, "10,000" in error.message) == ("too_many_pages", True)


def test_pages_hidden_behind_a_small_count_are_counted() -> None:
    error = rejected(f.lying_count(1, actual=201))
    assert (error.code, "201 pages" in error.message) == ("too_many_pages", True)


@pytest.mark.parametrize("count", [b"", b"/Count /Many", b"/Count (12)"])
def test_a_missing_or_odd_count_leaves_the_decision_to_the_walk(count: bytes) -> None:
    pages = b"<< /Type /Pages /Kids [3 0 R] %s >>" % count
    assert sanitise(f.raw_pdf([f.CATALOG, pages, f.PAGE])).pages == 1


def test_page_limit_boundary() -> None:
    data = f.benign(3)
    assert sanitise(data, max_pages=3).pages == 3
    assert rejected(data, max_pages=2).code == "too_many_pages"


def test_byte_limit_boundary() -> None:
    data = f.benign(3)
    assert sanitise(data, max_bytes=len(data)).pages == 3
    error = rejected(data, max_bytes=len(data) - 1)
    assert error.code == "too_large"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        sanitise_pdf(f.benign(), max_bytes=0)


# --- decompression bombs ---------------------------------------------------------------


def test_deflated_zeros_is_what_it_says() -> None:
    assert zlib.decompress(f.deflated_zeros(3, b"head")) == b"head" + bytes(3 << 20)


def test_a_content_stream_bomb_is_stored_without_being_inflated() -> None:
    data = f.content_bomb()
    result = sanitise_pdf(data, max_bytes=MAX_BYTES)
    assert_inert(result.content, expand=False)  # expanding would inflate the gigabyte
    assert result.pages == 1
    with pikepdf.open(io.BytesIO(data)) as before, pikepdf.open(io.BytesIO(result.content)) as pdf:
        raw = pdf.pages[0].Contents.read_raw_bytes()
        assert raw == before.pages[0].Contents.read_raw_bytes()
    assert len(result.content) < len(data) + 4096


def test_an_object_stream_bomb_holding_the_catalog_is_refused() -> None:
    # qpdf must inflate it inside pikepdf.open; at the cap its objects are lost.
    assert rejected(f.catalog_bomb()).code == "damaged"


def test_an_object_stream_bomb_elsewhere_is_refused_as_such() -> None:
    error = rejected(f.resources_bomb())
    assert error.code == "decompression_bomb"


def test_qpdf_decoders_are_capped_once_sanitising_has_run() -> None:
    sanitise_pdf(f.benign(), max_bytes=MAX_BYTES)
    limits = pikepdf.settings.get_qpdf_limits()
    assert limits["flate_max_memory"] == MAX_DECODED_STREAM_BYTES


_PEAK_MEMORY = """
import json, resource, sys
from econsult.images.pdf import PdfRejected, sanitise_pdf
from tests.images import pdf_factories
outcomes = {}
for name in sys.argv[1:]:
    try:
        outcomes[name] = sanitise_pdf(getattr(pdf_factories, name)(), max_bytes=10**8).pages
    except PdfRejected as exc:
        outcomes[name] = exc.code
# VmHWM is this process's own peak; on Linux ru_maxrss also counts the parent's peak
# from before exec, which is the whole test run's when pytest has grown large.
try:
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcomes["peak_mib"] = peak_kib // 1024
print(json.dumps(outcomes))
"""


def test_bombs_never_inflate_anywhere_near_their_size() -> None:
    # A fresh process, so the peak resident size is these three files' alone.
    bombs = ["content_bomb", "catalog_bomb", "resources_bomb"]
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, *bombs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    outcomes = json.loads(run.stdout)
    assert [outcomes[name] for name in bombs] == [1, "damaged", "decompression_bomb"]
    assert outcomes["peak_mib"] < 400  # each inflates to 1024 MiB


@pytest.mark.parametrize("spelling", [b"/LZWDecode", b"/LZW", b"/LZ#57Decode", b"/#4c#5a#57Decode"])
def test_lzw_is_refused(spelling: bytes) -> None:
    # qpdf has no memory cap for LZW.
    data = f.raw_pdf(
        [
            f.CATALOG,
            f.PAGES,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] /Contents 4 0 R >>",
            b"<< /Length 0 /Filter %s >>\nstream\n\nendstream" % spelling,
        ]
    )
    assert rejected(data).code == "unsupported_compression"


# --- damaged, truncated, not a PDF ------------------------------------------------------


def test_a_cut_off_upload_is_refused() -> None:
    data = f.benign()
    for cut in (len(data) // 2, len(data) - 8):
        assert rejected(data[:cut]).code == "truncated"


def test_damage_pikepdf_repairs_is_accepted_and_marked() -> None:
    data = f.benign()
    offset = data.rindex(b"startxref\n") + len(b"startxref\n")
    broken = data[:offset] + b"9" + data[offset:]  # the cross-reference table is not there
    result = sanitise(broken)
    assert (result.pages, result.repaired) == (3, True)


def test_damage_beyond_repair_is_refused() -> None:
    assert rejected(b"%PDF-1.7\n" + b"not an object " * 50 + b"\n%%EOF\n").code == "damaged"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 150, 130)).save(out, "JPEG")
    return out.getvalue()


def _zip(member: bytes, compression: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        archive.writestr("report.pdf", member)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, code, words",
    [
        (b"", "empty", "empty"),
        (b"<!DOCTYPE html><html><body>Potassium 4.1</body></html>", "not_pdf", "web page"),
        (_jpeg(), "not_pdf", "photo"),
        (_zip(f.benign(), zipfile.ZIP_DEFLATED), "not_pdf", "ZIP"),
        (b"Potassium 4.1 mmol/L\n", "not_pdf", "not a PDF"),
    ],
)
def test_files_that_are_not_pdfs_are_refused(data: bytes, code: str, words: str) -> None:
    error = rejected(data)
    assert error.code == code
    assert words in error.message


@pytest.mark.parametrize(
    "data, other",
    [
        (_jpeg() + f.benign(), "JPEG"),
        (b"<html><body><script>alert(1)</script>\n" + f.benign(), "web page"),
        (f.benign() + _zip(b"payload", zipfile.ZIP_DEFLATED), "ZIP"),
        (_zip(f.benign(), zipfile.ZIP_STORED), "ZIP"),
    ],
    ids=["jpeg-then-pdf", "html-then-pdf", "pdf-then-zip", "pdf-inside-zip"],
)
def test_polyglots_are_refused(data: bytes, other: str) -> None:
    assert b"%PDF-" in data[:1024]
    error = rejected(data)
    assert error.code == "suspicious_content"
    assert other in error.message


@pytest.mark.parametrize("junk", [b"\r\n\r\n", b"@PJL JOB NAME=lab\n"])
def test_leading_junk_that_is_no_other_format_is_accepted(junk: bytes) -> None:
    assert sanitise(junk + f.benign()).pages == 3


# --- the error and the result cross a process pool --------------------------------------


def test_errors_and_results_pickle() -> None:
    error = rejected(b"")
    assert isinstance(error, errors.InvalidInput)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.field) == (error.code, error.message, "attachments")
    result = sanitise(f.benign())
    assert pickle.loads(pickle.dumps(result)) == result


# --- fuzz ------------------------------------------------------------------------------


def _fuzz_seed() -> bytes:
    """A hostile report with uncompressed streams, so mutations land in readable syntax."""

    def change(pdf: pikepdf.Pdf) -> None:
        for hostile in (_open_action, _launch, _embedded_file, _page_aa):
            hostile(pdf)

    pdf = f.report(2)
    change(pdf)
    return f.saved(pdf, compress_streams=False)


FUZZ_SEED = _fuzz_seed()
_edit = st.tuples(st.integers(0, len(FUZZ_SEED) - 1), st.binary(min_size=0, max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit, min_size=1, max_size=6))
def test_mutated_pdfs_raise_only_domain_errors(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(FUZZ_SEED)
    for position, replacement in edits:
        # Overwrite as many bytes as the replacement has; an empty one deletes a byte.
        data[position : position + max(len(replacement), 1)] = replacement
    try:
        result = sanitise_pdf(bytes(data), max_bytes=MAX_BYTES)
    except PdfRejected:
        return
    # Objects only: a mutation can write "/JavaScript" into a string or a content stream,
    # where it is text or a drawing operand that no reader acts on.
    assert_inert(result.content, scan_bytes=False)
