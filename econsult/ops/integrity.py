"""Integrity of encrypted data: verify images, collect orphan blobs.

- verify: decrypt every stored image (original and thumbnail) and PDF attachment, and
  list those that fail.
- gc: remove blobs no image or attachment row references, once they are old enough that their row
  cannot still be on its way (a submission writes its blobs, then commits the row).
One item that cannot be processed never stops the walk: it is recorded, the rest is
done, and the failures are reported at the end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from econsult.clock import Clock, SystemClock
from econsult.config import Settings
from econsult.consults import drafts
from econsult.db import Database
from econsult.images.blobstores import blob_store_for
from econsult.images.envelope import (
    ATTACHMENT_KIND,
    KINDS,
    ImageIntegrityError,
    Kind,
    open_image,
)
from econsult.images.store import BlobNotFound, BlobStore, FilesystemBlobStore
from econsult.models import ConsultAttachment, ConsultImage, DraftImage
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.keyring import Keyring, load_keyring

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BATCH = 200
KINDS_STORED: tuple[Kind, ...] = ("original", "thumbnail")
GC_MIN_AGE_SECONDS = 3600.0


async def _audit_cli(db: Database, action: str, detail: str) -> None:
    async with db.write() as session:
        await audit.append(session, actor=Actor(None, "cli"), action=action,
                           at=datetime.now(UTC), detail=detail)


def blob_key(image_id: str, kind: str) -> str:
    return f"{image_id}.{kind}"


def _no_progress(done: int, total: int) -> None:
    return None


# --- verify -------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    image_id: str
    kind: str
    reason: str


@dataclass
class VerifyReport:
    images: int = 0
    attachments: int = 0  # PDF attachments (one blob each)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


async def verify_images(settings: Settings) -> VerifyReport:
    db = Database.from_settings(settings)
    try:
        keyring = load_keyring(settings.master_key, settings.key_file)
        report = await verify_with(db, keyring, blob_store_for(settings))
        await _audit_cli(db, "images.verify",
                         f"images={report.images} failures={len(report.failures)}")
        return report
    finally:
        await db.dispose()


async def verify_with(db: Database, keyring: Keyring, blobs: BlobStore) -> VerifyReport:
    report = VerifyReport()
    async for ids in image_id_batches(db):
        for image_id in ids:
            report.images += 1
            for kind in KINDS_STORED:
                try:
                    blob = await blobs.get(blob_key(image_id, kind))
                    open_image(keyring, uuid.UUID(image_id), kind, blob)
                except BlobNotFound:
                    report.failures.append(Failure(image_id, kind, "the blob is missing"))
                except ImageIntegrityError as exc:
                    report.failures.append(Failure(image_id, kind, str(exc)))
    async for ids in attachment_id_batches(db):
        for attachment_id in ids:
            report.attachments += 1
            try:
                blob = await blobs.get(blob_key(attachment_id, ATTACHMENT_KIND))
                open_image(keyring, uuid.UUID(attachment_id), ATTACHMENT_KIND, blob)
            except BlobNotFound:
                report.failures.append(Failure(attachment_id, ATTACHMENT_KIND,
                                               "the blob is missing"))
            except ImageIntegrityError as exc:
                report.failures.append(Failure(attachment_id, ATTACHMENT_KIND, str(exc)))
    return report


async def image_id_batches(db: Database, where: Any = True) -> AsyncIterator[list[str]]:
    """Image ids in keyset-paginated batches (never the whole table in memory)."""
    last = ""
    while True:
        async with db.read() as session:
            ids = list((await session.execute(
                select(col(ConsultImage.id)).where(where, col(ConsultImage.id) > last)
                .order_by(col(ConsultImage.id)).limit(BATCH))).scalars())
        if not ids:
            return
        yield ids
        last = ids[-1]


async def attachment_id_batches(db: Database, where: Any = True) -> AsyncIterator[list[str]]:
    """PDF attachment ids in keyset-paginated batches."""
    last = ""
    while True:
        async with db.read() as session:
            ids = list((await session.execute(
                select(col(ConsultAttachment.id)).where(where, col(ConsultAttachment.id) > last)
                .order_by(col(ConsultAttachment.id)).limit(BATCH))).scalars())
        if not ids:
            return
        yield ids
        last = ids[-1]


# --- garbage collection -------------------------------------------------------------


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)
    kept_young: int = 0
    temp_files: int = 0
    expired_drafts: int = 0


@dataclass(frozen=True)
class _ExpiryDeps:
    settings: Settings
    db: Database
    clock: Clock
    blobs: BlobStore


async def gc(settings: Settings, *, min_age_seconds: float = GC_MIN_AGE_SECONDS,
             clock: Clock | None = None) -> GcReport:
    db = Database.from_settings(settings)
    try:
        blobs = blob_store_for(settings)
        # Expired drafts first, so their photos' blobs are not kept as referenced.
        expired = await drafts.remove_expired(_ExpiryDeps(settings, db, clock or SystemClock(),
                                                          blobs))
        report = await collect_garbage(db, blobs, min_age_seconds=min_age_seconds)
        report.expired_drafts = expired
        await _audit_cli(db, "blobs.gc", f"removed={len(report.removed)} "
                         f"temp_files={report.temp_files} kept_young={report.kept_young}"
                         + (f" expired_drafts={expired}" if expired else ""))
        return report
    finally:
        await db.dispose()


async def collect_garbage(db: Database, blobs: BlobStore, *,
                          min_age_seconds: float = GC_MIN_AGE_SECONDS) -> GcReport:
    report = GcReport()
    keys = await blobs.list_keys()
    candidates: dict[str, list[str]] = {}  # image id (or the key itself) -> blob keys
    for key in keys:
        stem, _, kind = key.rpartition(".")
        owner = stem if kind in (*KINDS, ATTACHMENT_KIND) and _is_uuid(stem) else key
        candidates.setdefault(owner, []).append(key)
    owners = sorted(candidates)
    referenced: set[str] = set()
    for start in range(0, len(owners), BATCH):
        chunk = owners[start:start + BATCH]
        async with db.read() as session:
            referenced.update((await session.execute(
                select(col(ConsultImage.id)).where(col(ConsultImage.id).in_(chunk)))).scalars())
            referenced.update((await session.execute(
                select(col(ConsultAttachment.id))
                .where(col(ConsultAttachment.id).in_(chunk)))).scalars())
            # Photos uploaded into drafts not yet sent (expired drafts went first, in gc).
            referenced.update((await session.execute(
                select(col(DraftImage.id)).where(col(DraftImage.id).in_(chunk)))).scalars())
    for owner in owners:
        if owner in referenced:
            continue
        for key in candidates[owner]:
            try:
                young = await blobs.age_seconds(key) < min_age_seconds
            except BlobNotFound:
                continue
            if young:  # its row may not be committed yet
                report.kept_young += 1
                continue
            await blobs.delete(key)
            report.removed.append(key)
    if isinstance(blobs, FilesystemBlobStore):
        report.temp_files = await blobs.remove_stale_temp_files(min_age_seconds)
    return report


async def startup_gc(db: Database, blobs: BlobStore, *,
                     min_age_seconds: float = GC_MIN_AGE_SECONDS) -> None:
    """Run once as a background task at start-up; a failure is logged, never raised."""
    try:
        report = await collect_garbage(db, blobs, min_age_seconds=min_age_seconds)
    except Exception:
        log.exception("start-up blob garbage collection failed")
        return
    if report.removed or report.temp_files:
        log.info("start-up gc removed %d orphan blobs and %d stale temp files",
                 len(report.removed), report.temp_files)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


