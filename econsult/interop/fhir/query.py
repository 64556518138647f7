"""What /fhir can be searched by, and the FHIR value syntax of those parameters.

The face parses the query string into a `SearchQuery` (controls typed, the rest as
(name, value) pairs); the search service checks the pairs against `SEARCH_PARAMS`, so an
unsupported parameter is refused (400) rather than silently ignored, as FHIR asks of a
server that is not told `handling=lenient`. The CapabilityStatement is built from the
same tables.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from econsult.errors import InvalidInput

DEFAULT_COUNT, MAX_COUNT = 50, 200


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # FHIR search parameter type: token, reference, date
    documentation: str


_PATIENT = (Param("patient", "reference", "Patient/{id} (the consult's patient)"),
            Param("patient.identifier", "token", "The patient's health number, system|value"))
_ID = Param("_id", "token", "The resource id")
SEARCH_PARAMS: dict[str, tuple[Param, ...]] = {
    "ServiceRequest": (
        _ID, *_PATIENT, Param("subject", "reference", "Same as patient"),
        Param("identifier", "token", "urn:ietf:rfc:3986|urn:uuid:{id}"),
        Param("status", "token", "active | completed | revoked"),
        Param("requester", "reference", "PractitionerRole/{gp}"),
        Param("performer", "reference", "PractitionerRole/{specialist}"),
    ),
    "Task": (
        _ID, *_PATIENT, Param("focus", "reference", "ServiceRequest/{id}"),
        Param("based-on", "reference", "ServiceRequest/{id}"),
        Param("status", "token", "requested | in-progress | on-hold | completed | cancelled"),
        Param("business-status", "token", "Our consult state (CodeSystem consult-state)"),
        Param("owner", "reference", "PractitionerRole/{specialist}"),
        Param("requester", "reference", "PractitionerRole/{gp}"),
    ),
    "Communication": (
        _ID, *_PATIENT, Param("subject", "reference", "Same as patient"),
        Param("based-on", "reference", "ServiceRequest/{id}: one consult's thread"),
        Param("part-of", "reference", "Communication/{consult id}: the thread header"),
        Param("category", "token", "message | clarification-request | "
                                   "clarification-response | answer | reroute | thread"),
    ),
    "QuestionnaireResponse": (
        _ID, *_PATIENT, Param("subject", "reference", "Same as patient"),
        Param("based-on", "reference", "ServiceRequest/{id}"),
    ),
    "DocumentReference": (
        _ID, *_PATIENT, Param("subject", "reference", "Same as patient"),
        Param("related", "reference", "ServiceRequest/{id}"),
        Param("category", "token", "photo | letter | document (a PDF; CodeSystem "
                                                "attachment-kind)"),
    ),
    "Patient": (_ID, Param("identifier", "token", "The health number, system|value")),
    "Practitioner": (_ID,),
    "PractitionerRole": (_ID, Param("practitioner", "reference", "Practitioner/{id}")),
}
COMMON_PARAMS = (Param("_lastUpdated", "date", "ge, gt, le, lt or eq (default) a date or "
                                               "instant; results come oldest change first"),)
INCLUDES: dict[str, tuple[str, ...]] = {
    "ServiceRequest": ("ServiceRequest:patient", "ServiceRequest:subject",
                       "ServiceRequest:requester", "ServiceRequest:performer"),
    "Task": ("Task:focus", "Task:based-on", "Task:patient", "Task:owner", "Task:requester"),
    "Communication": ("Communication:based-on", "Communication:sender",
                      "Communication:patient", "Communication:subject"),
    "QuestionnaireResponse": ("QuestionnaireResponse:based-on",
                              "QuestionnaireResponse:patient",
                              "QuestionnaireResponse:subject"),
    "DocumentReference": ("DocumentReference:related", "DocumentReference:patient",
                          "DocumentReference:subject"),
    "Patient": (),
    "Practitioner": (),
    "PractitionerRole": ("PractitionerRole:practitioner",),
}
REVINCLUDES: dict[str, tuple[str, ...]] = {"ServiceRequest": ("Task:focus", "Task:based-on")}
SEARCHABLE = frozenset(SEARCH_PARAMS)


@dataclass(frozen=True, slots=True)
class DateBound:
    """One _lastUpdated condition: prefix ge|gt|le|lt|eq, at an instant, `precision` long
    (a day for a date, a second for a date-time), so eq means that day or that second."""

    prefix: str
    at: datetime
    precision: timedelta


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    last_updated: tuple[DateBound, ...] = ()
    includes: tuple[str, ...] = ()
    revincludes: tuple[str, ...] = ()
    count: int = DEFAULT_COUNT
    cursor: tuple[datetime, str] | None = None


def check_params(query: SearchQuery) -> None:
    known = {p.name for p in SEARCH_PARAMS[query.resource_type]}
    for name, _ in query.params:
        if name not in known:
            raise InvalidInput(f"{query.resource_type} cannot be searched by {name!r} here; "
                               f"it takes {', '.join(sorted(known | {'_lastUpdated'}))}.",
                               code="unsupported_parameter", field=name)
    for include in query.includes:
        if include not in INCLUDES[query.resource_type]:
            raise InvalidInput(f"_include={include} is not supported on "
                               f"{query.resource_type}.", code="unsupported_include",
                               field="_include")
    for include in query.revincludes:
        if include not in REVINCLUDES.get(query.resource_type, ()):
            raise InvalidInput(f"_revinclude={include} is not supported on "
                               f"{query.resource_type}.", code="unsupported_include",
                               field="_revinclude")


def reference_id(value: str, resource_type: str, name: str) -> str:
    """The id in `Type/id`, `id` or an absolute `.../Type/id`."""
    text = value.strip()
    if "/" in text:
        parts = text.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != resource_type:
            raise InvalidInput(f"{name} must reference a {resource_type}.", field=name)
        text = parts[-1]
    if not text:
        raise InvalidInput(f"{name} needs a value.", field=name)
    return text


def token(value: str) -> tuple[str | None, str]:
    """(system, code) of `system|code`, `|code` (no system) or `code` (any system)."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


def encode_cursor(at: datetime, resource_id: str) -> str:
    raw = json.dumps([at.isoformat(), resource_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, resource_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(resource_id, str):
            raise ValueError
    except (ValueError, TypeError):
        raise InvalidInput("The _cursor is not one this server gave out; start the search "
                           "again.", code="bad_cursor", field="_cursor") from None
    return moment, resource_id
