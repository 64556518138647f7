"""Bundles (a page of search results, the answer to a transaction) and OperationOutcome,
the body of every error /fhir answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from econsult.interop.fhir.codes import CANONICAL, coding, instant

CS_ERROR = f"{CANONICAL}/CodeSystem/error-code"
# HTTP status -> FHIR issue-type (http://hl7.org/fhir/issue-type).
_ISSUE_TYPE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 406: "not-supported", 409: "conflict",
               410: "not-found", 413: "too-costly", 415: "not-supported",
               422: "processing", 429: "throttled"}


def operation_outcome(status: int, message: str, *, code: str = "",
                      expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_TYPE.get(status, "exception"),
        "diagnostics": message,
    }
    if code:
        issue["details"] = {"coding": [coding(CS_ERROR, code)], "text": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


@dataclass(frozen=True, slots=True)
class Entry:
    resource: dict[str, Any]
    mode: str = "match"  # or "include"


def searchset(base: str, entries: Sequence[Entry], *, self_url: str, next_url: str | None,
              now: datetime) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(now),
        "link": links,
        "entry": [{"fullUrl": full_url(base, e.resource), "resource": e.resource,
                   "search": {"mode": e.mode}} for e in entries],
    }


def full_url(base: str, resource: dict[str, Any]) -> str:
    return f"{base}/{resource['resourceType']}/{resource['id']}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one entry of a transaction did: its location and whether it was created."""

    resource_type: str
    resource_id: str
    created: bool
    last_modified: datetime


def transaction_response(outcomes: Sequence[Outcome], now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "timestamp": instant(now),
        "entry": [{"response": {
            "status": "201 Created" if o.created else "200 OK",
            # No version ids: econsult does not keep resource history (no vread).
            "location": f"{o.resource_type}/{o.resource_id}",
            "lastModified": instant(o.last_modified),
        }} for o in outcomes],
    }
