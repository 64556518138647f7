"""Staff page: one specialty's on-call week, and forms to change the rota behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult.consults import rota_service as rota
from econsult.consults import specialties_service
from econsult.errors import DomainError, InvalidInput, NotFound
from econsult.http.auth import current_user
from econsult.http.context import get_ctx
from econsult.http.errors import status_for
from econsult.http.requests import actor_of
from econsult.http.templating import render
from econsult.routing.wallclock import to_instant
from econsult.security.policy import Action, may

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_SPECIALTY = "dermatology"
# Fixed texts chosen by a code in the redirect, so a link cannot put words on the page.
NOTICES = {
    "add_weekly": "Weekly pattern added.",
    "add_shift": "Shift added.",
    "add_absence": "Absence added.",
    "delete_weekly": "Weekly pattern removed.",
    "delete_shift": "Shift removed.",
    "delete_absence": "Absence removed.",
}
_FIELDS = ("specialist", "weekday", "start", "end", "tier", "starts_at", "ends_at")


@dataclass(frozen=True)
class DayEntry:
    start: str
    end: str
    name: str
    tier: str
    source: str
    # Where the stretch sits in the day, as percentages of its real length (for the bar).
    left: float
    width: float


@dataclass(frozen=True)
class DayColumn:
    day: date
    today: bool
    entries: list[DayEntry]


def _require_rota(request: Request) -> None:
    if not may(current_user(request), Action.manage_rota):
        raise NotFound("Not found.")


def _week_of(value: str | None, today: date) -> date:
    if not value:
        return rota.week_start(today)
    try:
        return rota.week_start(date.fromisoformat(value[:10]))
    except ValueError:
        raise InvalidInput("week must be a date such as 2026-03-02.", field="week") from None


def week_columns(view: rota.RotaView, monday: date, today: date, tz: ZoneInfo) -> list[DayColumn]:
    """The expanded rota cut at each local midnight: one column per day, Monday first."""
    columns = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        start, end = to_instant(day, time(0), tz), to_instant(day + timedelta(days=1), time(0), tz)
        length = (end - start).total_seconds()
        entries = []
        for interval in view.intervals:
            lo, hi = max(interval.starts_at_utc, start), min(interval.ends_at_utc, end)
            if lo >= hi:
                continue
            entries.append(
                DayEntry(
                    start=_clock(lo, start, end, tz),
                    end=_clock(hi, start, end, tz),
                    name=view.person(interval.specialist_id).name,
                    tier=interval.tier.value,
                    source=interval.source.value,
                    left=round(100 * (lo - start).total_seconds() / length, 2),
                    width=round(100 * (hi - lo).total_seconds() / length, 2),
                )
            )
        columns.append(DayColumn(day, day == today, entries))
    return columns


def _clock(at: datetime, day_start: datetime, day_end: datetime, tz: ZoneInfo) -> str:
    if at == day_end:
        return "24:00"
    return at.astimezone(tz).strftime("%H:%M")


async def _page(
    request: Request,
    *,
    specialty: str | None,
    week: date,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = get_ctx(request)
    tz = ctx.settings.timezone
    specialties = await specialties_service.list_specialties(ctx.db)
    slugs = [s.slug for s in specialties]
    if not specialty:
        specialty = DEFAULT_SPECIALTY if DEFAULT_SPECIALTY in slugs else (slugs or [""])[0]
    start, end = rota.week_window(week, tz)
    view = await rota.rota_view(ctx.db, specialty=specialty, start=start, end=end, tz=tz)
    today = ctx.clock.now().astimezone(tz).date()
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return render(
        request,
        "rota.html",
        {
            "view": view,
            "specialties": specialties,
            "week": week,
            "prev_week": week - timedelta(days=7),
            "next_week": week + timedelta(days=7),
            "this_week": rota.week_start(today),
            "columns": week_columns(view, week, today, tz),
            "weekdays": WEEKDAYS,
            "tiers": ("primary", "backup"),
            "error": error,
            "notice": "" if error else notice,
            "form": form or {},
        },
        status_code=status_code,
    )


async def rota_page(request: Request) -> Response:
    _require_rota(request)
    ctx = get_ctx(request)
    today = ctx.clock.now().astimezone(ctx.settings.timezone).date()
    query = request.query_params
    return await _page(
        request, specialty=query.get("specialty"), week=_week_of(query.get("week"), today)
    )


async def rota_submit(request: Request) -> Response:
    _require_rota(request)
    ctx = get_ctx(request)
    today = ctx.clock.now().astimezone(ctx.settings.timezone).date()
    form = await request.form()
    specialty = str(form.get("specialty") or "")[:64]
    try:
        week = _week_of(str(form.get("week") or ""), today)
    except InvalidInput:
        week = rota.week_start(today)
    action = str(form.get("action") or "")
    try:
        await _apply(request, action, specialty, form)
    except DomainError as exc:
        typed = {k: str(form.get(k) or "")[:254] for k in _FIELDS}
        return await _page(
            request,
            specialty=specialty,
            week=week,
            error=exc.message,
            form={**typed, "action": action},
            status_code=status_for(exc),
        )
    query = urlencode({"specialty": specialty, "week": week.isoformat(), "done": action})
    return RedirectResponse(f"/rota?{query}", status_code=303)


async def _apply(request: Request, action: str, specialty: str, form: FormData) -> None:
    ctx = get_ctx(request)
    tz = ctx.settings.timezone
    common: dict[str, Any] = {"actor": actor_of(request), "clock": ctx.clock}
    get = form.get
    if action == "add_weekly":
        await rota.add_weekly(
            ctx.db,
            specialty=specialty,
            specialist=_required(form, "specialist"),
            weekday=rota.parse_weekday(get("weekday")),
            start=rota.parse_clock(get("start"), "start"),
            end=rota.parse_clock(get("end"), "end"),
            tier=rota.parse_tier(get("tier")),
            **common,
        )
    elif action == "add_shift":
        await rota.add_shift(
            ctx.db,
            specialty=specialty,
            specialist=_required(form, "specialist"),
            starts_at=rota.parse_local(get("starts_at"), "starts_at", tz),
            ends_at=rota.parse_local(get("ends_at"), "ends_at", tz),
            tier=rota.parse_tier(get("tier")),
            **common,
        )
    elif action == "add_absence":
        await rota.add_absence(
            ctx.db,
            specialist=_required(form, "specialist"),
            starts_at=rota.parse_local(get("starts_at"), "starts_at", tz),
            ends_at=rota.parse_local(get("ends_at"), "ends_at", tz),
            **common,
        )
    elif action == "delete_weekly":
        row_id = rota.parse_id(get("id"), "weekly pattern")
        await rota.delete_weekly(ctx.db, specialty=specialty, weekly_id=row_id, **common)
    elif action == "delete_shift":
        row_id = rota.parse_id(get("id"), "shift")
        await rota.delete_shift(ctx.db, specialty=specialty, shift_id=row_id, **common)
    elif action == "delete_absence":
        row_id = rota.parse_id(get("id"), "absence")
        await rota.delete_absence(ctx.db, absence_id=row_id, **common)
    else:
        raise InvalidInput("Unknown action.", field="action")


def _required(form: FormData, name: str) -> str:
    value = str(form.get(name) or "").strip()
    if not value:
        raise InvalidInput(f"Choose a {name}.", field=name)
    return value[:254]
