"""Reading consults: the caller's list, and one consult's full thread.

Lists carry codes and times (plus the patient's name for the GP and specialist who
need it to recognise the case); the detail decrypts clinical content, and every such
view is written to the audit log.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlmodel import col

from econsult.consults.ids import is_uuid
from econsult.consults.services import Services
from econsult.consults.stored_images import public_image
from econsult.consults.views import (
    SUMMARY_COLUMNS,
    ConsultSummary,
    summary_of,
    summary_of_row,
)
from econsult.errors import InvalidInput, NotFound
from econsult.models import (
    OPEN_STATES,
    Consult,
    ConsultEvent,
    ConsultImage,
    ConsultState,
    Message,
    User,
    UserSpecialty,
)
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may

LIST_LIMIT = 500


@functools.cache
def _list_statement(role: str, by_state: bool) -> Any:
    """The list query for a role, built once (it runs on every queue refresh)."""
    clinical = role in ("gp", "specialist")
    columns = (*SUMMARY_COLUMNS, col(Consult.patient_name)) if clinical else SUMMARY_COLUMNS
    query = select(*columns)
    if role == "gp":
        query = query.where(col(Consult.gp_id) == bindparam("user_id"))
    elif role == "specialist":
        query = query.where(or_(
            col(Consult.assigned_to) == bindparam("user_id"),
            # The pool of the specialist's specialties (a subquery rather than a list
            # parameter, so the statement's SQL is compiled once, not per request).
            and_(col(Consult.state) == ConsultState.pooled.value,
                 col(Consult.specialty).in_(
                     select(col(UserSpecialty.specialty))
                     .where(col(UserSpecialty.user_id) == bindparam("user_id")))),
        ))
    if by_state:
        query = query.where(col(Consult.state) == bindparam("state"))
    elif role == "specialist":
        # A specialist's list is their queue: open consults, soonest due first. (Their
        # answered and closed ones, thousands after a year, are asked for by state;
        # mixed in, they would push open ones past the limit.)
        # (Equalities, not IN: an IN list is re-rendered at every execution.)
        query = query.where(or_(*(col(Consult.state) == state
                                  for state in sorted(s.value for s in OPEN_STATES))))
        return query.order_by(col(Consult.respond_due_at).asc().nulls_last(),
                              col(Consult.submitted_at)).limit(LIST_LIMIT)
    return query.order_by(col(Consult.submitted_at).desc()).limit(LIST_LIMIT)


async def list_for(svc: Services, user: Principal, *, state: str | None = None,
                   client_addr: str = "") -> list[ConsultSummary]:
    """The caller's consults, newest first (a GP's own; everything, for staff), or for
    a specialist their open queue by due time; `state` narrows to one state.
    At most LIST_LIMIT; patient names for the GP and specialist (audited)."""
    if state is not None and state not in ConsultState.__members__:
        raise InvalidInput(f"Unknown state {state!r}.", field="state")
    clinical = user.role in ("gp", "specialist")
    if user.role not in ("gp", "specialist", "staff"):
        return []
    rows = await svc.db.fetch(_list_statement(user.role, state is not None),
                              {"user_id": user.id, "state": state})
    result = [summary_of_row(row) for row in rows]
    if clinical:
        names = svc.fields.open_many("consults", "patient_name",
                                     ((row[0], row[-1]) for row in rows))
        for summary, name in zip(result, names, strict=True):
            summary["patient_name"] = name
    if clinical and rows:
        await audit.record(svc.db, actor=Actor(user.id, user.email, client_addr),
                           action="consult.list", at=svc.clock.now(),
                           detail=f"count={len(rows)}")
    return result


async def detail(svc: Services, user: Principal, consult_id: str,
                 client_addr: str = "") -> dict[str, Any]:
    """The whole thread for a GP or specialist allowed to see it (audited), or the
    codes-and-times view for staff."""
    if not is_uuid(consult_id):
        raise NotFound("Consult not found.")
    async with svc.db.read() as db:
        consult = await db.get(Consult, consult_id)
        if consult is None or not may(user, Action.view_meta, consult):
            raise NotFound("Consult not found.")
        clinical = may(user, Action.view, consult)
        events = list((await db.execute(select(ConsultEvent).where(
            col(ConsultEvent.consult_id) == consult_id).order_by(col(ConsultEvent.id))
        )).scalars())
        messages = list((await db.execute(select(Message).where(
            col(Message.consult_id) == consult_id).order_by(col(Message.created_at))
        )).scalars()) if clinical else []
        images = list((await db.execute(select(ConsultImage).where(
            col(ConsultImage.consult_id) == consult_id).order_by(col(ConsultImage.created_at))
        )).scalars()) if clinical else []
        people_ids = {consult.gp_id, consult.assigned_to, *(e.actor_id for e in events),
                      *(m.author_id for m in messages)} - {None}
        people = {u.id: u for u in (await db.execute(
            select(User).where(col(User.id).in_(people_ids)))).scalars()}
    out: dict[str, Any] = dict(summary_of(consult))
    out.update(
        gp={"id": consult.gp_id, "name": _name(people, consult.gp_id)},
        assignee=({"id": consult.assigned_to, "name": _name(people, consult.assigned_to)}
                  if consult.assigned_to else None),
        acknowledged_at=_iso(consult.acknowledged_at), answered_at=_iso(consult.answered_at),
        closed_at=_iso(consult.closed_at), outcome=consult.outcome,
        usefulness=consult.usefulness, minutes_spent=consult.minutes_spent,
        events=[{"id": e.id, "type": e.type, "actor": e.actor_id,
                 "actor_name": _name(people, e.actor_id) if e.actor_id else "system",
                 "at": e.at.isoformat(), **_safe_data(e.data)} for e in events],
    )
    if clinical:
        out.update(_clinical(svc, consult, messages, images, people))
        await audit.record(svc.db, actor=Actor(user.id, user.email, client_addr),
                           action="consult.view", at=svc.clock.now(),
                           object_type="consult", object_id=consult_id)
    return out


def _clinical(svc: Services, consult: Consult, messages: list[Message],
              images: list[ConsultImage], people: dict[int | None, User]) -> dict[str, Any]:
    open_ = svc.fields.open
    details = (json.loads(open_("consults", "clinical_details", consult.id,
                                consult.clinical_details)) if consult.clinical_details else {})
    by_message: dict[str | None, list[dict[str, Any]]] = {}
    for image in images:
        by_message.setdefault(image.message_id, []).append(public_image(image))
    return {
        "patient": {
            "name": open_("consults", "patient_name", consult.id, consult.patient_name),
            "dob": open_("consults", "patient_dob", consult.id, consult.patient_dob),
            "health_number": open_("consults", "patient_health_number", consult.id,
                                   consult.patient_health_number),
        },
        "question": open_("consults", "question", consult.id, consult.question),
        "details": details,
        "close_comment": (open_("consults", "close_comment", consult.id, consult.close_comment)
                          if consult.close_comment else None),
        "images": by_message.get(None, []),
        "messages": [
            {"id": m.id, "kind": m.kind, "author": m.author_id,
             "author_name": _name(people, m.author_id), "at": m.created_at.isoformat(),
             "minutes": m.minutes, "body": open_("messages", "body", m.id, m.body),
             "images": by_message.get(m.id, [])}
            for m in messages
        ],
    }


def _name(people: dict[int | None, User], user_id: int | None) -> str:
    user = people.get(user_id)
    return user.name if user else ""


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


_SAFE_EVENT_KEYS = frozenset({"reason", "tier", "previous_specialty", "converted_to", "kind",
                              "escalated", "urgency", "specialty"})


def _safe_data(raw: str) -> dict[str, Any]:
    data = json.loads(raw or "{}")
    return {k: v for k, v in data.items() if k in _SAFE_EVENT_KEYS}
