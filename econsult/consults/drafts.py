"""Drafts: a consult saved as it is typed, with its photos, until it is sent.

- The form's fields are one JSON object sealed with the field cipher (table `drafts`,
  column `fields`, the draft's id in the associated data), like a consult's fields.
- A photo is uploaded once, into the draft: processed by the image pipeline there
  (quality warnings), sealed into the blob store under the keys a consult image uses,
  and previewed as a metadata-free JPEG made by the server (HEIC included).
- Sending turns the draft into a consult through `consults.submit.submit`; inside its
  transaction the draft is claimed (`UPDATE ... WHERE sent_consult_id IS NULL`) and its
  photo rows become the consult's (same ids, same blobs: nothing is uploaded or
  processed again). A second send answers the consult the first one made.
- Drafts not touched for `settings.draft_days` are removed with their blobs
  (`remove_expired`, run by the deadline scheduler and by `econsult gc`).

Who may see a draft is the policy's `may_draft` (its author; the GP it is for); any
other id answers 404.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.config import Settings
from econsult.consults import attachments as pdfs
from econsult.consults import image_intake
from econsult.consults.attachments import AttachmentUpload
from econsult.consults.clinical_intake import ClinicalInput, parse_answers
from econsult.consults.deps import ConsultDeps
from econsult.consults.image_access import ImageCorrupt
from econsult.consults.image_intake import MAX_IMAGES, Upload, blob_key
from econsult.consults.on_behalf import responsible_gp
from econsult.consults.stored_images import StoredImage
from econsult.consults.submission import DERMATOLOGY_FIELDS, SubmitInput
from econsult.consults.submit import _replay, submit
from econsult.consults.views import SubmittedConsult
from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.images.envelope import ImageIntegrityError, open_image
from econsult.images.preview import preview_jpeg
from econsult.images.store import BlobNotFound, BlobStore
from econsult.models import Consult, Draft, DraftImage, Role, User
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import (
    Action,
    Principal,
    draft_filter,
    may,
    require,
    require_draft,
)

log = logging.getLogger(__name__)

# The consult form's fields a draft keeps, with the longest value each may hold (the
# same limits `submission.validate` applies when it is sent; a draft may be incomplete).
FIELD_LIMITS: dict[str, int] = {
    "specialty": 64, "urgency": 16, "question": 10_000, "patient_name": 200,
    "patient_dob": 10, "patient_health_number": 24, "gp": 254,
    # Clinical content (issue 16): the reason's checklist answers as the form's JSON.
    "reason": 64, "checklist": 20_000, "patient_sex": 16, "medications": 4000,
    "allergies": 4000, "specialist": 254,
    **{name: 2000 for name in DERMATOLOGY_FIELDS},
}
LIST_LIMIT = 200
_SEAL = ("drafts", "fields")


@dataclass(slots=True)
class DraftImageView:
    id: str
    label: str
    width: int
    height: int
    warnings: list[dict[str, str]]


@dataclass(slots=True)
class DraftView:
    id: str
    fields: dict[str, str]
    images: list[DraftImageView]
    author: dict[str, Any]
    gp_id: int | None
    created_at: str
    updated_at: str


@dataclass(slots=True)
class DraftListItem:
    id: str
    patient_name: str
    specialty: str
    question: str  # the first line, shortened
    photos: int
    author: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class PreviewImage:
    content: bytes
    content_type: str = "image/jpeg"


class _AlreadySent(Exception):
    def __init__(self, consult_id: str) -> None:
        super().__init__(consult_id)
        self.consult_id = consult_id


def clean_fields(raw: Any) -> dict[str, str]:
    """The form's fields from a request body: known names, strings, within limits."""
    if not isinstance(raw, dict):
        raise InvalidInput("Send the draft's fields as a JSON object.", code="bad_body")
    fields: dict[str, str] = {}
    for name, value in raw.items():
        if name not in FIELD_LIMITS:
            raise InvalidInput(f"Unknown field {str(name)[:40]}.", field=str(name)[:40])
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be text.", field=name)
        if len(value) > FIELD_LIMITS[name]:
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is too long "
                               f"(at most {FIELD_LIMITS[name]} characters).", field=name)
        if value != "":
            fields[name] = value
    return fields


def _iso(value: datetime) -> str:
    return value.isoformat()


def _seal(deps: ConsultDeps, draft_id: str, fields: dict[str, str]) -> bytes:
    return deps.fields.seal(*_SEAL, draft_id, json.dumps(fields, sort_keys=True))


def _open(deps: ConsultDeps, draft: Draft) -> dict[str, str]:
    if draft.fields is None:
        return {}
    opened = json.loads(deps.fields.open(*_SEAL, draft.id, draft.fields))
    return {str(k): str(v) for k, v in opened.items()} if isinstance(opened, dict) else {}


def _image_view(row: DraftImage) -> DraftImageView:
    return DraftImageView(row.id, row.label, row.width, row.height,
                          json.loads(row.warnings or "[]"))


async def _gp_for(db: AsyncSession, user: Principal, draft: Draft | None,
                  fields: dict[str, str]) -> int | None:
    """The GP the draft is for, from its `gp` field: the author's own id for a GP, the
    chosen (linked) GP for a delegate, None while a delegate has not chosen."""
    if draft is not None and draft.author_id != user.id:
        # The GP a delegate wrote it for is finishing it: it stays theirs.
        gp = fields.get("gp", "").strip().lower()
        if gp and gp != user.email.lower():
            raise InvalidInput("This draft is for you; it cannot be moved to another GP.",
                               field="gp")
        return draft.gp_id
    if user.role is Role.delegate and not fields.get("gp", "").strip():
        return None
    return await responsible_gp(db, user, fields.get("gp", ""))


async def _load(db: AsyncSession, user: Principal, draft_id: str, action: Action) -> Draft:
    draft = await db.get(Draft, draft_id) if _is_uuid(draft_id) else None
    require_draft(user, action, draft)
    assert draft is not None
    if draft.sent_consult_id is not None and action is not Action.send_draft:
        raise NotFound("Draft not found.")  # it is a consult now
    return draft


async def _images(db: AsyncSession, draft_id: str) -> list[DraftImage]:
    return list((await db.execute(
        select(DraftImage).where(col(DraftImage.draft_id) == draft_id)
        .order_by(col(DraftImage.created_at), col(DraftImage.id)))).scalars())


async def _author(db: AsyncSession, user_id: int) -> dict[str, Any]:
    name = (await db.execute(select(col(User.name)).where(col(User.id) == user_id))).scalar()
    return {"id": user_id, "name": name or ""}


async def _view(deps: ConsultDeps, db: AsyncSession, draft: Draft) -> DraftView:
    return DraftView(
        id=draft.id, fields=_open(deps, draft),
        images=[_image_view(r) for r in await _images(db, draft.id)],
        author=await _author(db, draft.author_id), gp_id=draft.gp_id,
        created_at=_iso(draft.created_at), updated_at=_iso(draft.updated_at))


# --- the draft itself ---------------------------------------------------------------


async def create(deps: ConsultDeps, user: Principal, raw_fields: Any) -> DraftView:
    require(user, Action.start_draft)
    fields = clean_fields(raw_fields)
    draft_id = str(uuid.uuid4())
    now = deps.clock.now()
    sealed = _seal(deps, draft_id, fields)  # outside the transaction
    async with deps.db.write() as db:
        draft = Draft(id=draft_id, author_id=user.id,
                      gp_id=await _gp_for(db, user, None, fields), fields=sealed,
                      created_at=now, updated_at=now)
        db.add(draft)
        await db.flush()
        return await _view(deps, db, draft)


async def get(deps: ConsultDeps, user: Principal, draft_id: str) -> DraftView:
    async with deps.db.read() as db:
        draft = await _load(db, user, draft_id, Action.view_draft)
        return await _view(deps, db, draft)


async def save(deps: ConsultDeps, user: Principal, draft_id: str, raw_fields: Any) -> DraftView:
    """Replace the draft's fields with the form as it is now."""
    fields = clean_fields(raw_fields)
    sealed = _seal(deps, draft_id, fields) if _is_uuid(draft_id) else b""
    async with deps.db.write() as db:
        draft = await _load(db, user, draft_id, Action.edit_draft)
        draft.gp_id = await _gp_for(db, user, draft, fields)
        draft.fields = sealed
        draft.updated_at = deps.clock.now()
        db.add(draft)
        await db.flush()
        return await _view(deps, db, draft)


async def discard(deps: ConsultDeps, user: Principal, draft_id: str) -> None:
    async with deps.db.write() as db:
        draft = await _load(db, user, draft_id, Action.discard_draft)
        image_ids = await _remove(db, [draft.id])
    await _delete_blobs(deps, image_ids)


async def list_for(deps: ConsultDeps, user: Principal) -> list[DraftListItem]:
    """The caller's unsent drafts, the most recently edited first."""
    if not _may_list(user):
        return []
    async with deps.db.read() as db:
        rows = list((await db.execute(
            select(Draft).where(draft_filter(user, col(Draft.author_id), col(Draft.gp_id)),
                                col(Draft.sent_consult_id).is_(None))
            .order_by(col(Draft.updated_at).desc()).limit(LIST_LIMIT))).scalars())
        counts: dict[str, int] = {str(draft): int(n) for draft, n in (await db.execute(
            select(col(DraftImage.draft_id), func.count())
            .where(col(DraftImage.draft_id).in_([r.id for r in rows]))
            .group_by(col(DraftImage.draft_id)))).all()} if rows else {}
        authors = {a: await _author(db, a) for a in {r.author_id for r in rows}}
    items = []
    for row in rows:
        fields = _open(deps, row)
        question = fields.get("question", "").strip().splitlines()
        first = question[0] if question else ""
        items.append(DraftListItem(
            id=row.id, patient_name=fields.get("patient_name", ""),
            specialty=fields.get("specialty", ""),
            question=first[:117] + "…" if len(first) > 120 else first,
            photos=int(counts.get(row.id, 0)), author=authors[row.author_id],
            created_at=_iso(row.created_at), updated_at=_iso(row.updated_at)))
    return items


def _may_list(user: Principal) -> bool:
    return may(user, Action.start_draft)


# --- photos -------------------------------------------------------------------------


async def add_photos(deps: ConsultDeps, user: Principal, draft_id: str,
                     uploads: list[Upload]) -> list[DraftImageView]:
    """Process and store photos into the draft, once: what is sent later is these."""
    if not uploads:
        raise InvalidInput("Attach a photo in the field 'images'.", field="images")
    image_intake.check_uploads(uploads)
    async with deps.db.read() as db:  # before any photo is processed
        await _load(db, user, draft_id, Action.edit_draft)
        held = len(await _images(db, draft_id))
    if held + len(uploads) > MAX_IMAGES:
        raise InvalidInput(f"A consult holds at most {MAX_IMAGES} photos.", field="images")
    stored = await image_intake.ingest(deps, uploads)
    try:
        now = deps.clock.now()
        async with deps.db.write() as db:
            draft = await _load(db, user, draft_id, Action.edit_draft)
            if len(await _images(db, draft_id)) + len(stored) > MAX_IMAGES:
                raise InvalidInput(f"A consult holds at most {MAX_IMAGES} photos.",
                                   field="images")
            rows = [_draft_image_row(draft_id, user.id, image, now) for image in stored]
            db.add_all(rows)
            draft.updated_at = now
            db.add(draft)
    except BaseException:
        await image_intake.discard(deps, stored)
        raise
    return [_image_view(r) for r in rows]


def _draft_image_row(draft_id: str, user_id: int, image: StoredImage,
                     now: datetime) -> DraftImage:
    return DraftImage(
        id=image.id, draft_id=draft_id, uploaded_by=user_id, label=image.label,
        content_type=image.content_type, width=image.width, height=image.height,
        thumbnail_type=image.thumbnail_type, thumbnail_width=image.thumbnail_width,
        thumbnail_height=image.thumbnail_height, size_bytes=image.size_bytes,
        kek_id=image.kek_id, warnings=json.dumps(image.warnings), created_at=now)


async def remove_photo(deps: ConsultDeps, user: Principal, draft_id: str,
                       image_id: str) -> None:
    async with deps.db.write() as db:
        draft = await _load(db, user, draft_id, Action.edit_draft)
        row = await db.get(DraftImage, image_id) if _is_uuid(image_id) else None
        if row is None or row.draft_id != draft.id:
            raise NotFound("Photo not found.")
        await db.delete(row)
        draft.updated_at = deps.clock.now()
        db.add(draft)
    await _delete_blobs(deps, [image_id])


async def preview(deps: ConsultDeps, user: Principal, draft_id: str, image_id: str, *,
                  client_addr: str = "") -> PreviewImage:
    """The photo as the server stored it, as a JPEG any browser shows (HEIC too)."""
    async with deps.db.read() as db:
        draft = await _load(db, user, draft_id, Action.view_draft)
        row = await db.get(DraftImage, image_id) if _is_uuid(image_id) else None
        if row is None or row.draft_id != draft.id:
            raise NotFound("Photo not found.")
    try:
        blob = await deps.blobs.get(blob_key(row.id, "thumbnail"))
        thumbnail = open_image(deps.keyring, uuid.UUID(row.id), "thumbnail", blob)
    except (BlobNotFound, ImageIntegrityError) as exc:
        log.error("draft photo %s cannot be shown: %s", row.id, exc)
        raise ImageCorrupt("This photo failed its integrity check and cannot be shown; "
                           "remove it and attach it again.") from None
    content = (thumbnail if row.thumbnail_type == "image/jpeg"
               else await deps.workers.run(_as_jpeg, (thumbnail, row.thumbnail_type)))
    await deps.audit.record(actor=Actor(user.id, user.email, client_addr),
                            action="draft_image.view", at=deps.clock.now(),
                            object_type="image", object_id=row.id, detail="kind=preview")
    return PreviewImage(content)


def _as_jpeg(arg: tuple[bytes, str]) -> bytes:
    return preview_jpeg(*arg)


# --- sending ------------------------------------------------------------------------


def idempotency_key_for(draft_id: str) -> str:
    return f"draft-{draft_id}"


async def send(deps: ConsultDeps, user: Principal, draft_id: str, *,
               idempotency_key: str | None = None, client_addr: str = "",
               attachments: list[AttachmentUpload] | None = None,
               ) -> tuple[SubmittedConsult, bool]:
    """The draft as a consult; (summary, created). Sending the same draft again, or
    with the same Idempotency-Key, answers the consult already made. PDF `attachments`
    come with the send (a draft keeps no documents): checked and stored before the
    transaction, removed again if no consult is written."""
    require(user, Action.submit_consult)
    pdfs.check_count(attachments or [])
    async with deps.db.read() as db:
        draft = await _load(db, user, draft_id, Action.send_draft)
        if draft.sent_consult_id is not None:
            sent = draft.sent_consult_id
        else:
            sent = None
            fields = _open(deps, draft)
            images = await _images(db, draft.id)
    if sent is not None:
        return await _replay(deps, user, sent), False
    data = SubmitInput(
        specialty=fields.get("specialty", ""), urgency=fields.get("urgency", ""),
        question=fields.get("question", ""), patient_name=fields.get("patient_name", ""),
        patient_dob=fields.get("patient_dob", ""),
        patient_health_number=fields.get("patient_health_number", ""),
        details={k: v for k, v in fields.items() if k in DERMATOLOGY_FIELDS and v.strip()},
        idempotency_key=idempotency_key or idempotency_key_for(draft.id),
        gp=fields.get("gp", "") if draft.author_id == user.id else "",
        clinical=ClinicalInput(
            reason=fields.get("reason", ""), checklist=parse_answers(fields.get("checklist")),
            patient_sex=fields.get("patient_sex", ""),
            medications=fields.get("medications", ""),
            allergies=fields.get("allergies", ""), specialist=fields.get("specialist", "")),
    )
    if data.specialty != "dermatology":  # the form keeps them, but only sends them there
        data = replace(data, details={})
    stored = [_stored(r) for r in images]
    now = deps.clock.now()

    async def claim(db: AsyncSession, consult: Consult) -> None:
        result = await db.execute(
            update(Draft).where(col(Draft.id) == draft_id,
                                col(Draft.sent_consult_id).is_(None))
            .values(sent_consult_id=consult.id, sent_at=now, fields=None, updated_at=now))
        if int(getattr(result, "rowcount", 0) or 0) != 1:
            winner = (await db.execute(select(col(Draft.sent_consult_id))
                                       .where(col(Draft.id) == draft_id))).scalar()
            if winner is None:
                raise NotFound("Draft not found.")  # discarded meanwhile
            raise _AlreadySent(str(winner))
        # Its photos are the consult's now: the same ids and blobs under a consult row.
        moved = getattr(await db.execute(delete(DraftImage).where(
            col(DraftImage.draft_id) == draft_id,
            col(DraftImage.id).in_([i.id for i in stored]))), "rowcount", 0)
        left = (await db.execute(select(func.count()).select_from(DraftImage)
                                 .where(col(DraftImage.draft_id) == draft_id))).scalar_one()
        if int(moved or 0) != len(stored) or left:
            raise InvalidInput("The photos changed while sending; check them and "
                               "send again.", field="images")
        await audit.append(db, actor=Actor(user.id, user.email, client_addr),
                           action="draft.send", at=now, object_type="draft",
                           object_id=draft_id, detail=f"consult={consult.id} "
                           f"images={len(stored)}")

    documents = await pdfs.ingest(deps, attachments or [])
    try:
        return await submit(deps, user, data, stored, client_addr=client_addr,
                            attachments=documents, on_written=claim)
    except _AlreadySent as won:
        await pdfs.discard(deps, documents)
        return await _replay(deps, user, won.consult_id), False
    except BaseException:
        await pdfs.discard(deps, documents)
        raise


def _stored(row: DraftImage) -> StoredImage:
    return StoredImage(
        id=row.id, label=row.label, content_type=row.content_type, width=row.width,
        height=row.height, thumbnail_type=row.thumbnail_type,
        thumbnail_width=row.thumbnail_width, thumbnail_height=row.thumbnail_height,
        size_bytes=row.size_bytes, kek_id=row.kek_id,
        warnings=json.loads(row.warnings or "[]"))


# --- expiry -------------------------------------------------------------------------


class ExpiryDeps(Protocol):
    """What removing expired drafts uses (ConsultDeps has it; so does `econsult gc`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def blobs(self) -> BlobStore: ...


async def remove_expired(deps: ExpiryDeps, *, batch: int = 200) -> int:
    """Remove drafts not edited for `settings.draft_days` (sent ones included: their
    consult exists), with their photos' blobs. Returns how many drafts went."""
    cutoff = deps.clock.now() - timedelta(days=deps.settings.draft_days)
    removed = 0
    while True:
        async with deps.db.write() as db:
            ids = list((await db.execute(
                select(col(Draft.id)).where(col(Draft.updated_at) < cutoff)
                .order_by(col(Draft.updated_at)).limit(batch))).scalars())
            image_ids = await _remove(db, ids) if ids else []
        # After the commit: a crash here leaves blobs without rows, which gc removes.
        await _delete_blobs(deps, image_ids)
        removed += len(ids)
        if len(ids) < batch:
            return removed


async def _remove(db: AsyncSession, draft_ids: list[str]) -> list[str]:
    image_ids = list((await db.execute(
        select(col(DraftImage.id)).where(col(DraftImage.draft_id).in_(draft_ids)))).scalars())
    await db.execute(delete(DraftImage).where(col(DraftImage.draft_id).in_(draft_ids)))
    await db.execute(delete(Draft).where(col(Draft.id).in_(draft_ids)))
    return image_ids


async def _delete_blobs(deps: ExpiryDeps | ConsultDeps, image_ids: list[str]) -> None:
    for image_id in image_ids:
        for kind in ("original", "thumbnail"):
            try:
                await deps.blobs.delete(blob_key(image_id, kind))
            except Exception:  # gc removes what is left
                log.exception("could not remove blob %s of draft photo", kind)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
