"""Reading /fhir: search and read of every resource type, as the policy allows.

One read transaction finds the page of matching rows (`sources`), loads the records of
their consults in a fixed number of queries (`record.load_records`), and the pure
mappings build the resources, then the `_include`d ones. The caller's token must allow
searching the type (and reading every type it includes); the consults are those of the
GPs the client acts for. Every consult a result shows is audited with the client as
actor. A read is a search by `_id` that must find one resource, else 404.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.errors import NotFound
from econsult.interop.fhir import documents, people, questionnaires, sources, threads
from econsult.interop.fhir.bundles import Entry
from econsult.interop.fhir.query import (
    SearchQuery,
    check_params,
    encode_cursor,
    token,
)
from econsult.interop.fhir.service_requests import service_request
from econsult.interop.fhir.tasks import task
from econsult.interop.record import ConsultRecord, Person, load_people, load_records
from econsult.models import Consult
from econsult.security.audit import Actor
from econsult.security.audit import Entry as AuditEntry
from econsult.security.policy import Principal, require_scope, visible_consults


@dataclass(frozen=True, slots=True)
class FhirContext:
    base: str  # the absolute FHIR base URL, e.g. https://econsult.example.org/fhir
    health_number_system: str
    client_addr: str = ""


@dataclass(frozen=True, slots=True)
class SearchPage:
    entries: list[Entry]
    next_cursor: str | None


# _include -> the element of the resource that holds the reference(s).
_INCLUDE_PATHS = {
    "ServiceRequest:patient": "subject", "ServiceRequest:subject": "subject",
    "ServiceRequest:requester": "requester", "ServiceRequest:performer": "performer",
    "Task:focus": "focus", "Task:based-on": "basedOn", "Task:patient": "for",
    "Task:owner": "owner", "Task:requester": "requester",
    "Communication:based-on": "basedOn", "Communication:sender": "sender",
    "Communication:patient": "subject", "Communication:subject": "subject",
    "QuestionnaireResponse:based-on": "basedOn", "QuestionnaireResponse:patient": "subject",
    "QuestionnaireResponse:subject": "subject",
    "DocumentReference:related": "context.related", "DocumentReference:patient": "subject",
    "DocumentReference:subject": "subject",
    "PractitionerRole:practitioner": "practitioner",
}
_INCLUDE_TYPES = {"subject": "Patient", "for": "Patient", "requester": "PractitionerRole",
                  "performer": "PractitionerRole", "owner": "PractitionerRole",
                  "sender": "PractitionerRole", "focus": "ServiceRequest",
                  "basedOn": "ServiceRequest", "context.related": "ServiceRequest",
                  "practitioner": "Practitioner"}
_REFERENCE = re.compile(r"([A-Za-z]+)/([A-Za-z0-9.\-]{1,64})")


async def read(deps: ConsultDeps, user: Principal, ctx: FhirContext, resource_type: str,
               resource_id: str) -> dict[str, Any]:
    require_scope(user, resource_type, "read")
    query = SearchQuery(resource_type, params=(("_id", resource_id),), count=1)
    page = await _run(deps, user, ctx, query, action="fhir.read")
    if not page.entries:
        raise NotFound(f"{resource_type}/{resource_id} is not known here.")
    return page.entries[0].resource


async def search(deps: ConsultDeps, user: Principal, ctx: FhirContext,
                 query: SearchQuery) -> SearchPage:
    require_scope(user, query.resource_type, "search")
    check_params(query)
    for include in query.includes:
        require_scope(user, _INCLUDE_TYPES[_INCLUDE_PATHS[include]], "read")
    for include in query.revincludes:
        require_scope(user, include.split(":", 1)[0], "read")
    return await _run(deps, user, ctx, query, action="fhir.search")


async def _run(deps: ConsultDeps, user: Principal, ctx: FhirContext, query: SearchQuery,
               *, action: str) -> SearchPage:
    rt = query.resource_type
    async with deps.db.read() as db:
        patient_ids = None
        identifiers = [raw for name, raw in query.params if name == "patient.identifier"
                       or (rt == "Patient" and name == "identifier")]
        if identifiers:
            rows = (await db.execute(select(col(Consult.id), col(Consult.patient_health_number))
                                     .where(visible_consults(user)))).all()
            numbers = deps.fields.open_many("consults", "patient_health_number",
                                            ((r[0], r[1]) for r in rows))
            patient_ids = _matching(identifiers, ctx.health_number_system,
                                    {r[0]: n for r, n in zip(rows, numbers, strict=True)})
        statement = sources.statement(user, rt, sources.conditions(query, patient_ids))
        rows = [] if statement is None else list((await db.execute(_page(statement, query))).all())
        more = len(rows) > query.count
        rows = rows[:query.count]
        consult_ids = list(dict.fromkeys(r.cid for r in rows if r.cid))
        consults = list((await db.execute(
            select(Consult).where(col(Consult.id).in_(consult_ids)))).scalars())
        records = {r.id: r for r in await load_records(db, deps.fields, consults)}
        persons = await load_people(db, {int(r.rid) for r in rows if r.cid is None})
    matches = [resource for r in rows for resource in _build(r.kind, r.rid, r.cid, records,
                                                             persons, ctx)]
    matches = _post_filter(query, matches)
    included = _includes(query, matches, records, persons, ctx)
    entries = [Entry(m) for m in matches] + [Entry(i, "include") for i in included]
    await _audit(deps, user, ctx, action, rt, records, len(entries))
    last = rows[-1] if rows else None
    next_cursor = encode_cursor(last.ts, last.rid) if more and last is not None else None
    return SearchPage(entries, next_cursor)


def _page(statement: Select[Any], query: SearchQuery) -> Select[Any]:
    sub = statement.subquery()
    where = []
    for bound in query.last_updated:
        end = bound.at + bound.precision
        where.append({"ge": sub.c.ts >= bound.at, "gt": sub.c.ts >= end, "lt": sub.c.ts < bound.at,
                      "le": sub.c.ts < end,
                      "eq": and_(sub.c.ts >= bound.at, sub.c.ts < end)}[bound.prefix])
    if query.cursor is not None:
        at, rid = query.cursor
        where.append(or_(sub.c.ts > at, and_(sub.c.ts == at, sub.c.rid > rid)))
    return (select(sub.c.ts, sub.c.rid, sub.c.cid, sub.c.kind).where(*where)
            .order_by(sub.c.ts, sub.c.rid).limit(query.count + 1))


def _matching(identifiers: list[str], system: str, numbers: Mapping[str, str]) -> set[str]:
    """Consults whose health number matches every identifier parameter (each may list
    alternatives, comma-separated); spaces and hyphens are not significant."""
    found: set[str] | None = None
    for raw in identifiers:
        wanted = {_normal(code) for sys, code in map(token, raw.split(","))
                  if sys in (None, "", system)}
        ids = {cid for cid, number in numbers.items() if _normal(number) in wanted}
        found = ids if found is None else found & ids
    return found or set()


def _normal(number: str) -> str:
    return re.sub(r"[\s-]", "", number).upper()


def _build(kind: str, rid: str, cid: str | None, records: Mapping[str, ConsultRecord],
           persons: Mapping[int, Person], ctx: FhirContext) -> list[dict[str, Any]]:
    if cid is None:
        person = persons.get(int(rid))
        if person is None:
            return []
        return [people.practitioner(person) if kind == "Practitioner"
                else people.practitioner_role(person)]
    rec = records[cid]
    if kind == "ServiceRequest":
        return [service_request(rec)]
    if kind == "Task":
        return [task(rec)]
    if kind == "Patient":
        return [people.patient(rec, ctx.health_number_system)]
    if kind == "closeout":
        return questionnaires.closeout_survey(rec)
    if kind == "checklist":
        return questionnaires.checklist(rec)
    if kind == "answer":
        return [qr for qr in questionnaires.structured_answers(rec) if qr["id"] == rid]
    if kind == "header":
        return [threads.header(rec)]
    if kind == "message":
        return [threads.communication(rec, e) for e in threads.entries(rec)
                if e.message.id == rid]
    if kind == "photo":
        return [documents.photo(rec, i, ctx.base) for i in rec.all_images() if i.id == rid]
    if kind == "pdf":
        return [documents.pdf(rec, a, ctx.base) for a in rec.attachments
                if documents.attachment_id(a.id) == rid]
    if kind == "letter":
        return [documents.letter(rec, ctx.base)]
    raise AssertionError(kind)


def _post_filter(query: SearchQuery, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Communication's category that only the thread can tell (a GP message that
    replies to a clarification request), checked on the built resource."""
    if query.resource_type != "Communication":
        return matches
    for name, raw in query.params:
        if name == "category":
            codes = {code for _, code in map(token, raw.split(","))}
            matches = [m for m in matches
                       if m["category"][0]["coding"][0]["code"] in codes]
    return matches


def _includes(query: SearchQuery, matches: list[dict[str, Any]],
              records: Mapping[str, ConsultRecord], persons: Mapping[int, Person],
              ctx: FhirContext) -> list[dict[str, Any]]:
    seen = {(m["resourceType"], m["id"]) for m in matches}
    out: list[dict[str, Any]] = []

    def add(resource: dict[str, Any] | None) -> None:
        if resource is not None and (resource["resourceType"], resource["id"]) not in seen:
            seen.add((resource["resourceType"], resource["id"]))
            out.append(resource)

    for include in query.includes:
        for match in matches:
            for rt, rid in _references(match, _INCLUDE_PATHS[include]):
                add(_resolve(rt, rid, records, persons, ctx))
    if query.revincludes:
        for match in matches:
            if match["resourceType"] == "ServiceRequest" and match["id"] in records:
                add(task(records[match["id"]]))
    return out


def _references(resource: dict[str, Any], path: str) -> Iterable[tuple[str, str]]:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    for item in value if isinstance(value, list) else [value]:
        match = _REFERENCE.fullmatch(item.get("reference", "")) if isinstance(item, dict) else None
        if match:
            yield match[1], match[2]


def _resolve(rt: str, rid: str, records: Mapping[str, ConsultRecord],
             persons: Mapping[int, Person], ctx: FhirContext) -> dict[str, Any] | None:
    if rt in ("ServiceRequest", "Patient"):
        rec = records.get(rid)
        if rec is None:
            return None
        return (service_request(rec) if rt == "ServiceRequest"
                else people.patient(rec, ctx.health_number_system))
    person = persons.get(int(rid)) if rid.isdigit() else None
    if person is None:
        person = next((r.people[int(rid)] for r in records.values()
                       if rid.isdigit() and int(rid) in r.people), None)
    if person is None:
        return None
    return people.practitioner(person) if rt == "Practitioner" else people.practitioner_role(person)


async def _audit(deps: ConsultDeps, user: Principal, ctx: FhirContext, action: str, rt: str,
                 records: Mapping[str, ConsultRecord], count: int) -> None:
    # As every service records a principal: actor_id 0 (no person), email client:{id}.
    actor = Actor(user.id, user.email, ctx.client_addr)
    now = deps.clock.now()
    entries = [AuditEntry(actor, action, now, "consult", cid, detail=f"type={rt}")
               for cid in records] or [
        AuditEntry(actor, action, now, "fhir", rt, detail=f"count={count}")]
    await asyncio.gather(*(deps.audit.record_entry(e) for e in entries))

