"""The caller's consults as pages: filters, search and keyset cursors.

`GET /api/v1/consults` and the list pages read here. Which consults a caller sees is
the policy's `visible_consults`; a filter or a search only narrows it (so `q` cannot
find another GP's patient). Order is stable and total (ties broken by id), and the
cursor is the last row's sort key, so a page never repeats or skips a row while
consults arrive.

Two orders:
- the specialist's queue (no state asked for): their open consults and their pools',
  soonest due first, then those with the clock paused;
- everyone else, and a specialist asking for states: what needs the caller's action
  first, then open, then finished; newest first within each (staff: newest first).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased
from sqlmodel import col

from econsult.consults import search
from econsult.consults.deps import ConsultDeps
from econsult.consults.views import (
    LIST_PEOPLE_COLUMNS,
    SUMMARY_COLUMNS,
    ClinicalListItem,
    ConsultSummary,
    list_item_of_row,
    summary_of_row,
)
from econsult.errors import InvalidInput, PermissionDenied
from econsult.models import (
    OPEN_STATES,
    Consult,
    ConsultEvent,
    ConsultImage,
    ConsultState,
    Role,
    User,
)
from econsult.routing.wallclock import to_instant
from econsult.security.audit import Actor
from econsult.security.policy import (
    Principal,
    consult_filter,
    sees_patient_names,
    visible_consults,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
PREVIEW_CHARS = 90
S = ConsultState
_FINISHED = (S.closed.value, S.cancelled.value)
_ALL_STATES = tuple(s.value for s in S)


@dataclass(frozen=True)
class ListQuery:
    states: tuple[str, ...] = ()  # empty: the default (a specialist's queue: open ones)
    specialty: str | None = None
    q: str | None = None
    needs_action: bool = False
    submitted_from: date | None = None
    submitted_to: date | None = None  # inclusive
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(slots=True)
class ConsultListRow(ClinicalListItem):
    """A clinician's list row: the list item and what a queue row shows at a glance."""

    gp_name: str = ""
    patient_age: int | None = None
    question_preview: str = ""
    photo_count: int = 0
    follow_up: bool = False  # the GP followed up on an answer
    assignee_name: str = ""


@dataclass(slots=True)
class ConsultPage:
    consults: list[ConsultSummary]
    next_cursor: str | None


def parse_states(raw: str | None) -> tuple[str, ...]:
    """`state=` as given: one state, several separated by commas, or "all"."""
    if raw is None or not raw.strip():
        return ()
    if raw.strip() == "all":
        return _ALL_STATES
    found = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    for s in found:
        if s not in _ALL_STATES:
            raise InvalidInput(f"Unknown state {s!r}: use one of {', '.join(_ALL_STATES)} "
                               "or all.", field="state")
    return found


def _rank(role: Role) -> ColumnElement[int]:
    """0: waits for the caller; 1: open; 2: finished."""
    state = col(Consult.state)
    if role is Role.specialist:
        mine = (S.assigned.value, S.in_review.value)
        return case((state.in_(mine), 0), (state.in_(_FINISHED + (S.answered.value,)), 2),
                    else_=1)
    if role is Role.staff:
        flagged = or_(col(Consult.at_risk_at).is_not(None), col(Consult.breached_at).is_not(None))
        return case((state.in_(_FINISHED + (S.answered.value,)), 2), (flagged, 0), else_=1)
    waiting = (S.awaiting_gp.value, S.answered.value)
    return case((state.in_(waiting), 0), (state.in_(_FINISHED), 2), else_=1)


@dataclass(frozen=True)
class _Key:
    expr: Any
    ascending: bool
    kind: str  # "int", "time" or "id"


def _order(role: Role, queue: bool) -> list[_Key]:
    if queue:
        paused = case((col(Consult.respond_due_at).is_(None), 1), else_=0)
        due = func.coalesce(col(Consult.respond_due_at), col(Consult.submitted_at))
        return [_Key(paused, True, "int"), _Key(due, True, "time"),
                _Key(col(Consult.submitted_at), True, "time"), _Key(col(Consult.id), True, "id")]
    newest = [_Key(col(Consult.submitted_at), False, "time"), _Key(col(Consult.id), False, "id")]
    if role is Role.staff:
        # Everyone's consults (a million, after some years): newest first, read in index
        # order; what is at risk comes with needs_action=1 (the worklist has the rest).
        return newest
    return [_Key(_rank(role), True, "int"), *newest]


def _encode(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, keys: list[_Key]) -> list[Any]:
    bad = InvalidInput("The cursor is not one this list gave out; start again without it.",
                       code="bad_cursor", field="cursor")
    if len(cursor) > 400:
        raise bad
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(values, list) or len(values) != len(keys):
        raise bad
    out: list[Any] = []
    for key, value in zip(keys, values, strict=True):
        if (key.kind == "int" and isinstance(value, int) and not isinstance(value, bool)
                and 0 <= value <= 9):  # ranks and flags
            out.append(value)
        elif key.kind == "id" and isinstance(value, str) and len(value) <= 36:
            out.append(value)
        elif key.kind == "time" and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None or not 1900 <= moment.year <= 2199:
                    raise bad
                out.append(moment.astimezone(UTC))
            except (ValueError, OverflowError):
                raise bad from None
        else:
            raise bad
    return out


def _after(keys: list[_Key], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (keyset paging)."""
    options = []
    for i, key in enumerate(keys):
        equal = [k.expr == v for k, v in zip(keys[:i], values[:i], strict=True)]
        step = key.expr > values[i] if key.ascending else key.expr < values[i]
        options.append(and_(*equal, step))
    return or_(*options)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return to_instant(day, time(0), tz).astimezone(UTC)


def _open() -> ColumnElement[bool]:
    # Equalities, not IN: an IN list is re-rendered at every execution.
    return or_(*(col(Consult.state) == s for s in sorted(s.value for s in OPEN_STATES)))


def _statement(keys: list[_Key], where: list[ColumnElement[bool]], clinical: bool,
               limit: int) -> Any:
    """The list's select: summary columns (and, for clinicians, the sealed fields and
    what a row shows at a glance), then the sort key, in the order of `keys`."""
    assignee = aliased(User)
    columns: list[Any] = list(SUMMARY_COLUMNS)
    if clinical:
        columns += [*LIST_PEOPLE_COLUMNS, col(Consult.patient_name), col(Consult.patient_dob),
                    col(Consult.question),
                    select(col(User.name)).where(col(User.id) == col(Consult.gp_id))
                    .scalar_subquery(),
                    select(func.count()).select_from(ConsultImage)
                    .where(col(ConsultImage.consult_id) == col(Consult.id)).scalar_subquery(),
                    exists().where(col(ConsultEvent.consult_id) == col(Consult.id),
                                   col(ConsultEvent.type) == "follow_up"),
                    select(col(assignee.name)).where(col(assignee.id) == col(Consult.assigned_to))
                    .scalar_subquery()]
    columns += [k.expr.label(f"_k{i}") for i, k in enumerate(keys)]
    return (select(*columns).where(and_(true(), *where))
            .order_by(*(k.expr.asc() if k.ascending else k.expr.desc() for k in keys))
            .limit(limit + 1))


@functools.cache
def _first_page(role: Role, clinical: bool, queue: bool, limit: int) -> Any:
    """The unfiltered first page (a queue's refresh, the list page), built once per
    role: the viewer is the bind parameter ``viewer_id`` of `consult_filter`."""
    where = [consult_filter(role), *([_open()] if queue else [])]
    return _statement(_order(role, queue), where, clinical, limit)


def _filters(deps: ConsultDeps, user: Principal, query: ListQuery,
             queue: bool) -> list[ColumnElement[bool]]:
    where = [visible_consults(user)]
    state = col(Consult.state)
    if queue:
        where.append(_open())
    elif query.states:
        where.append(state.in_(query.states))
    if query.specialty:
        where.append(col(Consult.specialty) == query.specialty)
    if query.needs_action:
        where.append(_rank(user.role) == 0)
    tz = deps.settings.timezone
    if query.submitted_from:
        where.append(col(Consult.submitted_at) >= _day_start(query.submitted_from, tz))
    if query.submitted_to:
        where.append(col(Consult.submitted_at)
                     < _day_start(query.submitted_to + timedelta(days=1), tz))
    if query.q is not None:
        where.append(search.matching(deps.keyring, query.q))
    return where


def _age(dob: str, today: date) -> int | None:
    try:
        born = date.fromisoformat(dob)
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _preview(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= PREVIEW_CHARS else line[:PREVIEW_CHARS - 1].rstrip() + "…"


async def page_for(deps: ConsultDeps, user: Principal, query: ListQuery, *,
                   client_addr: str = "") -> ConsultPage:
    """One page of the caller's consults. Clinicians (and delegates) get the patient's
    name, age and a one-line preview of the question (audited); staff codes and times."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}.", field="limit")
    if query.specialty is not None and not (0 < len(query.specialty) <= 64):
        raise InvalidInput("Unknown specialty.", field="specialty")
    if (query.submitted_from and query.submitted_to
            and query.submitted_from > query.submitted_to):
        raise InvalidInput("from must not be after to.", field="from")
    if query.q is not None and not sees_patient_names(user):
        # Staff see codes and times: a search by patient would tell them who is whose.
        raise PermissionDenied("Searching by patient is for the clinicians on a consult.",
                               code="search_not_allowed")
    queue = user.role is Role.specialist and not query.states
    keys = _order(user.role, queue)
    after = _decode(query.cursor, keys) if query.cursor else None
    clinical = sees_patient_names(user)
    if (after is None and user.active and user.client_id is None
            and query == ListQuery(limit=query.limit)):
        # The unfiltered first page, the hot path (every queue refresh): built once.
        statement = _first_page(user.role, clinical, queue, query.limit)
        params: dict[str, Any] = {"viewer_id": user.id}
    else:
        where: list[ColumnElement[bool]] = (_filters(deps, user, query, queue)
                                            if user.active else [false()])
        if after is not None:
            where.append(_after(keys, after))
        statement, params = _statement(keys, where, clinical, query.limit), {}
    async with deps.db.read() as db:
        rows = (await db.execute(statement, params)).all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    next_cursor = None
    if more and rows:
        tail = rows[-1][len(rows[-1]) - len(keys):]
        next_cursor = _encode([_as_key(v, k) for v, k in zip(tail, keys, strict=True)])
    if not clinical:
        return ConsultPage([summary_of_row(row) for row in rows], next_cursor)
    n = len(SUMMARY_COLUMNS) + len(LIST_PEOPLE_COLUMNS)
    opened = deps.fields.open
    today = deps.clock.now().astimezone(deps.settings.timezone).date()
    items: list[ConsultSummary] = []
    for row in rows:
        cid = row[0]
        base = list_item_of_row(row, opened("consults", "patient_name", cid, row[n]))
        items.append(ConsultListRow(
            **{f.name: getattr(base, f.name) for f in fields(base)},
            gp_name=row[n + 3] or "",
            patient_age=_age(opened("consults", "patient_dob", cid, row[n + 1]), today),
            question_preview=_preview(opened("consults", "question", cid, row[n + 2])),
            photo_count=int(row[n + 4] or 0), follow_up=bool(row[n + 5]),
            assignee_name=row[n + 6] or ""))
    if rows:
        await deps.audit.record(actor=Actor(user.id, user.email, client_addr),
                                action="consult.list", at=deps.clock.now(),
                                detail=f"count={len(rows)}" + (" search" if query.q else ""))
    return ConsultPage(items, next_cursor)


def _as_key(value: Any, key: _Key) -> Any:
    if key.kind == "time":
        if isinstance(value, str):  # SQLite hands over the stored text
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return int(value) if key.kind == "int" else str(value)
