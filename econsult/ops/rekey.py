"""Re-keying after a rotation: bring everything under the keyring's active KEK.

- rekey_images / rekey_fields: images keep their bodies; only the wrapped data key in
  the blob header changes. Each blob is replaced before its row's `kek_id` is updated,
  so after a crash the row can only lag behind (still naming the old KEK), and
  `keys retire` errs on the side of refusing.
- count_images / count_fields: what a KEK still protects, for `keys retire`.
One item that cannot be processed never stops the walk: it is logged, the rest is done,
and the failure is reported at the end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import col

from econsult.config import Settings
from econsult.consults import search
from econsult.db import Database
from econsult.errors import Conflict
from econsult.images.blobstores import blob_store_for
from econsult.images.envelope import ATTACHMENT_KIND, rewrap_blob_header
from econsult.images.store import BlobNotFound, BlobStore
from econsult.models import (
    AnswerTemplate,
    Consult,
    ConsultAttachment,
    ConsultImage,
    Draft,
    DraftImage,
    Message,
    Passkey,
    Referral,
    StructuredAnswer,
    TotpCredential,
)
from econsult.ops.integrity import (
    BATCH,
    KINDS_STORED,
    attachment_id_batches,
    blob_key,
    image_id_batches,
)
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring, KeyringError, token_kek_id

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Every SealedBytes column, by table: (model, columns).
SEALED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (Consult, ("patient_name", "patient_dob", "patient_health_number", "question",
               "clinical_details", "close_comment", "checklist_answers", "patient_sex",
               "medications", "allergies")),
    (Message, ("body",)),
    (ConsultAttachment, ("filename",)),
    (TotpCredential, ("secret",)),
    (Passkey, ("public_key",)),
    (StructuredAnswer, ("impression", "plan", "refer_if", "follow_up")),
    (AnswerTemplate, ("content",)),
    (Referral, ("reason",)),
    (Draft, ("fields",)),
)


def _pk(model: Any) -> Any:
    """The single text primary key the field's seal is bound to (id, message_id...)."""
    return col(next(iter(model.__table__.primary_key.columns)))


def _no_progress(done: int, total: int) -> None:
    return None


# --- rotation: images ---------------------------------------------------------------


class RekeyIncomplete(Conflict):
    def __init__(self, what: str, failures: list[str]) -> None:
        shown = "; ".join(failures[:5]) + ("; ..." if len(failures) > 5 else "")
        super().__init__(f"{len(failures)} {what} could not be re-keyed and are still under "
                         f"their old KEK (everything else was): {shown}. Run `econsult "
                         "images verify` for the full list.", code="rekey_incomplete")


async def rekey_images(db: Database, keyring: Keyring, settings: Settings,
                       progress: Progress = _no_progress, *,
                       blobs: BlobStore | None = None) -> int:
    """Re-wrap every image's data keys under the active KEK; returns how many changed."""
    blobs = blobs or blob_store_for(settings)
    stale = col(ConsultImage.kek_id) != keyring.active_id
    async with db.read() as session:
        total = (await session.execute(
            select(func.count()).select_from(ConsultImage).where(stale))).scalar_one()
    done, failures = 0, []
    progress(0, total)
    async for ids in image_id_batches(db, stale):
        rewrapped = []
        for image_id in ids:
            try:
                for kind in KINDS_STORED:
                    key = blob_key(image_id, kind)
                    blob = await blobs.get(key)
                    new = rewrap_blob_header(keyring, uuid.UUID(image_id), kind, blob)
                    if new is not blob:
                        await blobs.replace(key, new)
                rewrapped.append(image_id)
            except (BlobNotFound, KeyringError) as exc:
                log.error("image %s could not be re-wrapped: %s", image_id, exc)
                failures.append(f"image {image_id}: {exc}")
        if rewrapped:
            async with db.write() as session:
                await session.execute(update(ConsultImage)
                                      .where(col(ConsultImage.id).in_(rewrapped))
                                      .values(kek_id=keyring.active_id))
        done += len(ids)
        progress(min(done, total), total)
    done += await _rekey_attachments(db, keyring, blobs, failures)
    if failures:
        raise RekeyIncomplete("images", failures)
    return done - len(failures)


async def _rekey_attachments(db: Database, keyring: Keyring, blobs: BlobStore,
                             failures: list[str]) -> int:
    """PDF attachments are sealed like images (one blob each): the same re-wrap."""
    stale = col(ConsultAttachment.kek_id) != keyring.active_id
    done = 0
    async for ids in attachment_id_batches(db, stale):
        rewrapped = []
        for attachment_id in ids:
            try:
                key = blob_key(attachment_id, ATTACHMENT_KIND)
                blob = await blobs.get(key)
                new = rewrap_blob_header(keyring, uuid.UUID(attachment_id), ATTACHMENT_KIND,
                                         blob)
                if new is not blob:
                    await blobs.replace(key, new)
                rewrapped.append(attachment_id)
            except (BlobNotFound, KeyringError) as exc:
                log.error("attachment %s could not be re-wrapped: %s", attachment_id, exc)
                failures.append(f"attachment {attachment_id}: {exc}")
        if rewrapped:
            async with db.write() as session:
                await session.execute(update(ConsultAttachment)
                                      .where(col(ConsultAttachment.id).in_(rewrapped))
                                      .values(kek_id=keyring.active_id))
        done += len(ids)
    return done


async def count_images(db: Database, kek_id: str, settings: Settings) -> int:
    """Consult images, photos in drafts (which `rekey_images` leaves: drafts expire
    within days) and PDF attachments still under `kek_id`, so `keys retire` refuses
    while any remain."""
    async with db.read() as session:
        consults = int((await session.execute(
            select(func.count()).select_from(ConsultImage)
            .where(col(ConsultImage.kek_id) == kek_id))).scalar_one())
        in_drafts = int((await session.execute(
            select(func.count()).select_from(DraftImage)
            .where(col(DraftImage.kek_id) == kek_id))).scalar_one())
        documents = int((await session.execute(
            select(func.count()).select_from(ConsultAttachment)
            .where(col(ConsultAttachment.kek_id) == kek_id))).scalar_one())
    return consults + in_drafts + documents


# --- rotation: encrypted fields -----------------------------------------------------


async def rekey_fields(db: Database, keyring: Keyring, settings: Settings,
                       progress: Progress = _no_progress, *, batch: int = BATCH) -> int:
    """Re-seal every encrypted field under the active KEK, one transaction per batch of
    rows (short write locks; a concurrent edit of the same row waits for the batch).
    Returns how many rows changed."""
    cipher = FieldCipher(keyring)
    totals = []
    async with db.read() as session:
        for model, _ in SEALED:
            totals.append((await session.execute(
                select(func.count()).select_from(model))).scalar_one())
    total, done, changed, failures = sum(totals), 0, 0, []
    progress(0, total)
    for model, columns in SEALED:
        table = model.__tablename__
        last = ""
        while True:
            async with db.write() as session:
                rows = (await session.execute(
                    select(_pk(model), *(getattr(model, c) for c in columns))
                    .where(_pk(model) > last).order_by(_pk(model)).limit(batch))).all()
                for row in rows:
                    values = {}
                    for name, token in zip(columns, row[1:], strict=True):
                        if token is None:
                            continue
                        try:
                            new = cipher.reseal(table, name, row[0], token)
                        except KeyringError as exc:
                            log.error("%s.%s of %s could not be re-sealed: %s",
                                      table, name, row[0], exc)
                            failures.append(f"{table}.{name} of {row[0]}: {exc}")
                            continue
                        if new is not token:
                            values[name] = new
                    if values:
                        await session.execute(update(model).where(_pk(model) == row[0])
                                              .values(**values))
                        changed += 1
            if not rows:
                break
            last = rows[-1][0]
            done += len(rows)
            progress(min(done, total), max(total, done))
    if failures:
        raise RekeyIncomplete("encrypted fields", failures)
    return changed


async def count_fields(db: Database, kek_id: str, settings: Settings) -> int:
    """How many encrypted values are still sealed under `kek_id` (a full scan; run only
    when retiring a key)."""
    count = 0
    for model, columns in SEALED:
        last = ""
        while True:
            async with db.read() as session:
                rows = (await session.execute(
                    select(_pk(model), *(getattr(model, c) for c in columns))
                    .where(_pk(model) > last).order_by(_pk(model)).limit(BATCH))).all()
            if not rows:
                break
            for row in rows:
                count += sum(1 for token in row[1:]
                             if token is not None and _kek_of(token) == kek_id)
            last = rows[-1][0]
    return count


# --- rotation: search tokens (blind indexes) -----------------------------------------


async def rekey_search(db: Database, keyring: Keyring, settings: Settings,
                       progress: Progress = _no_progress) -> int:
    """Recompute every consult's search tokens under the active KEK's search key (and
    index consults that have none). Runs after the fields are re-sealed."""
    return await search.reindex(db, keyring, progress)


async def count_search(db: Database, kek_id: str, settings: Settings) -> int:
    return await search.count_tokens(db, kek_id)


def _kek_of(token: bytes) -> str | None:
    try:
        return token_kek_id(token)
    except KeyringError:
        return None
