"""The GP's form and list, the specialist's queue and the consult thread (HTML).

Pages render what the caller may see now; the JS modules beside them keep it live
over /ws and act through the JSON API. Every view of clinical content goes through
the same query functions as the API, so it is audited the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import delegates
from econsult.consults import queries
from econsult.consults.submit import DERMATOLOGY_FIELDS
from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.state import AppState, app_state
from econsult.http.templating import render
from econsult.models import ConsultState, ImageLabel
from econsult.rota import specialties as specialties_service
from econsult.routing.targets import Urgency, urgencies_for
from econsult.security.policy import Action, require

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


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _common(svc: AppState) -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "urgency_labels": URGENCY_LABELS,
            "when": _when, "now": svc.clock.now(),
            "max_answer_minutes": svc.settings.max_answer_minutes}


async def new_consult(request: Request) -> Response:
    user = current_user(request)
    require(user, Action.submit_consult)
    svc = app_state(request)
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
        "max_attachment_mb": svc.settings.max_attachment_mb,
        # A delegate chooses the GP the consult is for (empty for a GP).
        "acting_for": [g for g in await delegates.gps_of(svc.db, user) if g.active],
    })


async def my_consults(request: Request) -> Response:
    user = current_user(request)
    require(user, Action.submit_consult)
    svc = app_state(request)
    last = await queries.last_event_id(svc)  # before the list: an event in between replays
    rows = await queries.list_for(svc, user, client_addr=client_addr(request))
    people = {r.assigned_to for r in rows} | {getattr(r, "gp_id", None) for r in rows} | {
        getattr(r, "submitted_by", None) for r in rows}
    names = await queries.names_of(svc, people)
    return render(request, "consults.html", {
        **_common(svc), "consults": rows, "names": names, "last_event_id": last,
        # A delegate's list covers several GPs: each row names its GP.
        "acting_for": await delegates.gps_of(svc.db, user),
    })


async def queue(request: Request) -> Response:
    user = current_user(request)
    require(user, Action.work_queue)
    svc = app_state(request)
    last = await queries.last_event_id(svc)  # before the list: an event in between replays
    rows = [r for r in await queries.list_for(svc, user, client_addr=client_addr(request))
            if r.state in QUEUE_STATES]
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or ""))
    return render(request, "queue.html", {
        **_common(svc), "consults": rows, "last_event_id": last,
        "specialties": sorted(user.specialties),
    })


async def thread(request: Request) -> Response:
    user = current_user(request)
    svc = app_state(request)
    last = await queries.last_event_id(svc)
    found = await queries.detail(svc, user, request.path_params["id"],
                                 client_addr=client_addr(request))
    specialties = (await specialties_service.list_specialties(svc.db)
                   if found.side == "specialist" else [])
    return render(request, "consult_thread.html", {
        **_common(svc), "c": found.to_json(), "last_event_id": last,
        "clinical": found.clinical is not None,
        "actions_json": json.dumps(found.actions),
        "specialties": [s for s in specialties if s.slug != found.summary.specialty],
        "outcomes": OUTCOME_LABELS, "photo_labels": [label.value for label in ImageLabel],
        "max_attachment_mb": svc.settings.max_attachment_mb,
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
