"""Staff page: the workup checklists per specialty and reason, edited as JSON Schema
with a live preview of the GP's form (/checklists). Saving goes through the JSON API
(PUT /api/v1/specialties/{slug}/checklists/{reason}), which keeps every version."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.http.auth import current_user
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.rota.specialties import list_specialties
from econsult.security.policy import Action, require


async def checklists_page(request: Request) -> Response:
    require(current_user(request), Action.manage_checklists)
    specialties = await list_specialties(app_state(request).db)
    return render(request, "checklists.html", {"specialties": specialties})


def routes() -> list[BaseRoute]:
    return [Route("/checklists", checklists_page, methods=["GET"])]
