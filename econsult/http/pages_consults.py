"""The GP's form and list, the specialist's queue and the consult thread (HTML).

Pages render what the caller may see now; the JS modules beside them keep it live
over /ws and act through the JSON API. Every view of clinical content goes through
the same query functions as the API, so it is audited the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import queries, specialties_service, states
from econsult.consults.services import Services
from econsult.consults.submit import DERMATOLOGY_FIELDS
from econsult.errors import NotFound
from econsult.http.api_consults import services
from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.templating import render
from econsult.models import ConsultEvent, ConsultState, ImageLabel, User
from econsult.routing.targets import Urgency, urgencies_for
from econsult.security.policy import Action, Principal, may

QUEUE_STATES = ("assigned", "pooled", "in_review", "awaiting_gp")
URGENCY_LABELS = {"urgent": "Urgent (response within 2 h)",
                  "semi_urgent": "Semi-urgent (suspected skin cancer)",
                  "routine": "Routine"}
STATE_LABELS = {"assigned": "Waiting for the specialist", "pooled": "In the specialty pool",
                "in_review": "In review", "awaiting_gp": "Clarification requested",
                "answered": "Answered", "closed": "Closed", "cancelled": "Cancelled"}
OUTCOME_LABELS = {"referral_avoided": "Referral avoided",
                  "referral_still_needed": "Referral still needed",
                  "referral_now_planned": "Referral now planned", "other": "Other"}
PHOTO_SLOTS = (("overview", "Overview", True), ("close_up", "Close-up", True),
               ("dermoscopy", "Dermoscopy", False), ("other", "Other", False))


def _require(user: Principal, action: Action) -> None:
    if not may(user, action):
        raise NotFound("Not found.")


async def _last_event_id(svc: Services) -> int:
    """Where this page's socket resumes from: nothing committed after render is missed."""
    async with svc.db.read() as db:
        last: int | None = (await db.execute(select(func.max(col(ConsultEvent.id))))).scalar()
    return last or 0


async def _names(svc: Services, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return {}
    async with svc.db.read() as db:
        rows = (await db.execute(select(col(User.id), col(User.name))
                                 .where(col(User.id).in_(wanted)))).all()
    return {int(i or 0): str(n) for i, n in rows}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _common(svc: Services) -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "urgency_labels": URGENCY_LABELS,
            "when": _when, "now": svc.clock.now()}


async def new_consult(request: Request) -> Response:
    user = current_user(request)
    _require(user, Action.submit_consult)
    svc = services(request)
    specialties = await specialties_service.list_specialties(svc.db)
    offered = {s.slug: sorted(u.value for u in urgencies_for(s.slug)) for s in specialties}
    return render(request, "consult_new.html", {
        **_common(svc),
        "specialties": specialties,
        "urgencies": [u.value for u in Urgency],
        "offered_json": json.dumps(offered),
        "derm_fields": DERMATOLOGY_FIELDS,
        "photo_slots": PHOTO_SLOTS,
        "fitzpatrick": ("I", "II", "III", "IV", "V", "VI"),
        "max_image_mb": svc.settings.max_image_mb,
    })


async def my_consults(request: Request) -> Response:
    user = current_user(request)
    _require(user, Action.submit_consult)
    svc = services(request)
    rows = await queries.list_for(svc, user, client_addr=client_addr(request))
    names = await _names(svc, {r.get("assigned_to") for r in rows})
    return render(request, "consults.html", {
        **_common(svc), "consults": rows, "names": names,
        "last_event_id": await _last_event_id(svc),
    })


async def queue(request: Request) -> Response:
    user = current_user(request)
    _require(user, Action.work_queue)
    svc = services(request)
    last = await _last_event_id(svc)  # read before the list: an event in between replays
    rows = [r for r in await queries.list_for(svc, user, client_addr=client_addr(request))
            if r["state"] in QUEUE_STATES]
    rows.sort(key=lambda r: (r.get("due_at") is None, r.get("due_at") or ""))
    return render(request, "queue.html", {
        **_common(svc), "consults": rows, "last_event_id": last,
        "specialties": sorted(user.specialties),
    })


async def thread(request: Request) -> Response:
    user = current_user(request)
    svc = services(request)
    last = await _last_event_id(svc)
    detail = await queries.detail(svc, user, request.path_params["id"],
                                  client_addr=client_addr(request))
    specialties = (await specialties_service.list_specialties(svc.db)
                   if user.role == "specialist" else [])
    return render(request, "consult_thread.html", {
        **_common(svc), "c": detail, "last_event_id": last,
        "clinical": "question" in detail,
        "allowed_json": json.dumps({k: sorted(v) for k, v in states.ALLOWED_FROM.items()}),
        "specialties": [s for s in specialties if s.slug != detail["specialty"]],
        "outcomes": OUTCOME_LABELS, "photo_labels": [label.value for label in ImageLabel],
        "derm_labels": {f: f.replace("_", " ").capitalize() for f in DERMATOLOGY_FIELDS},
        "closed_states": (ConsultState.closed.value, ConsultState.cancelled.value),
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/consults/new", new_consult, methods=["GET"]),
        Route("/consults", my_consults, methods=["GET"]),
        Route("/consults/{id}", thread, methods=["GET"]),
        Route("/queue", queue, methods=["GET"]),
    ]
