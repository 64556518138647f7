"""Staff page: one specialty's on-call week, and forms to change the rota behind it:
who is on call now, who is not routed to (disabled, away), coverage warnings against
the target windows, caps on open consults, and copying last week's shifts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult.errors import DomainError, InvalidInput
from econsult.http.api_rota import KINDS
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.pages_rota_replay import replay_context
from econsult.http.requests import actor_of, parse_date, parse_id
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.rota import service as rota
from econsult.rota import specialties as specialties_service
from econsult.rota import staffing
from econsult.rota.week import WeekView, week_view
from econsult.routing.wallclock import to_instant

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
    "copy_week": "Last week's one-off shifts were copied into this week.",
    "set_specialty_cap": "Specialty cap saved.",
    "set_specialist_cap": "Specialist's cap saved.",
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
    now: bool = False  # covers this moment
    status: str = ""  # why this person is not routed to ("disabled", "away", ...)


@dataclass(frozen=True)
class DayMark:
    """A stretch of the day worth seeing that is not on-call time: nobody covers it, or
    someone on the rota is away."""

    start: str
    end: str
    kind: str  # "gap" | "away"
    text: str


@dataclass(frozen=True)
class DayColumn:
    day: date
    today: bool
    entries: list[DayEntry]
    marks: list[DayMark] = field(default_factory=list)


def _week_of(value: str | None, today: date) -> date:
    return rota.week_start(parse_date(value, "week") if value else today)


def week_columns(view: rota.RotaView, monday: date, today: date, tz: ZoneInfo,
                 week: WeekView | None = None) -> list[DayColumn]:
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
                    now=week is not None and interval.covers(week.now),
                    status=week.status(interval.specialist_id) if week else "",
                )
            )
        columns.append(DayColumn(day, day == today, entries,
                                 _marks(view, week, start, end, tz) if week else []))
    return columns


def _marks(view: rota.RotaView, week: WeekView, start: datetime, end: datetime,
           tz: ZoneInfo) -> list[DayMark]:
    spans = [(g.starts_at, g.ends_at, "gap", "nobody on call") for g in week.uncovered]
    spans += [(a.starts_at, a.ends_at, "away", f"{view.person(a.specialist_id).name} away")
              for a in view.absences]
    marks = []
    for lo, hi, kind, text in sorted(spans):
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            marks.append(DayMark(_clock(lo, start, end, tz), _clock(hi, start, end, tz), kind,
                                 text))
    return marks


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
    state = app_state(request)
    tz = state.settings.timezone
    specialties = await specialties_service.list_specialties(state.db)
    slugs = [s.slug for s in specialties]
    if not specialty:
        specialty = DEFAULT_SPECIALTY if DEFAULT_SPECIALTY in slugs else (slugs or [""])[0]
    shown = await week_view(state.db, state.clock, state.calendar, current_user(request),
                            specialty=specialty, monday=week, tz=tz)
    view = shown.view
    today = state.clock.now().astimezone(tz).date()
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
            "columns": week_columns(view, week, today, tz, shown),
            "shown": shown,
            "copied": request.query_params.get("copied", "")[:4],
            "weekdays": WEEKDAYS,
            "tiers": ("primary", "backup"),
            "error": error,
            "notice": "" if error else notice,
            "form": form or {},
            "replay": replay_context(request, view.specialty.slug),
        },
        status_code=status_code,
    )


async def rota_page(request: Request) -> Response:
    state = app_state(request)
    current_user(request)
    today = state.clock.now().astimezone(state.settings.timezone).date()
    query = request.query_params
    return await _page(
        request, specialty=query.get("specialty"), week=_week_of(query.get("week"), today)
    )


async def rota_submit(request: Request) -> Response:
    state = app_state(request)
    current_user(request)
    today = state.clock.now().astimezone(state.settings.timezone).date()
    form = await request.form()
    specialty = str(form.get("specialty") or "")[:64]
    try:
        week = _week_of(str(form.get("week") or ""), today)
    except InvalidInput:
        week = rota.week_start(today)
    action = str(form.get("action") or "")
    try:
        extra = await _apply(request, action, specialty, form, week)
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
    query = {"specialty": specialty, "week": week.isoformat(), "done": action, **extra}
    return RedirectResponse(f"/rota?{urlencode(query)}", status_code=303)


async def _apply(request: Request, action: str, specialty: str, form: FormData,
                 week: date) -> dict[str, str]:
    """One form post: `add_<kind>` or `delete_<kind>`, for the kinds the API serves; a
    cap (`set_specialty_cap`, `set_specialist_cap`); or `copy_week`. Returns what the
    redirect's query should add."""
    state = app_state(request)
    if action == "copy_week":
        copied = await staffing.copy_last_week(state.db, state.clock, current_user(request),
                                               specialty=specialty, monday=week,
                                               tz=state.settings.timezone,
                                               actor=actor_of(request))
        return {"copied": str(copied.copied)}
    if action in ("set_specialty_cap", "set_specialist_cap"):
        cap = staffing.parse_cap(form.get("cap"), "cap")
        if action == "set_specialty_cap":
            await staffing.set_specialty_cap(state.db, state.clock, current_user(request),
                                             specialty=specialty, cap=cap,
                                             actor=actor_of(request))
        else:
            await staffing.set_specialist_cap(state.db, state.clock, current_user(request),
                                              specialist=str(form.get("specialist") or "")[:254],
                                              cap=cap, actor=actor_of(request))
        return {}
    verb, _, name = action.partition("_")
    kind = KINDS.get(name)
    if kind is None or verb not in ("add", "delete"):
        raise InvalidInput("Unknown action.", field="action")
    common: dict[str, Any] = {"specialty": specialty if kind.per_specialty else None,
                              "actor": actor_of(request)}
    user = current_user(request)
    if verb == "add":
        values = {k: str(form.get(k) or "").strip() for k in _FIELDS}
        entry = kind.parse(values, state.settings.timezone)
        await rota.add_entry(state, user, entry=entry, **common)
    else:
        await rota.delete_entry(state.db, state.clock, user, kind=kind.name,
                                row_id=parse_id(form.get("id"), kind.what), **common)
    return {}
