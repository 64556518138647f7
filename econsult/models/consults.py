"""Consults, their event timeline, messages and images.

Patient identifiers, the question, clinical details and message bodies are sealed
(SealedBytes); everything else here is timestamps, codes and ids, which is all the
queue, the dashboards and the exports need. Turnaround figures are kept in columns
updated at each transition, so the dashboard never has to replay events.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field
from econsult.models.types import SealedBytes


class ConsultState(StrEnum):
    assigned = "assigned"
    pooled = "pooled"
    in_review = "in_review"
    awaiting_gp = "awaiting_gp"
    answered = "answered"
    closed = "closed"
    cancelled = "cancelled"


OPEN_STATES = frozenset({ConsultState.assigned, ConsultState.pooled, ConsultState.in_review,
                         ConsultState.awaiting_gp})


class Consult(SQLModel, table=True):
    __tablename__ = "consults"
    __table_args__ = (
        UniqueConstraint("gp_id", "idempotency_key"),
        Index("ix_consults_assigned_to_state", "assigned_to", "state"),
        # The dashboard's filters and aggregates (bench/turnaround.py: 41 s -> ~0.3 s at
        # 1M consults): counts covered by one index, percentiles walked in index order.
        Index("ix_consults_turnaround_counts", "specialty", "urgency", "submitted_at", "state",
              "seconds_to_answer", "within_target", "outcome", "usefulness"),
        Index("ix_consults_turnaround_rank", "specialty", "urgency", "seconds_to_answer",
              "submitted_at"),
        Index("ix_consults_answer_order", "seconds_to_answer", "submitted_at", "specialty",
              "urgency"),
        # Counts over most consults group by these flags too, in this index's order: one
        # walk, no sort, two aggregates per row (turnaround.aggregates._flag_counts).
        Index("ix_consults_turnaround_flags", "specialty", "urgency", "within_target",
              "outcome", "usefulness", "submitted_at", "seconds_to_answer"),
        # Open consults are few: "open / at risk / breached now" reads only them.
        Index("ix_consults_open_now", "state", "specialty", "urgency", "submitted_at",
              "at_risk_at", "breached_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    gp_id: int = Field(foreign_key="users.id", index=True)  # the responsible clinician
    # Who sent it: the GP, or a delegate on the GP's behalf (None: sent before delegates).
    submitted_by: int | None = Field(default=None, foreign_key="users.id")
    specialty: str = Field(foreign_key="specialties.slug", max_length=64)
    urgency: str = Field(max_length=16)
    state: str = Field(max_length=16, index=True)
    assigned_to: int | None = Field(default=None, foreign_key="users.id")
    idempotency_key: str | None = Field(default=None, max_length=128)
    submitted_at: datetime = utc_field(index=True)
    updated_at: datetime = utc_field(index=True)  # turnaround rollups find changes by it

    patient_name: bytes = Field(sa_type=SealedBytes())
    patient_dob: bytes = Field(sa_type=SealedBytes())
    patient_health_number: bytes = Field(sa_type=SealedBytes())
    question: bytes = Field(sa_type=SealedBytes())
    clinical_details: bytes | None = Field(default=None, sa_type=SealedBytes())

    # Deadlines the scheduler watches (None when not running, e.g. while awaiting the GP).
    ack_due_at: datetime | None = utc_field(nullable=True, index=True)
    respond_due_at: datetime | None = utc_field(nullable=True, index=True)
    at_risk_due_at: datetime | None = utc_field(nullable=True, index=True)
    # Who has already been offered it in this round of escalation (JSON list of ids).
    escalation_tried: str = Field(default="[]", max_length=2000)
    escalations: int = Field(default=0)
    reroutes: int = Field(default=0)

    # Turnaround, maintained at each transition.
    acknowledged_at: datetime | None = utc_field(nullable=True)
    first_response_at: datetime | None = utc_field(nullable=True)
    answered_at: datetime | None = utc_field(nullable=True)
    closed_at: datetime | None = utc_field(nullable=True)
    cancelled_at: datetime | None = utc_field(nullable=True)
    paused_since: datetime | None = utc_field(nullable=True)
    paused_seconds: float = Field(default=0.0)
    seconds_to_answer: float | None = Field(default=None)
    target_seconds: float | None = Field(default=None)
    within_target: bool | None = Field(default=None)
    at_risk_at: datetime | None = utc_field(nullable=True)
    breached_at: datetime | None = utc_field(nullable=True)

    minutes_spent: int | None = Field(default=None)
    converted_to: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=32)
    usefulness: int | None = Field(default=None)
    close_comment: bytes | None = Field(default=None, sa_type=SealedBytes())

    # Clinical content (issue 16): the reason for referral and the checklist version it
    # was answered against (models/clinical.py), the sealed answers, and what every
    # consult records about the patient; the specialist the GP asked for, if any.
    reason: str | None = Field(default=None, max_length=64)
    checklist_version: int | None = Field(default=None)
    checklist_answers: bytes | None = Field(default=None, sa_type=SealedBytes())
    patient_sex: bytes | None = Field(default=None, sa_type=SealedBytes())
    medications: bytes | None = Field(default=None, sa_type=SealedBytes())
    allergies: bytes | None = Field(default=None, sa_type=SealedBytes())
    requested_specialist_id: int | None = Field(default=None, foreign_key="users.id")


class ConsultEvent(SQLModel, table=True):
    """The timeline: one row per transition, append-only. Ids only grow, so a
    client that saw event N can ask for everything after N."""

    __tablename__ = "consult_events"

    id: int | None = Field(default=None, primary_key=True)
    consult_id: str = Field(foreign_key="consults.id", index=True, max_length=36)
    type: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    at: datetime = utc_field(index=True)
    # Non-clinical facts about the step (from/to assignee, state, reason code), JSON.
    data: str = Field(default="{}", max_length=4000)


class MessageKind(StrEnum):
    message = "message"
    clarification_request = "clarification_request"
    answer = "answer"
    addendum = "addendum"  # the specialist adds to an answer; the consult stays answered


class Message(SQLModel, table=True):
    __tablename__ = "messages"

    id: str = Field(primary_key=True, max_length=36)
    consult_id: str = Field(foreign_key="consults.id", index=True, max_length=36)
    author_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=32)
    body: bytes = Field(sa_type=SealedBytes())
    minutes: int | None = Field(default=None)
    created_at: datetime = utc_field()


class ImageLabel(StrEnum):
    overview = "overview"
    close_up = "close_up"
    dermoscopy = "dermoscopy"
    other = "other"


class ConsultImage(SQLModel, table=True):
    """An image's metadata. Its pixels live only in the encrypted blob store, under
    blob keys derived from the id; `kek_id` mirrors the blob header so rotation and
    retirement can find what a KEK still wraps."""

    __tablename__ = "consult_images"

    id: str = Field(primary_key=True, max_length=36)
    consult_id: str = Field(foreign_key="consults.id", index=True, max_length=36)
    message_id: str | None = Field(default=None, foreign_key="messages.id", max_length=36)
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


class IdempotentRequest(SQLModel, table=True):
    """The first answer to a request made with an Idempotency-Key, replayed to retries."""

    __tablename__ = "idempotent_requests"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=128)
    consult_id: str = Field(foreign_key="consults.id", max_length=36)
    created_at: datetime = utc_field()
