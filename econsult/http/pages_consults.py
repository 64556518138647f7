"""The GP's form and list, the specialist's queue and the consult thread (HTML).

Pages render what the caller may see now; the JS modules beside them keep it live
over /ws and act through the JSON API. Every view of clinical content goes through
the same query functions as the API, so it is audited the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import delegates
from econsult.consults import listing, queries
from econsult.consults.listing import ListQuery
from econsult.consults.submission import DERMATOLOGY_FIELDS
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import client_addr, parse_date
from econsult.http.state import AppState, app_state
from econsult.http.templating import render
from econsult.models import ConsultState, ImageLabel
from econsult.rota import specialties as specialties_service
from econsult.routing.targets import Urgency, urgencies_for
from econsult.security.policy import Action, require

PAGE_SIZE = 50
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


# The GP's "show" filter: what the page asks the list for.
SHOW = {"": ((), False), "needs_action": ((), True),
        "open": (("assigned", "pooled", "in_review", "awaiting_gp"), False),
        "answered": (("answered",), False), "closed": (("closed",), False),
        "cancelled": (("cancelled",), False)}
SHOW_LABELS = {"": "All", "needs_action": "Needs your action", "open": "Open",
               "answered": "Answered", "closed": "Closed", "cancelled": "Withdrawn"}
# The specialist's tabs on /queue.
TABS = {"open": (), "answered": ("answered", "closed"), "all": tuple(s.value for s in ConsultState)}
TAB_LABELS = {"open": "Open", "answered": "Answered", "all": "All mine"}
# The groups of the GP's list, in order: which state falls in which.
GP_GROUPS = {"awaiting_gp": "Needs your action", "answered": "Needs your action",
             "assigned": "Open", "pooled": "Open", "in_review": "Open",
             "closed": "Closed", "cancelled": "Closed"}


def _list_params(request: Request, states: tuple[str, ...], needs_action: bool
                 ) -> tuple[ListQuery, dict[str, str]]:
    """The list query from the page's URL, and the same filters as API parameters (for
    the page's "more" button)."""
    params = request.query_params
    api: dict[str, str] = {}
    if states:
        api["state"] = ",".join(states)
    if needs_action:
        api["needs_action"] = "1"
    for name in ("specialty", "q", "from", "to"):
        if params.get(name, "").strip():
            api[name] = params[name].strip()
    query = ListQuery(
        states=states, needs_action=needs_action, specialty=api.get("specialty"),
        q=api.get("q"),
        submitted_from=parse_date(api["from"], "from") if "from" in api else None,
        submitted_to=parse_date(api["to"], "to") if "to" in api else None,
        limit=PAGE_SIZE, cursor=params.get("cursor") or None)
    return query, api


async def _page(request: Request, svc: AppState, states: tuple[str, ...], needs_action: bool
                ) -> tuple[listing.ConsultPage | None, dict[str, str], str | None]:
    """A page of the list, or the reason the filters are refused (shown on the page)."""
    try:
        query, api = _list_params(request, states, needs_action)
        page = await listing.page_for(svc, current_user(request), query,
                                      client_addr=client_addr(request))
    except InvalidInput as exc:
        return None, {}, exc.message
    return page, api, None


def _api_url(api: dict[str, str]) -> str:
    return "/api/v1/consults?" + urlencode({**api, "limit": str(PAGE_SIZE)})


def _more_url(path: str, request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    kept = {k: v for k, v in request.query_params.items() if k != "cursor"}
    return f"{path}?{urlencode({**kept, 'cursor': cursor})}"


async def my_consults(request: Request) -> Response:
    user = current_user(request)
    require(user, Action.submit_consult)
    svc = app_state(request)
    last = await queries.last_event_id(svc)  # before the list: an event in between replays
    show = request.query_params.get("show", "")
    states, needs_action = SHOW.get(show, SHOW[""])
    page, api, problem = await _page(request, svc, states, needs_action)
    rows = page.consults if page else []
    people = {r.assigned_to for r in rows} | {getattr(r, "submitted_by", None) for r in rows}
    names = await queries.names_of(svc, people)
    return render(request, "consults.html", {
        **_common(svc), "consults": rows, "names": names, "last_event_id": last,
        # A delegate's list covers several GPs: each row names its GP.
        "acting_for": await delegates.gps_of(svc.db, user),
        "groups": GP_GROUPS, "groups_json": json.dumps(GP_GROUPS),
        "show": show if show in SHOW else "", "show_labels": SHOW_LABELS,
        "filters": {k: request.query_params.get(k, "") for k in ("specialty", "q", "from", "to")},
        "specialties": await specialties_service.list_specialties(svc.db),
        "problem": problem, "api_url": _api_url(api),
        "next_cursor": page.next_cursor if page else None,
        "more_url": _more_url("/consults", request, page.next_cursor if page else None),
        "paged": bool(request.query_params.get("cursor")),
    })


async def queue(request: Request) -> Response:
    user = current_user(request)
    require(user, Action.work_queue)
    svc = app_state(request)
    last = await queries.last_event_id(svc)  # before the list: an event in between replays
    tab = request.query_params.get("tab", "open")
    tab = tab if tab in TABS else "open"
    page, api, problem = await _page(request, svc, TABS[tab], False)
    rows = page.consults if page else []
    return render(request, "queue.html", {
        **_common(svc), "consults": rows, "last_event_id": last,
        "specialties": sorted(user.specialties), "tab": tab, "tabs": TAB_LABELS,
        "q": request.query_params.get("q", ""), "problem": problem,
        "api_url": _api_url(api), "next_cursor": page.next_cursor if page else None,
        "more_url": _more_url("/queue", request, page.next_cursor if page else None),
        "live": tab == "open" and not request.query_params.get("q"),
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
        "outcomes": OUTCOME_LABELS, "outcomes_json": json.dumps(OUTCOME_LABELS),
        "photo_labels": [label.value for label in ImageLabel],
        "max_attachment_mb": svc.settings.max_attachment_mb,
        "derm_labels": {f: f.replace("_", " ").capitalize() for f in DERMATOLOGY_FIELDS},
        "closed_states": (ConsultState.closed.value, ConsultState.cancelled.value),
        "thread_messages": _with_addenda(found.clinical.messages if found.clinical else []),
    })


def _with_addenda(messages: list[Any]) -> list[tuple[Any, list[Any]]]:
    """Each message with the addenda under it: an addendum belongs to the answer
    before it (thread.js groups the same way)."""
    out: list[tuple[Any, list[Any]]] = []
    answer: list[Any] | None = None
    for m in messages:
        if m.kind == "addendum" and answer is not None:
            answer.append(m)
            continue
        out.append((m, []))
        answer = out[-1][1] if m.kind == "answer" else answer
    return out


def routes() -> list[BaseRoute]:
    return [
        Route("/consults/new", new_consult, methods=["GET"]),
        Route("/consults", my_consults, methods=["GET"]),
        Route("/consults/{id}", thread, methods=["GET"]),
        Route("/queue", queue, methods=["GET"]),
    ]
