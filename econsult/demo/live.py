"""A few consults in flight now, so the demo's staff work list has work on it.

The history (`demo.history`) is consults that ran their course; these are sent through
the real submission and steps, at moments in the last few days, then the deadline
pass runs at the real now: an urgent consult breached in review, an urgent one nobody
acknowledged (escalated), a routine one left in the pool past its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from econsult.clock import ManualClock, SystemClock
from econsult.config import Settings
from econsult.consults.escalation import process_due
from econsult.consults.lifecycle import acknowledge
from econsult.consults.submission import SubmitInput
from econsult.consults.submit import submit
from econsult.db import Database
from econsult.images.blobstores import blob_store_for
from econsult.images.store import BlobStore
from econsult.images.workers import ImageWorkers
from econsult.models import Role
from econsult.realtime.events import BusEvent
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring, load_keyring
from econsult.security.policy import Principal
from econsult.turnaround.calendar import BusinessCalendar, program_calendar

QUESTION = "Synthetic demo consult in flight ({what}): advice on management, please."


@dataclass
class _Deps:
    """What the consult services need, for a seeding run with no server (and no one
    listening: events are dropped, the scheduler is not running)."""

    settings: Settings
    db: Database
    keyring: Keyring
    fields: FieldCipher
    clock: ManualClock
    calendar: BusinessCalendar
    workers: ImageWorkers
    blobs: BlobStore
    audit: GroupRecorder
    published: list[BusEvent] = field(default_factory=list)

    async def publish(self, events: Sequence[BusEvent]) -> None:
        self.published.extend(events)

    def wake(self, when: datetime) -> None:
        return None


async def seed_in_flight(db: Database, settings: Settings, users: dict[str, int]) -> int:
    """Send the consults; returns how many."""
    now = SystemClock().now()
    keyring = load_keyring(settings.master_key, settings.key_file)
    workers = ImageWorkers(kind="thread", size=1)
    deps = _Deps(settings, db, keyring, FieldCipher(keyring), ManualClock(now),
                 program_calendar(settings), workers, blob_store_for(settings),
                 GroupRecorder(db))
    gp = Principal(users["gp@demo.econsult.org"], Role.gp, email="gp@demo.econsult.org")
    derm = Principal(users["derm1@demo.econsult.org"], Role.specialist,
                     specialties=frozenset({"dermatology"}), email="derm1@demo.econsult.org")
    plan = (  # (how long ago, specialty, urgency, acknowledged by derm1)
        (timedelta(hours=3), "dermatology", "urgent", True),
        (timedelta(minutes=50), "cardiology", "urgent", False),
        (timedelta(days=3), "dermatology", "routine", False),
    )
    try:
        for ago, specialty, urgency, acknowledged in plan:
            deps.clock.set(now - ago)
            sent, _ = await submit(deps, gp, SubmitInput(
                specialty=specialty, urgency=urgency,
                question=QUESTION.format(what=f"{urgency} {specialty}"),
                patient_name="Robin Demo", patient_dob="1970-01-01",
                patient_health_number="9000 000 000"), [])
            if acknowledged and sent.assigned_to == derm.id:
                deps.clock.advance(timedelta(minutes=10))
                await acknowledge(deps, derm, sent.id)
        deps.clock.set(now)
        await process_due(deps, now)
    finally:
        workers.shutdown(wait=True)
    return len(plan)
