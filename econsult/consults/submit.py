"""Submitting a consult: validate, route, write consult + events + images in one
transaction, publish after commit."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import attachments as pdfs
from econsult.consults import clinical_intake, deadlines, image_intake, search
from econsult.consults.attachments import AttachmentUpload, StoredAttachment
from econsult.consults.clinical_intake import ClinicalIntake
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType
from econsult.consults.events import Recorder
from econsult.consults.image_intake import Upload
from econsult.consults.on_behalf import responsible_gp, responsible_gp_sync
from econsult.consults.routing_io import (
    load_specialty,
    load_specialty_sync,
    route,
    route_sync,
    targets_of,
)
from econsult.consults.stored_images import StoredImage, add_image_rows, image_rows
from econsult.consults.submission import SubmitInput, validate
from econsult.consults.views import SubmittedConsult, submitted_of
from econsult.db.precompiled import Precompiled
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import (
    Consult,
    ConsultAttachment,
    ConsultImage,
    ConsultSearchToken,
    ConsultState,
    IdempotentRequest,
    ImageLabel,
    Specialty,
    User,
)
from econsult.models.loaded import as_loaded
from econsult.routing.decision import Decision, DecisionKind
from econsult.routing.targets import Urgency
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require


def _named(outcome: str | None) -> dict[str, Any]:
    """The routed event's note of what became of the specialist the GP named."""
    return {"named": outcome} if outcome else {}


def _on_behalf(gp_id: int, user: Principal) -> dict[str, Any]:
    """The submitted event's note of the GP, when someone else (a delegate) sent it."""
    return {"on_behalf_of": gp_id} if gp_id != user.id else {}


async def existing_for_key(deps: ConsultDeps, user: Principal, key: str | None) -> str | None:
    if not key:
        return None
    rows = await deps.db.fetch(_EARLIER, {"user_id": user.id, "key": key})
    return str(rows[0][0]) if rows else None


_IDEMPOTENT = IdempotentRequest.__table__  # type: ignore[attr-defined]
_EARLIER = select(_IDEMPOTENT.c.consult_id).where(
    _IDEMPOTENT.c.user_id == bindparam("user_id"), _IDEMPOTENT.c.key == bindparam("key"))
_CONSULTS = Consult.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
_IMAGES = ConsultImage.__table__  # type: ignore[attr-defined]
_ATTACHMENTS = ConsultAttachment.__table__  # type: ignore[attr-defined]
_TOKENS = ConsultSearchToken.__table__  # type: ignore[attr-defined]
_INSERT_CONSULT = Precompiled(insert(_CONSULTS))
_INSERT_IDEMPOTENT = Precompiled(insert(_IDEMPOTENT))
_INSERT_TOKENS = Precompiled(insert(_TOKENS))
_INSERT_IMAGES = insert(_IMAGES)
_INSERT_ATTACHMENTS = insert(_ATTACHMENTS)
_STAMP_ASSIGNEE = Precompiled(update(_USERS).where(_USERS.c.id == bindparam("uid")).values(
    last_assigned_at=bindparam("at")))


def _values(table: Any, row: Any) -> dict[str, Any]:
    """An ORM row's column values, for a Core insert."""
    return {c.name: getattr(row, c.name) for c in table.columns}


async def submit(
    deps: ConsultDeps,
    user: Principal,
    data: SubmitInput,
    images: list[StoredImage],
    *,
    client_addr: str = "",
    attachments: list[StoredAttachment] | None = None,
    on_written: Callable[[AsyncSession, Consult], Awaitable[None]] | None = None,
) -> tuple[SubmittedConsult, bool]:
    """Returns (summary, created). A retry with the same Idempotency-Key returns the
    first consult and creates nothing. `on_written` runs inside the transaction once
    the consult row is written (a draft being sent claims itself there); whatever it
    raises rolls the whole submission back."""
    attachments = attachments or []
    require(user, Action.submit_consult)
    validate(data, deps.clock.now().astimezone(deps.settings.timezone).date())
    for image in images:
        if image.label not in ImageLabel.__members__:
            raise InvalidInput(
                "Image labels must be overview, close_up, dermoscopy or other.",
                field="image_labels",
            )
    earlier = await existing_for_key(deps, user, data.idempotency_key)
    if earlier:
        return await _replay(deps, user, earlier), False

    if clinical_intake.needs_lookup(data.clinical):
        async with deps.db.read() as db:
            intake = await clinical_intake.check(db, data.specialty, data.clinical)
    else:  # nothing to look up: no session
        intake = await clinical_intake.check(None, data.specialty, data.clinical)
    consult_id = str(uuid.uuid4())
    now = deps.clock.now()
    recorder = Recorder()
    try:
        if on_written is None:
            # The whole submission in one synchronous unit on the writer's connection:
            # on SQLite no thread hand-off while the write lock is free, one otherwise
            # (Database.run_write); on PostgreSQL one transaction of Core statements.
            consult = await deps.db.run_write(functools.partial(
                _write, deps, user, data, images, attachments, consult_id, now, intake,
                recorder, client_addr))
        else:
            consult = await _write_in_session(deps, user, data, images, attachments,
                                              consult_id, now, intake, recorder,
                                              client_addr, on_written)
    except IntegrityError:
        # A concurrent retry with the same key won the race: answer with its consult.
        earlier = await existing_for_key(deps, user, data.idempotency_key)
        if earlier is None and data.idempotency_key:
            # The GP or another of their delegates sent a consult with this key.
            raise Conflict("This Idempotency-Key was already used for another consult "
                           "of this GP; send a new key.", code="idempotency_key_reused") from None
        if earlier is None:
            raise
        return await _replay(deps, user, earlier), False
    await deps.publish(recorder.bus_events())
    deps.wake(deadlines.next_due(consult) or now)
    return submitted_of(consult, [i.public() for i in images],
                        [a.public() for a in attachments]), True


def _new_consult(deps: ConsultDeps, user: Principal, data: SubmitInput, consult_id: str,
                 now: datetime, gp_id: int, specialty: Specialty, decision: Decision,
                 intake: ClinicalIntake) -> Consult:
    """The consult row as routed, its patient fields sealed, its clocks started."""
    seal = deps.fields.seal
    details = {k: v.strip() for k, v in data.details.items() if v.strip()}
    target = targets_of(specialty)[Urgency(data.urgency)]
    assigned = decision.kind is DecisionKind.ASSIGN
    consult = as_loaded(Consult, {
        "id": consult_id,
        "gp_id": gp_id,
        "submitted_by": user.id,
        "specialty": specialty.slug,
        "urgency": data.urgency,
        "state": ConsultState.assigned if assigned else ConsultState.pooled,
        "assigned_to": decision.specialist_id,
        "idempotency_key": data.idempotency_key,
        "submitted_at": now,
        "updated_at": now,
        "patient_name": seal("consults", "patient_name", consult_id, data.patient_name.strip()),
        "patient_dob": seal("consults", "patient_dob", consult_id, data.patient_dob.strip()),
        "patient_health_number": seal(
            "consults", "patient_health_number", consult_id,
            data.patient_health_number.strip(),
        ),
        "question": seal("consults", "question", consult_id, data.question.strip()),
        "clinical_details": seal("consults", "clinical_details", consult_id,
                                 json.dumps(details)) if details else None,
    })
    clinical_intake.apply(consult, intake, deps.fields)
    deadlines.start_clocks(consult, target, now, deps.calendar, assigned=assigned)
    return consult


def _stage_events(recorder: Recorder, consult: Consult, user: Principal, data: SubmitInput,
                  gp_id: int, decision: Decision, now: datetime) -> None:
    assigned = decision.kind is DecisionKind.ASSIGN
    recorder.stage(consult, EventType.submitted, actor_id=user.id, at=now,
                   urgency=data.urgency, specialty=consult.specialty,
                   **_on_behalf(gp_id, user))
    recorder.stage(consult, EventType.assigned if assigned else EventType.pooled,
                   actor_id=None, at=now, reason=decision.reason,
                   tier=decision.tier.value if decision.tier else None,
                   **_named(decision.named))


def _audit_entry(user: Principal, consult_id: str, now: datetime, gp_id: int,
                 images: list[StoredImage], attachments: list[StoredAttachment],
                 client_addr: str) -> audit.Entry:
    return audit.Entry(
        Actor(user.id, user.email, client_addr), "consult.submit", now,
        object_type="consult", object_id=consult_id,
        detail=f"images={len(images)}"
        + (f" attachments={len(attachments)}" if attachments else "")
        + (f" on_behalf_of={gp_id}" if gp_id != user.id else ""),
    )


def _write(deps: ConsultDeps, user: Principal, data: SubmitInput, images: list[StoredImage],
           attachments: list[StoredAttachment], consult_id: str, now: datetime,
           intake: ClinicalIntake, recorder: Recorder, client_addr: str,
           conn: Connection) -> Consult:
    """The submission's transaction in Core on a synchronous connection: routing inputs
    read, consult, idempotency key, search tokens, photos and documents, the two events
    (one statement), the assignee's stamp, the audit entry (head read, insert, head
    moved). Everything is built before the first write that needs it."""
    specialty = load_specialty_sync(conn, data.specialty)
    decision = route_sync(conn, specialty=specialty, urgency=data.urgency, now=now,
                          tz=deps.settings.timezone, preferred=intake.specialist_id)
    gp_id = responsible_gp_sync(conn, user, data.gp)
    consult = _new_consult(deps, user, data, consult_id, now, gp_id, specialty, decision,
                           intake)
    _INSERT_CONSULT.run(conn, _values(_CONSULTS, consult))
    clinical_intake.remember_sync(conn, gp_id, specialty.slug, intake.specialist_id, now)
    if data.idempotency_key:
        _INSERT_IDEMPOTENT.run(conn, {"user_id": user.id, "key": data.idempotency_key,
                                          "consult_id": consult_id, "created_at": now})
    # Findable by name and health number (blind index, same transaction).
    _INSERT_TOKENS.run(conn, search.token_rows(
        deps.keyring, consult_id, name=data.patient_name.strip(),
        health_number=data.patient_health_number.strip()))
    if images:
        conn.execute(_INSERT_IMAGES, [_values(_IMAGES, r) for r in
                                      image_rows(consult_id, None, user.id, images, now)])
    if attachments:
        conn.execute(_INSERT_ATTACHMENTS, [
            _values(_ATTACHMENTS, r)
            for r in pdfs.rows_for(deps, consult_id, None, user.id, attachments, now)])
    _stage_events(recorder, consult, user, data, gp_id, decision, now)
    recorder.insert_staged(conn)
    if decision.kind is DecisionKind.ASSIGN:
        _STAMP_ASSIGNEE.run(conn, {"uid": decision.specialist_id, "at": now})
    audit.append_rows(conn, [_audit_entry(user, consult_id, now, gp_id, images,
                                          attachments, client_addr)])
    return consult


async def _write_in_session(
    deps: ConsultDeps, user: Principal, data: SubmitInput, images: list[StoredImage],
    attachments: list[StoredAttachment], consult_id: str, now: datetime,
    intake: ClinicalIntake, recorder: Recorder, client_addr: str,
    on_written: Callable[[AsyncSession, Consult], Awaitable[None]],
) -> Consult:
    """The same transaction in an AsyncSession, for a caller whose `on_written` works in
    one (a draft being sent)."""
    async with deps.db.write() as db:
        specialty = await load_specialty(db, data.specialty)
        decision = await route(
            db, specialty=specialty, urgency=data.urgency, now=now, tz=deps.settings.timezone,
            preferred=intake.specialist_id,
        )
        gp_id = await responsible_gp(db, user, data.gp)
        consult = _new_consult(deps, user, data, consult_id, now, gp_id, specialty, decision,
                               intake)
        db.add(consult)
        await clinical_intake.remember(db, gp_id, specialty.slug, intake.specialist_id, now)
        if data.idempotency_key:
            db.add(IdempotentRequest(user_id=user.id, key=data.idempotency_key,
                                     consult_id=consult_id, created_at=now))
        await db.flush()
        await db.execute(insert(ConsultSearchToken), search.token_rows(
            deps.keyring, consult_id, name=data.patient_name.strip(),
            health_number=data.patient_health_number.strip()))
        await on_written(db, consult)
        add_image_rows(db, deps, consult_id, None, user.id, images, now)
        pdfs.add_rows(db, deps, consult_id, None, user.id, attachments, now)
        if decision.kind is DecisionKind.ASSIGN:
            await db.execute(update(User).where(col(User.id) == decision.specialist_id)
                             .values(last_assigned_at=now))
        _stage_events(recorder, consult, user, data, gp_id, decision, now)
        for row, _, _ in recorder.rows:
            db.add(row)
        await db.flush()  # the ids order the timeline and are the clients' resume points
        await audit.append_many(db, [_audit_entry(user, consult_id, now, gp_id, images,
                                                  attachments, client_addr)])
    return consult


def authorize_submit(user: Principal) -> None:
    """Whether the caller may submit at all, decided before the request's body is read."""
    require(user, Action.submit_consult)


async def submit_with_photos(
    deps: ConsultDeps, user: Principal, data: SubmitInput, uploads: list[Upload],
    *, client_addr: str = "", attachments: list[AttachmentUpload] | None = None,
) -> tuple[SubmittedConsult, bool]:
    """Submission as the form sends it: cheap checks first (a bad form costs no image
    processing), photos processed and stored outside the transaction, and their blobs
    removed again if the consult is not written."""
    require(user, Action.submit_consult)
    validate(data, deps.clock.now().astimezone(deps.settings.timezone).date())
    image_intake.check_uploads(uploads)
    pdfs.check_count(attachments or [])
    async with deps.db.read() as db:  # for whom, before any photo is processed
        await responsible_gp(db, user, data.gp)
        await clinical_intake.check(db, data.specialty, data.clinical)
    if await existing_for_key(deps, user, data.idempotency_key):
        return await submit(deps, user, data, [], client_addr=client_addr)
    stored = await image_intake.ingest(deps, uploads)
    try:
        documents = await pdfs.ingest(deps, attachments or [])
    except BaseException:
        await image_intake.discard(deps, stored)
        raise
    try:
        return await submit(deps, user, data, stored, client_addr=client_addr,
                            attachments=documents)
    except BaseException:
        await image_intake.discard(deps, stored)
        await pdfs.discard(deps, documents)
        raise


async def _replay(deps: ConsultDeps, user: Principal, consult_id: str) -> SubmittedConsult:
    from econsult.consults.stored_images import public_images

    async with deps.db.read() as db:
        consult = await db.get(Consult, consult_id)
        if consult is None:
            raise NotFound("Not found.")
        require(user, Action.view, consult)
        images = await public_images(db, consult_id)
        documents = [pdfs.public_of(deps, row) for row in await pdfs.rows_of(db, consult_id)
                     if row.message_id is None]
    return submitted_of(consult, images, documents)
