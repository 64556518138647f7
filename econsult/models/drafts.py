"""Drafts: a consult the GP (or their delegate) has started but not sent.

The form's fields are one sealed JSON blob (SealedBytes, like a consult's fields); the
photos uploaded into the draft have rows here and their pixels in the encrypted blob
store under the same keys a consult's images use, so sending moves them by reference:
the draft image row becomes a consult image row with the same id.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field
from econsult.models.types import SealedBytes


class Draft(SQLModel, table=True):
    __tablename__ = "drafts"

    id: str = Field(primary_key=True, max_length=36)
    author_id: int = Field(foreign_key="users.id", index=True)
    # The GP the consult will be for: the author when a GP writes it, the chosen GP when
    # a delegate does (None until the delegate chooses one).
    gp_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    fields: bytes | None = Field(default=None, sa_type=SealedBytes())
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field(index=True)
    # Set when it was sent (the fields are then erased): a second send answers this
    # consult instead of creating another.
    sent_consult_id: str | None = Field(default=None, foreign_key="consults.id",
                                        max_length=36)
    sent_at: datetime | None = utc_field(nullable=True)


class DraftImage(SQLModel, table=True):
    """A photo processed and stored while the consult is still a draft."""

    __tablename__ = "draft_images"

    id: str = Field(primary_key=True, max_length=36)
    draft_id: str = Field(foreign_key="drafts.id", index=True, max_length=36)
    uploaded_by: int = Field(foreign_key="users.id")
    label: str = Field(max_length=16)
    content_type: str = Field(max_length=32)
    width: int
    height: int
    thumbnail_type: str = Field(max_length=32)
    thumbnail_width: int
    thumbnail_height: int
    size_bytes: int
    kek_id: str = Field(max_length=32, index=True)
    warnings: str = Field(default="[]", max_length=4000)
    created_at: datetime = utc_field()
