"""Per-day turnaround rollups: the counts of each (UTC day of submission, specialty,
urgency), kept by `econsult.turnaround.rollups` so a dashboard range reads a few
hundred rows instead of every consult in it. Codes and counts only."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field

# On SQLite the rollup tables are stored in their primary key's order (WITHOUT ROWID),
# so a range of days is read from the key alone, not with a row lookup per entry
# (~2.4 us a row: 34 ms for a month of band rows at 10M consults).
CLUSTERED = {"sqlite_with_rowid": False}


class TurnaroundDay(SQLModel, table=True):
    __tablename__ = "turnaround_days"
    __table_args__ = CLUSTERED

    day: date = Field(primary_key=True)
    specialty: str = Field(primary_key=True, max_length=64)
    urgency: str = Field(primary_key=True, max_length=16)
    count: int = 0
    answered: int = 0
    within: int = 0
    outcomes: int = 0
    avoided: int = 0
    usefulness_n: int = 0
    usefulness_sum: int = 0


class RollupState(SQLModel, table=True):
    """One row: when the rollups were last rebuilt in full, and up to which
    `consults.updated_at` they include every change (the watermark)."""

    __tablename__ = "turnaround_rollup_state"

    id: int = Field(default=1, primary_key=True)
    built_at: datetime = utc_field()
    watermark: datetime = utc_field()


class TurnaroundDayBand(SQLModel, table=True):
    """Answered consults of a day and group per band of time to answer
    (`rollups.band_expr`): where a percentile's rank lies, so its exact value is sought
    among that band's consults of the range only."""

    __tablename__ = "turnaround_day_bands"
    __table_args__ = CLUSTERED

    day: date = Field(primary_key=True)
    specialty: str = Field(primary_key=True, max_length=64)
    urgency: str = Field(primary_key=True, max_length=16)
    band: int = Field(primary_key=True)
    n: int = 0


class TurnaroundMonthBand(SQLModel, table=True):
    """`TurnaroundDayBand` summed per calendar month of its UTC days (`month` is the
    first day): a long range's bands from one row per month and band, recomputed from
    the day rows of every month a refresh touches. Keyed by group and band first, so
    summing a range of months per group and band reads the key in order (no sort)."""

    __tablename__ = "turnaround_month_bands"
    # A few recent months (a short range's whole months) through this index instead.
    __table_args__ = (Index("ix_turnaround_month_bands_month", "month", "n"), CLUSTERED)

    specialty: str = Field(primary_key=True, max_length=64)
    urgency: str = Field(primary_key=True, max_length=16)
    band: int = Field(primary_key=True)
    month: date = Field(primary_key=True)
    n: int = 0
