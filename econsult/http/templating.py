"""Jinja2 rendering. Templates end in .html, so autoescaping is on for all of them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from econsult.clock import LOCAL_FORMAT, format_local, zone_rules
from econsult.http.navigation import nav_links
from econsult.http.state import app_state

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def make_templates(tz: ZoneInfo) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

    def localtime(value: datetime | None, fmt: str = LOCAL_FORMAT, *,
                  zone: bool = False) -> str:
        """Times in the program's zone: the one format (econsult.clock.format_local),
        which the browser reproduces from the same zone rules (`tz_rules`)."""
        if value is None:
            return ""
        if fmt == LOCAL_FORMAT:
            return format_local(value, tz, with_zone=zone)
        return value.astimezone(tz).strftime(fmt)

    def isoformat(value: datetime | None) -> str:
        return "" if value is None else value.isoformat()

    templates.env.filters["localtime"] = localtime
    templates.env.filters["iso"] = isoformat
    templates.env.globals["tz_name"] = str(tz)
    templates.env.globals["tz_rules"] = json.dumps(zone_rules(tz), separators=(",", ":"))
    return templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    auth = request.scope.get("econsult.auth")
    # A session still owing its second factor is not logged in as far as pages go.
    principal = auth.principal if auth is not None and not auth.mfa_pending else None
    base = {
        "user": principal,
        "csrf_token": auth.csrf_token if auth else "",
        "nav": nav_links(principal) if principal is not None else [],
    }
    templates = app_state(request).templates
    response = templates.TemplateResponse(request, name, {**base, **(context or {})},
                                          status_code=status_code)
    assert isinstance(response, HTMLResponse)
    return response
