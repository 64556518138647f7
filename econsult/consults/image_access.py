"""Serving stored images to the people allowed to see them, and checking photos before
they are submitted.

An image is shown only after the access policy allows viewing its consult: the row is
read, `may(user, view, consult)` decides, and only then is the blob fetched and
decrypted. Unknown, foreign and malformed ids all answer the same 404. Every view is
written to the audit log before the bytes leave the service.

A blob that fails to decrypt (swapped, altered, missing, or under a KEK the keyring does
not hold) is the server's data gone bad, not the user's mistake: ImageCorrupt, answered
500 with a plain message, logged with the image id, and listed by `econsult images
verify`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.image_intake import MAX_IMAGES, Upload, blob_key
from econsult.errors import DataCorrupt, InvalidInput, NotFound, PermissionDenied
from econsult.images.envelope import ImageIntegrityError, open_image
from econsult.images.formats import ImageRejected
from econsult.images.pipeline import CheckResult
from econsult.images.store import BlobNotFound
from econsult.models import Consult, ConsultImage
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may

log = logging.getLogger(__name__)

Kind = Literal["original", "thumbnail"]
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class ImageCorrupt(DataCorrupt):
    """The stored image cannot be opened: the server's data is damaged (HTTP 500)."""

    code = "image_integrity"


@dataclass(frozen=True)
class ServedImage:
    content: bytes
    content_type: str
    filename: str


async def view(deps: ConsultDeps, user: Principal, image_id: str, kind: Kind, *,
               client_addr: str = "") -> ServedImage:
    """The decrypted image (or thumbnail) for a user allowed to see its consult."""
    row, position = await _authorised_row(deps, user, image_id)
    content_type = row.content_type if kind == "original" else row.thumbnail_type
    actor = Actor(user.id, user.email, client_addr)
    try:
        blob = await deps.blobs.get(blob_key(row.id, kind))
        content = open_image(deps.keyring, uuid.UUID(row.id), kind, blob)
    except (BlobNotFound, ImageIntegrityError) as exc:
        reason = "its file is missing" if isinstance(exc, BlobNotFound) else str(exc)
        log.error("image %s (%s) cannot be served: %s", row.id, kind, reason)
        await _audit(deps, actor, row.id, kind, outcome="integrity_error")
        raise ImageCorrupt("This image failed its integrity check and cannot be shown. "
                           "The problem has been logged; please tell the program's "
                           "administrator.") from None
    await _audit(deps, actor, row.id, kind, outcome="ok")
    return ServedImage(content=content, content_type=content_type,
                       filename=_filename(row, position, kind))


def authorize_check(user: Principal) -> None:
    """Whether the caller may have photos checked, decided before the body is read."""
    if not may(user, Action.check_images):
        raise PermissionDenied("Only GPs and specialists attach photos.")


async def check(deps: ConsultDeps, user: Principal, uploads: list[Upload]) -> list[CheckResult]:
    """Validate and assess photos before submission; nothing is stored."""
    authorize_check(user)
    if not uploads:
        raise InvalidInput("Attach at least one photo to check.", field="images")
    if len(uploads) > MAX_IMAGES:
        raise InvalidInput(f"Attach at most {MAX_IMAGES} photos.", field="images")
    results = await asyncio.gather(*(deps.workers.check(u.data) for u in uploads),
                                   return_exceptions=True)
    checked: list[CheckResult] = []
    for index, (upload, result) in enumerate(zip(uploads, results, strict=True), start=1):
        if isinstance(result, ImageRejected):
            name = f" ({upload.filename[:80]})" if upload.filename else ""
            raise ImageRejected(result.code, f"Photo {index}{name}: {result.message}")
        if isinstance(result, BaseException):
            raise result
        checked.append(result)
    return checked


async def _authorised_row(deps: ConsultDeps, user: Principal,
                          image_id: str) -> tuple[ConsultImage, int]:
    """The image row and its 1-based number among its consult's images of the same label,
    or NotFound when it is unknown or not the user's to see (indistinguishable)."""
    if not _is_uuid(image_id):
        raise NotFound("Image not found.")
    async with deps.db.read() as db:
        row = await db.get(ConsultImage, image_id)
        consult = await db.get(Consult, row.consult_id) if row is not None else None
        if row is None or consult is None or not may(user, Action.view, consult):
            raise NotFound("Image not found.")
        siblings = list((await db.execute(
            select(col(ConsultImage.id))
            .where(col(ConsultImage.consult_id) == row.consult_id,
                   col(ConsultImage.label) == row.label)
            .order_by(col(ConsultImage.created_at), col(ConsultImage.id))
        )).scalars())
    return row, siblings.index(row.id) + 1


async def _audit(deps: ConsultDeps, actor: Actor, image_id: str, kind: str, *,
                 outcome: str) -> None:
    await deps.audit.record(actor=actor, action="image.view", at=deps.clock.now(),
                       object_type="image", object_id=image_id, outcome=outcome,
                       detail=f"kind={kind}")


def _filename(row: ConsultImage, position: int, kind: Kind) -> str:
    content_type = row.content_type if kind == "original" else row.thumbnail_type
    suffix = "" if kind == "original" else "-thumbnail"
    extension = _EXTENSIONS.get(content_type, "bin")
    return f"consult-{row.consult_id[:8]}-{row.label}-{position}{suffix}.{extension}"


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
