"""Multipart parsing that keeps uploaded files in memory, never in a temp file.

Starlette's `request.form()` spools any file part over 1 MiB to a temporary file: a
patient photo in plaintext on disk, outliving the request if the process dies. This
parser streams the body through python-multipart's push parser and collects file parts
in bytearrays, so every limit is enforced while bytes arrive: Content-Length up front,
then the running body size, the size of each file and field, and the number of each.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from econsult import errors

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

DEFAULT_MAX_FIELDS = 100
DEFAULT_MAX_FIELD_BYTES = 64 * 1024
_MAX_PART_HEADERS = 16
_MAX_HEADER_BYTES = 8 * 1024


class UploadTooLarge(errors.TooLarge):
    """A size limit was exceeded (HTTP 413)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upload_too_large")


class BadUpload(errors.InvalidInput):
    """The body is not an acceptable multipart form (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="bad_upload")


@dataclass(frozen=True)
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else default

    def files_named(self, name: str) -> list[UploadedFile]:
        return [f for f in self.files if f.field_name == name]


async def parse_multipart(
    request: Request,
    *,
    max_file_bytes: int,
    max_files: int,
    max_body_bytes: int,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> ParsedForm:
    """Parse a multipart/form-data body; raises UploadTooLarge or BadUpload."""
    boundary, charset = _boundary_and_charset(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadUpload("The Content-Length header is not a number.")
        if int(declared) > max_body_bytes:
            raise _body_too_large(max_body_bytes)

    collector = _Collector(
        charset=charset,
        max_file_bytes=max_file_bytes,
        max_files=max_files,
        max_fields=max_fields,
        max_field_bytes=max_field_bytes,
    )
    try:
        parser = MultipartParser(
            boundary,
            collector.callbacks(),
            max_header_count=_MAX_PART_HEADERS,
            max_header_size=_MAX_HEADER_BYTES,
        )
    except (MultipartParseError, ValueError) as exc:
        raise BadUpload(f"The form's multipart boundary is invalid: {exc}") from None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body_bytes:  # Content-Length may be absent or a lie
                raise _body_too_large(max_body_bytes)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise BadUpload("The upload is not a well-formed multipart form.") from None
    if not collector.ended:
        raise BadUpload("The upload ended before the form was complete; please try again.")
    return collector.form


def _boundary_and_charset(content_type: str) -> tuple[bytes, str]:
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise BadUpload("Expected a multipart/form-data upload.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadUpload("The multipart upload has no boundary.")
    raw_charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(raw_charset).name
    except LookupError:
        raise BadUpload(f"Unknown character set {raw_charset!r}.") from None
    return boundary, charset


def _body_too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"The upload is larger than the limit of {_mib(limit)}.")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


class _Collector:
    """python-multipart callbacks that build a ParsedForm, enforcing per-part limits."""

    def __init__(
        self,
        *,
        charset: str,
        max_file_bytes: int,
        max_files: int,
        max_fields: int,
        max_field_bytes: int,
    ) -> None:
        self.form = ParsedForm()
        self.ended = False
        self._charset = charset
        self._limits = (max_file_bytes, max_files, max_fields, max_field_bytes)
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._data = bytearray()
        self._is_file = False
        self._name = ""
        self._filename = ""
        self._fields = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        max_file_bytes, max_files, max_fields, _ = self._limits
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise BadUpload("Each part of the form needs a Content-Disposition with a name.")
        self._name = self._decode(options[b"name"])
        self._is_file = b"filename" in options
        if self._is_file:
            self._filename = self._decode(options[b"filename"])
            if len(self.form.files) >= max_files:
                raise UploadTooLarge(f"Too many files: at most {max_files} per upload.")
        else:
            self._fields += 1
            if self._fields > max_fields:
                raise BadUpload(f"Too many form fields: at most {max_fields}.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        max_file_bytes, _, _, max_field_bytes = self._limits
        limit = max_file_bytes if self._is_file else max_field_bytes
        if len(self._data) + (end - start) > limit:
            if self._is_file:
                raise UploadTooLarge(
                    f"The file {self._filename!r} is larger than the limit of {_mib(limit)}."
                )
            raise UploadTooLarge(f"The field {self._name!r} is longer than {_mib(limit)}.")
        self._data += data[start:end]

    def _part_end(self) -> None:
        if self._is_file:
            content_type = self._decode(self._headers.get(b"content-type", b"")).strip()
            self.form.files.append(
                UploadedFile(
                    field_name=self._name,
                    filename=self._filename,
                    content_type=content_type or "application/octet-stream",
                    data=bytes(self._data),
                )
            )
        else:
            self.form.fields.setdefault(self._name, []).append(self._decode(self._data))
        self._data = bytearray()

    def _end(self) -> None:
        self.ended = True

    def _decode(self, raw: bytes | bytearray) -> str:
        try:
            text = bytes(raw).decode(self._charset)
        except UnicodeDecodeError:
            raise BadUpload(f"The form is not valid {self._charset} text.") from None
        if "\x00" in text:  # no database stores it as text (PostgreSQL refuses it)
            raise BadUpload("The form contains a NUL character.")
        return text
