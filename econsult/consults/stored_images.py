"""Image rows attached to a consult. The pixels were already processed, encrypted and
written to the blob store before the transaction began; here only the rows are added."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.views import ImagePublic
from econsult.models import ConsultImage


@dataclass(frozen=True)
class StoredImage:
    id: str
    label: str
    content_type: str
    width: int
    height: int
    thumbnail_type: str
    thumbnail_width: int
    thumbnail_height: int
    size_bytes: int
    kek_id: str
    warnings: list[dict[str, str]] = field(default_factory=list)

    def public(self) -> ImagePublic:
        return ImagePublic(self.id, self.label, self.width, self.height, self.warnings)


def add_image_rows(
    db: AsyncSession,
    deps: ConsultDeps,
    consult_id: str,
    message_id: str | None,
    user_id: int,
    images: list[StoredImage],
    now: datetime,
) -> None:
    db.add_all(image_rows(consult_id, message_id, user_id, images, now))


def image_rows(consult_id: str, message_id: str | None, user_id: int,
               images: list[StoredImage], now: datetime) -> list[ConsultImage]:
    return [
        ConsultImage(
            id=image.id,
            consult_id=consult_id,
            message_id=message_id,
            uploaded_by=user_id,
            label=image.label,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            thumbnail_type=image.thumbnail_type,
            thumbnail_width=image.thumbnail_width,
            thumbnail_height=image.thumbnail_height,
            size_bytes=image.size_bytes,
            kek_id=image.kek_id,
            warnings=json.dumps(image.warnings),
            created_at=now,
        )
        for image in images
    ]


def public_image(row: ConsultImage) -> ImagePublic:
    return ImagePublic(row.id, row.label, row.width, row.height,
                       json.loads(row.warnings or "[]"), row.message_id)


async def public_images(db: AsyncSession, consult_id: str) -> list[ImagePublic]:
    rows = (
        await db.execute(
            select(ConsultImage)
            .where(col(ConsultImage.consult_id) == consult_id)
            .order_by(col(ConsultImage.created_at))
        )
    ).scalars()
    return [public_image(r) for r in rows]
