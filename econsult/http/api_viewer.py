"""JSON API for the photo viewer: earlier photos of the same body site to compare with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import comparisons
from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state


async def earlier_photos(request: Request) -> Response:
    """
    summary: Earlier photos of the same body site of the same patient (for side-by-side)
    description: "Photos uploaded before this one: earlier in the same consult's thread, or on the same patient's earlier consults (matched on the health number) with the same body site, among the consults the caller may see; newest first, at most 24. The look-up is audited; each photo is audited again when fetched from /images/{id}."
    parameters:
      - {name: id, in: path, required: true, description: "the photo being viewed", schema: {type: string, format: uuid}}
    responses:
      200: {description: "{photos: [{id, consult_id, label, width, height, taken_at, same_consult, body_site}]}", content: {application/json: {schema: {type: object, properties: {photos: {type: array, items: {type: object, properties: {id: {type: string}, consult_id: {type: string}, label: {type: string, enum: [overview, close_up, dermoscopy, other]}, width: {type: integer}, height: {type: integer}, taken_at: {type: string, format: date-time}, same_consult: {type: boolean}, body_site: {type: string}}}}}}}}}
      401: {description: "No valid session"}
      404: {description: "Unknown, or not the caller's to see"}
    """  # noqa: E501
    found = await comparisons.earlier_photos(app_state(request), current_user(request),
                                             request.path_params["id"],
                                             client_addr=client_addr(request))
    return JSONResponse({"photos": found})


def routes() -> list[BaseRoute]:
    return [Route("/images/{id}/earlier", earlier_photos, methods=["GET"])]
