"""What staff add to a rota, as typed values: a one-off shift, a weekly pattern (in the
program's time zone), or an absence. The faces (JSON API, rota page) parse requests
into these; the rota service only ever sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from econsult.routing.rota import Tier


@dataclass(frozen=True)
class ShiftInput:
    specialist: str  # email
    starts_at: datetime  # aware
    ends_at: datetime
    tier: Tier


@dataclass(frozen=True)
class WeeklyInput:
    specialist: str
    weekday: int  # 0 = Monday
    start: time  # wall-clock in the program's zone; an end at or before it runs past midnight
    end: time
    tier: Tier


@dataclass(frozen=True)
class AbsenceInput:
    specialist: str
    starts_at: datetime
    ends_at: datetime


RotaEntry = ShiftInput | WeeklyInput | AbsenceInput
# The kinds of rota rows, by the name used in URLs, forms and audit entries.
KINDS = ("shift", "weekly", "absence")
