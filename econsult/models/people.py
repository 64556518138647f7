"""Account recovery and personal feeds: one-time password-reset links and the secret
address of a specialist's on-call calendar. Only SHA-256 hashes of the tokens are
stored, so a copy of the database opens neither."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field


class PasswordReset(SQLModel, table=True):
    __tablename__ = "password_resets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)
    created_by: int | None = Field(default=None)


class CalendarFeed(SQLModel, table=True):
    """One per person: resetting the link replaces the row, so the old address dies."""

    __tablename__ = "calendar_feeds"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field()
