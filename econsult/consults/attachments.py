"""PDF attachments (lab results, letters, ECGs) of a consult or of a message in its thread.

Intake, before the consult's or message's transaction: the count is checked, each file
is sanitised in the worker pool (econsult.images.pdf: refused if it is not a PDF, needs
a password, is over the size or page bound; JavaScript, launch and other actions,
additional actions and embedded files removed), sealed under a fresh data key (envelope
kind "attachment", bound to the attachment's id) and written to the blob store. The row
is added inside the transaction; a blob whose row never commits is removed again here,
or later by `econsult gc`.

Download: the row is read, `may(user, view, consult)` decides (404 for anyone else,
exactly like an unknown id), the view is audited, and only then is the blob decrypted.
The HTTP face serves it only as a download, under a sandboxing CSP.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.views import AttachmentPublic
from econsult.errors import DataCorrupt, InvalidInput, NotFound
from econsult.images.envelope import ATTACHMENT_KIND, ImageIntegrityError, blob_kek_id, open_image
from econsult.images.envelope import seal_image as seal_blob
from econsult.images.formats import ImageRejected
from econsult.images.pdf import PdfRejected, SanitisedPdf, sanitise_pdf
from econsult.images.store import BlobNotFound
from econsult.models import Consult, ConsultAttachment
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 5
PDF_TYPE = "application/pdf"
_TABLE = "consult_attachments"
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]+")


class AttachmentCorrupt(DataCorrupt):
    """The stored attachment cannot be opened: the server's data is damaged (HTTP 500)."""

    code = "attachment_integrity"


@dataclass(frozen=True)
class AttachmentUpload:
    data: bytes
    filename: str


@dataclass(frozen=True)
class StoredAttachment:
    id: str
    filename: str
    pages: int
    size_bytes: int
    original_size: int
    kek_id: str
    removed: tuple[str, ...] = field(default_factory=tuple)

    def public(self) -> AttachmentPublic:
        return AttachmentPublic(self.id, self.filename, self.pages, self.size_bytes,
                                list(self.removed))


@dataclass(frozen=True)
class ServedAttachment:
    content: bytes
    filename: str


def blob_key(attachment_id: str) -> str:
    return f"{attachment_id}.{ATTACHMENT_KIND}"


def check_count(uploads: list[AttachmentUpload]) -> None:
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(f"Attach at most {MAX_ATTACHMENTS} PDF documents.",
                           field="attachments")


def _shown(raw: str) -> str:
    """The uploaded name as the GP typed it, for a message: no path, no control chars."""
    name = re.split(r"[\\/]", raw or "")[-1]
    return "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")[:80]


def clean_filename(raw: str) -> str:
    """A file name safe to show and to put in a Content-Disposition: no path, no control
    or quote characters, at most 120 characters, ending in .pdf."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = unicodedata.normalize("NFKC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '"')
    name = name.strip(" .") or "attachment"
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    return stem[:116].strip(" .") + ".pdf" if stem.strip(" .") else "attachment.pdf"


def ascii_filename(name: str) -> str:
    """The plain-ASCII fallback of a file name for the `filename=` parameter."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    folded = _UNSAFE.sub("_", folded).strip(" ._")
    return folded if folded.lower().endswith(".pdf") and len(folded) > 4 else "attachment.pdf"


async def ingest(deps: ConsultDeps, uploads: list[AttachmentUpload]) -> list[StoredAttachment]:
    """Sanitise, seal and store; raises PdfRejected (400) naming the file at fault."""
    check_count(uploads)
    if not uploads:
        return []
    sanitise = functools.partial(sanitise_pdf, max_bytes=deps.settings.max_attachment_bytes,
                                 max_pages=deps.settings.max_attachment_pages)
    results = await asyncio.gather(*(deps.workers.run(sanitise, u.data) for u in uploads),
                                   return_exceptions=True)
    for index, (upload, result) in enumerate(zip(uploads, results, strict=True), start=1):
        if isinstance(result, ImageRejected):  # the pool died twice on this file
            result = PdfRejected("damaged", "The PDF is damaged and cannot be read.")
        if isinstance(result, PdfRejected):
            name = f" ({_shown(upload.filename)})" if _shown(upload.filename) else ""
            raise PdfRejected(result.code, f"Attachment {index}{name}: {result.message}")
        if isinstance(result, BaseException):
            raise result
    stored: list[StoredAttachment] = []
    try:
        for upload, result in zip(uploads, results, strict=True):
            assert isinstance(result, SanitisedPdf)
            stored.append(await _store(deps, upload, result))
    except BaseException:
        await discard(deps, stored)
        raise
    return stored


async def _store(deps: ConsultDeps, upload: AttachmentUpload,
                 pdf: SanitisedPdf) -> StoredAttachment:
    attachment_id = uuid.uuid4()
    blob = seal_blob(deps.keyring, attachment_id, ATTACHMENT_KIND, pdf.content)
    await deps.blobs.put(blob_key(str(attachment_id)), blob)
    return StoredAttachment(
        id=str(attachment_id), filename=clean_filename(upload.filename), pages=pdf.pages,
        size_bytes=len(pdf.content), original_size=pdf.original_size,
        kek_id=blob_kek_id(blob), removed=pdf.removed)


async def discard(deps: ConsultDeps, attachments: list[StoredAttachment]) -> None:
    """Remove blobs whose rows will not be written (the submission failed)."""
    for attachment in attachments:
        await deps.blobs.delete(blob_key(attachment.id))


def add_rows(db: AsyncSession, deps: ConsultDeps, consult_id: str, message_id: str | None,
             user_id: int, attachments: list[StoredAttachment], now: datetime) -> None:
    db.add_all(rows_for(deps, consult_id, message_id, user_id, attachments, now))


def rows_for(deps: ConsultDeps, consult_id: str, message_id: str | None, user_id: int,
             attachments: list[StoredAttachment], now: datetime) -> list[ConsultAttachment]:
    return [ConsultAttachment(
        id=a.id, consult_id=consult_id, message_id=message_id, uploaded_by=user_id,
        position=position,
        filename=deps.fields.seal(_TABLE, "filename", a.id, a.filename), pages=a.pages,
        size_bytes=a.size_bytes, original_size=a.original_size,
        removed=json.dumps(list(a.removed)), kek_id=a.kek_id, created_at=now)
        for position, a in enumerate(attachments)]


async def rows_of(db: AsyncSession, consult_id: str) -> list[ConsultAttachment]:
    return list((await db.execute(
        select(ConsultAttachment).where(col(ConsultAttachment.consult_id) == consult_id)
        .order_by(col(ConsultAttachment.created_at), col(ConsultAttachment.position)))).scalars())


def public_of(deps: ConsultDeps, row: ConsultAttachment) -> AttachmentPublic:
    """For a caller the policy already allowed to view the consult."""
    return AttachmentPublic(row.id, deps.fields.open(_TABLE, "filename", row.id, row.filename),
                            row.pages, row.size_bytes, json.loads(row.removed or "[]"),
                            row.message_id)


async def download(deps: ConsultDeps, user: Principal, attachment_id: str, *,
                   client_addr: str = "") -> ServedAttachment:
    """The decrypted PDF for a user allowed to see its consult; audited."""
    if not _is_uuid(attachment_id):
        raise NotFound("Attachment not found.")
    async with deps.db.read() as db:
        row = await db.get(ConsultAttachment, attachment_id)
        consult = await db.get(Consult, row.consult_id) if row is not None else None
        if row is None or consult is None or not may(user, Action.view, consult):
            raise NotFound("Attachment not found.")
    actor = Actor(user.id, user.email, client_addr)
    try:
        blob = await deps.blobs.get(blob_key(row.id))
        content = open_image(deps.keyring, uuid.UUID(row.id), ATTACHMENT_KIND, blob)
    except (BlobNotFound, ImageIntegrityError) as exc:
        reason = "its file is missing" if isinstance(exc, BlobNotFound) else str(exc)
        log.error("attachment %s cannot be served: %s", row.id, reason)
        await _audit(deps, actor, row.id, outcome="integrity_error")
        raise AttachmentCorrupt("This attachment failed its integrity check and cannot be "
                                "downloaded. The problem has been logged; please tell the "
                                "program's administrator.") from None
    await _audit(deps, actor, row.id, outcome="ok")
    return ServedAttachment(content, deps.fields.open(_TABLE, "filename", row.id, row.filename))


async def _audit(deps: ConsultDeps, actor: Actor, attachment_id: str, *, outcome: str) -> None:
    await deps.audit.record(actor=actor, action="attachment.download", at=deps.clock.now(),
                            object_type="attachment", object_id=attachment_id, outcome=outcome)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
