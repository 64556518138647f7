"""JSON API for program staff running the service: the work list and reassignment.
Codes and times only, as everything staff read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import reassign as reassigning
from econsult.consults import worklist
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import client_addr, json_body, text_field
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state


async def get_worklist(request: Request) -> Response:
    """
    summary: Open consults that need a person now, and why (staff)
    description: "Breached or at risk, pooled past the acknowledge window, acknowledge window nearly over, or held by someone disabled, away, off the rota or no longer of the specialty. Codes and times only."
    responses:
      200: {description: "{consults: [{id, specialty, urgency, state, holder, due_at, ack_due_at, seconds_left, reasons: [{code, text}]}], generated_at}"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """  # noqa: E501
    found = await worklist.work_list(app_state(request), current_user(request))
    return JSONResponse({"consults": found.items, "generated_at": found.generated_at},
                        headers={"Cache-Control": "no-store"})


async def post_reassign(request: Request) -> Response:
    """
    summary: Reassign a consult to a named specialist of its specialty, or to the pool (staff)
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [reason]
            properties:
              specialist: {type: string, maxLength: 254, description: "the specialist's email"}
              pool: {type: boolean}
              reason: {type: string, maxLength: 2000}
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    data = await json_body(request)
    pool = data.get("pool", False)
    if not isinstance(pool, bool):
        raise InvalidInput("pool must be true or false.", field="pool")
    summary = await reassigning.reassign(
        app_state(request), current_user(request), request.path_params["id"],
        specialist=text_field(data, "specialist", required=False, max_length=254) or None,
        pool=pool, reason=text_field(data, "reason", max_length=2000),
        client_addr=client_addr(request))
    return JSONResponse(summary)


def routes() -> list[BaseRoute]:
    return [
        Route("/worklist", get_worklist, methods=["GET"]),
        Route("/consults/{id}/reassign", post_reassign, methods=["POST"]),
    ]
