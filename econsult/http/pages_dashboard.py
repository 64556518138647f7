"""Staff pages: the turnaround dashboard and one specialist's report."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.http.api_turnaround import parse_filters
from econsult.http.auth import current_user
from econsult.http.requests import parse_id
from econsult.http.state import AppState, app_state
from econsult.http.templating import render
from econsult.rota import specialties as specialties_service
from econsult.routing.durations import parse_duration
from econsult.routing.plain_durations import format_plain
from econsult.turnaround import charts, service
from econsult.turnaround.filters import Filters

DEFAULT_DAYS = 90
URGENCIES = ("urgent", "semi_urgent", "routine")


def _filters(request: Request, svc: AppState) -> tuple[Filters, dict[str, str]]:
    """The filters, and the form's values (dates as typed; the default range when none)."""
    params = dict(request.query_params)
    if "from" not in params and "to" not in params:
        today = svc.clock.now().astimezone(svc.settings.timezone).date()
        params["from"] = (today - timedelta(days=DEFAULT_DAYS)).isoformat()
    form = {k: params.get(k, "") for k in ("from", "to", "specialty", "urgency")}
    return parse_filters(params, svc), form


def duration(seconds: float | None) -> str:
    """Hours under two days, else days; the same rule as dashboard.js."""
    if seconds is None:
        return "–"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _context(filters: Filters, form: dict[str, str]) -> dict[str, object]:
    query = urlencode({k: v for k, v in form.items() if v})
    return {"form": form, "query": query, "api_query": urlencode(filters.query()),
            "duration": duration, "pct": pct, "urgencies": URGENCIES}


async def dashboard_page(request: Request) -> Response:
    svc, user = app_state(request), current_user(request)
    filters, form = _filters(request, svc)
    data = await service.dashboard(svc.db, user, filters, svc.settings.timezone)
    trend = charts.weekly_trend([
        charts.Point(w.starts.strftime("%d %b"), w.stats.count, w.stats.within_target_pct)
        for w in data.weeks])
    histograms = [
        (d, charts.histogram(d.bins, target_hours=d.target_seconds / 3600,
                             title=f"Time to answer, {d.urgency.replace('_', '-')}"))
        for d in data.distributions]
    workload = charts.bars([(r.name, r.stats.count) for r in data.specialists],
                           title="Consults per specialist")
    return render(request, "dashboard.html", {
        **_context(filters, form), "data": data, "trend": trend, "histograms": histograms,
        "workload": workload, "targets": await _targets(svc, filters)})


async def _targets(svc: AppState, filters: Filters) -> list[tuple[str, str, str, str, float]]:
    """The target windows the figures are measured against, in words (set on /targets)."""
    rows = []
    for s in await specialties_service.list_specialties(svc.db):
        if filters.specialty and s.slug != filters.specialty:
            continue
        for urgency, t in s.targets.items():
            if filters.urgency and urgency != filters.urgency:
                continue
            business = bool(t["business_time"])
            rows.append((s.name, urgency, format_plain(parse_duration(t["acknowledge_within"]),
                                                       business=business),
                         format_plain(parse_duration(t["respond_within"]), business=business),
                         float(t["at_risk_fraction"])))
    return rows


async def specialist_page(request: Request) -> Response:
    svc, user = app_state(request), current_user(request)
    filters, form = _filters(request, svc)
    specialist_id = parse_id(request.path_params["id"], "specialist")
    row, side_by_side = await service.specialist_report(svc.db, user, filters, specialist_id)
    return render(request, "dashboard_specialist.html", {
        **_context(filters, form), "person": row, "rows": side_by_side})


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/specialists/{id}", specialist_page, methods=["GET"]),
    ]
