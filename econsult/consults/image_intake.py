"""Turning uploaded photos into stored, encrypted images before the consult's
transaction: decode and clean them in the worker pool (off the event loop), seal
original and thumbnail under fresh data keys, and write both blobs atomically.
A blob whose row never commits is an orphan that `econsult gc` removes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from econsult.consults.deps import ConsultDeps
from econsult.consults.stored_images import StoredImage
from econsult.errors import InvalidInput
from econsult.images.envelope import blob_kek_id, seal_image
from econsult.images.formats import ImageRejected
from econsult.images.pipeline import ProcessedImage
from econsult.models import ImageLabel

MAX_IMAGES = 10


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    label: str = "other"


def blob_key(image_id: str, kind: str) -> str:
    return f"{image_id}.{kind}"


def check_uploads(uploads: list[Upload]) -> None:
    if len(uploads) > MAX_IMAGES:
        raise InvalidInput(f"Attach at most {MAX_IMAGES} photos.", field="images")
    for upload in uploads:
        if upload.label not in ImageLabel.__members__:
            raise InvalidInput("Photo labels are overview, close_up, dermoscopy or other.",
                               field="image_labels")


async def ingest(deps: ConsultDeps, uploads: list[Upload]) -> list[StoredImage]:
    check_uploads(uploads)
    results = await asyncio.gather(*(deps.workers.process(u.data) for u in uploads),
                                   return_exceptions=True)
    for index, (upload, result) in enumerate(zip(uploads, results, strict=True), start=1):
        if isinstance(result, ImageRejected):
            name = f" ({upload.filename[:80]})" if upload.filename else ""
            raise ImageRejected(result.code, f"Photo {index}{name}: {result.message}")
        if isinstance(result, BaseException):
            raise result
    return [await _store(deps, upload, result) for upload, result in  # type: ignore[arg-type]
            zip(uploads, results, strict=True)]


async def _store(deps: ConsultDeps, upload: Upload, image: ProcessedImage) -> StoredImage:
    image_id = uuid.uuid4()
    original = seal_image(deps.keyring, image_id, "original", image.content)
    thumbnail = seal_image(deps.keyring, image_id, "thumbnail", image.thumbnail)
    await deps.blobs.put(blob_key(str(image_id), "original"), original)
    await deps.blobs.put(blob_key(str(image_id), "thumbnail"), thumbnail)
    return StoredImage(
        id=str(image_id), label=upload.label, content_type=image.content_type,
        width=image.width, height=image.height, thumbnail_type=image.thumbnail_type,
        thumbnail_width=image.thumbnail_width, thumbnail_height=image.thumbnail_height,
        size_bytes=len(image.content), kek_id=blob_kek_id(original),
        warnings=[w.as_dict() for w in image.warnings],
    )


async def discard(deps: ConsultDeps, images: list[StoredImage]) -> None:
    """Remove blobs whose rows will not be written (the submission failed)."""
    for image in images:
        for kind in ("original", "thumbnail"):
            await deps.blobs.delete(blob_key(image.id, kind))
