"""Staff page: each specialty's target windows per urgency, in plain words.

"2 hours", "30 minutes", "2 business days" are read into ISO 8601 durations
(`econsult.routing.plain_durations`) and saved through the same service as
`PUT /api/v1/specialties/{slug}/targets`, which validates and audits them. New consults
take their deadlines from the targets saved when they arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.consults.routing_io import targets_of
from econsult.errors import DomainError, InvalidInput
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.requests import actor_of
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.models import Specialty
from econsult.rota import specialties as specialties_service
from econsult.routing.durations import InvalidDuration, format_duration
from econsult.routing.plain_durations import format_plain, parse_plain
from econsult.routing.targets import Urgency, urgencies_for


@dataclass(frozen=True)
class Row:
    urgency: str
    ack: str
    respond: str
    business: bool
    risk: str  # percent, as typed or stored
    ack_iso: str
    respond_iso: str


def _rows(specialty: Specialty, typed: dict[str, str] | None) -> list[Row]:
    targets = targets_of(specialty)
    rows = []
    for urgency in Urgency:
        if urgency not in urgencies_for(specialty.slug) or urgency not in targets:
            continue
        t, u = targets[urgency], urgency.value
        if typed is not None:
            rows.append(Row(u, typed.get(f"ack_{u}", ""), typed.get(f"respond_{u}", ""),
                            typed.get(f"clock_{u}") == "business", typed.get(f"risk_{u}", ""),
                            format_duration(t.acknowledge_within),
                            format_duration(t.respond_within)))
            continue
        rows.append(Row(u, format_plain(t.acknowledge_within, business=t.business_time),
                        format_plain(t.respond_within, business=t.business_time),
                        t.business_time, f"{t.at_risk_fraction * 100:g}",
                        format_duration(t.acknowledge_within), format_duration(t.respond_within)))
    return rows


async def _page(request: Request, *, error: str = "", failed: str = "",
                typed: dict[str, str] | None = None, status_code: int = 200) -> Response:
    state = app_state(request)
    found = await specialties_service.targets_overview(state.db, current_user(request))
    saved = request.query_params.get("done") == "saved"
    return render(request, "targets.html", {
        "specialties": [(s, _rows(s, typed if s.slug == failed else None)) for s in found],
        "error": error, "failed": failed,
        "hours": "–".join(t.strftime("%H:%M") for t in state.settings.business_hours),
        "saved": request.query_params.get("specialty", "")[:64] if saved and not error else "",
    }, status_code=status_code)


async def targets_page(request: Request) -> Response:
    return await _page(request)


def parse_targets_form(form: FormData, slug: str) -> dict[str, Any]:
    """The form of one specialty as the targets JSON the service takes."""
    data: dict[str, Any] = {}
    for urgency in sorted(urgencies_for(slug)):
        u = urgency.value
        if f"ack_{u}" not in form:
            continue
        label = u.replace("_", "-")
        clock = str(form.get(f"clock_{u}") or "calendar")
        if clock not in ("calendar", "business"):
            raise InvalidInput(f"{label}: the clock is calendar or business time.",
                               field=f"clock_{u}")
        business = clock == "business"
        entry: dict[str, Any] = {}
        for key, name in (("ack", "acknowledge_within"), ("respond", "respond_within")):
            try:
                parsed = parse_plain(str(form.get(f"{key}_{u}") or "")[:80])
            except InvalidDuration as exc:
                raise InvalidInput(f"{label}, {name.replace('_', ' ')}: {exc}",
                                   field=f"{key}_{u}") from None
            business = business or bool(parsed.business)
            entry[name] = parsed.iso
        entry["business_time"] = business
        entry["at_risk_fraction"] = _fraction(str(form.get(f"risk_{u}") or ""), u, label)
        data[u] = entry
    if not data:
        raise InvalidInput("Nothing to save.", field="specialty")
    return data


def _fraction(text: str, u: str, label: str) -> float:
    cleaned = text.strip().rstrip("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidInput(f"{label}: at risk is a percentage such as 75%.",
                           field=f"risk_{u}") from None
    return value / 100 if value > 1 else value


async def targets_submit(request: Request) -> Response:
    state = app_state(request)
    form = await request.form()
    slug = str(form.get("specialty") or "")[:64]
    typed = {k: str(v)[:80] for k, v in form.items() if k != "csrf_token"}
    try:
        await specialties_service.put_targets(
            state.db, state.clock, current_user(request), slug=slug,
            data=parse_targets_form(form, slug), actor=actor_of(request))
    except DomainError as exc:
        return await _page(request, error=exc.message, failed=slug, typed=typed,
                           status_code=status_for(exc))
    return RedirectResponse(f"/targets?done=saved&specialty={slug}#{slug}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/targets", targets_page, methods=["GET"]),
        Route("/targets", targets_submit, methods=["POST"]),
    ]


