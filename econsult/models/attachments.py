"""PDF attachments of a consult (lab results, letters, ECGs).

The file lives only in the encrypted blob store under `<id>.attachment`, sanitised
(econsult.images.pdf) before it was sealed; the row holds the facts the thread shows
(pages, size, what was removed) and the uploaded file name, sealed because people
name files after the patient. `kek_id` mirrors the blob header, as for images.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field
from econsult.models.types import SealedBytes


class ConsultAttachment(SQLModel, table=True):
    __tablename__ = "consult_attachments"

    id: str = Field(primary_key=True, max_length=36)
    consult_id: str = Field(foreign_key="consults.id", index=True, max_length=36)
    message_id: str | None = Field(default=None, foreign_key="messages.id", max_length=36)
    uploaded_by: int = Field(foreign_key="users.id")
    filename: bytes = Field(sa_type=SealedBytes())
    position: int = Field(default=0)  # order within its consult or message, as uploaded
    pages: int
    size_bytes: int
    original_size: int
    # JSON list of what the sanitiser removed ("JavaScript", "embedded file", ...).
    removed: str = Field(default="[]", max_length=2000)
    kek_id: str = Field(max_length=32, index=True)
    created_at: datetime = utc_field()
