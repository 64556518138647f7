"""What the driver records for each consult in each arm, and the windows it is judged by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from econsult.routing.targets import DEFAULT_TARGETS, Urgency
from econsult.routing.wallclock import require_aware

ACK_WINDOW = DEFAULT_TARGETS[Urgency.URGENT].acknowledge_within  # RACE-style 30 minutes
ONTARIO_WINDOW = timedelta(days=7)  # Ontario eConsult publishes % answered within 7 days
URGENCY_ORDER = (Urgency.URGENT, Urgency.SEMI_URGENT, Urgency.ROUTINE)


class Arm(StrEnum):
    POLICY = "policy"
    BASELINE = "baseline"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One consult in one arm. `within_target` None means not answered in the run
    (counted as not within). `specialist` is the final owner's label, None if nobody."""

    arm: Arm
    urgency: Urgency
    specialty: str
    submitted_at: datetime
    acknowledged_at: datetime | None
    first_response_at: datetime | None
    answered_at: datetime | None
    owner_at: datetime | None
    escalations: int
    specialist: str | None
    target_seconds: float
    within_target: bool | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arm", Arm(self.arm))
        object.__setattr__(self, "urgency", Urgency(self.urgency))
        for name in ("submitted_at", "acknowledged_at", "first_response_at",
                     "answered_at", "owner_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, require_aware(value, name))

    def seconds_to(self, moment: datetime | None) -> float | None:
        return None if moment is None else (moment - self.submitted_at).total_seconds()
