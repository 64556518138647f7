"""The on-call rota as staff enter it: weekly patterns, one-off shifts, absences."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import Time
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field


class RotaWeekly(SQLModel, table=True):
    __tablename__ = "rota_weekly"

    id: int | None = Field(default=None, primary_key=True)
    specialty: str = Field(foreign_key="specialties.slug", index=True, max_length=64)
    specialist_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    weekday: int
    start: time = Field(sa_type=Time())
    end: time = Field(sa_type=Time())
    tier: str = Field(max_length=16)
    created_at: datetime = utc_field()


class RotaShift(SQLModel, table=True):
    __tablename__ = "rota_shifts"

    id: int | None = Field(default=None, primary_key=True)
    specialty: str = Field(foreign_key="specialties.slug", index=True, max_length=64)
    specialist_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    starts_at: datetime = utc_field(index=True)
    ends_at: datetime = utc_field(index=True)
    tier: str = Field(max_length=16)
    created_at: datetime = utc_field()


class RotaAbsence(SQLModel, table=True):
    __tablename__ = "rota_absences"

    id: int | None = Field(default=None, primary_key=True)
    specialist_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    created_at: datetime = utc_field()
    # When the consults the specialist held as it started were handed back to routing
    # (None: not yet; the deadline scheduler claims it once it starts).
    handed_back_at: datetime | None = utc_field(nullable=True, index=True)
