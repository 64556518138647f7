"""JSON API for clinical content: workup checklists per specialty and reason (read by
everyone signed in, edited by staff), the specialists a GP may name, and a
specialist's own answer templates. Parse, call one service function, answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import answer_templates, checklist_store, continuity
from econsult.http.auth import current_user
from econsult.http.requests import client_addr, json_body
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state


async def list_checklists(request: Request) -> Response:
    """
    summary: The current workup checklist of each reason for referral to a specialty
    description: "Each checklist is a JSON Schema (Draft 2020-12) of workup items: `required` lists the items a consult cannot be sent without, `x-recommended` marks the items the specialist asks for, `description` is the clinical hint. `version` grows with every edit; a consult records the version it was sent with."
    parameters:
      - {name: slug, in: path, required: true, schema: {type: string}, description: "the specialty, e.g. cardiology"}
    responses:
      200:
        description: "[{reason, title, version, schema}]"
        content:
          application/json:
            schema:
              type: array
              items:
                type: object
                properties:
                  reason: {type: string, example: palpitations}
                  title: {type: string}
                  version: {type: integer, minimum: 1}
                  schema: {type: object, description: "the JSON Schema of the items"}
      401: {description: "not signed in"}
      404: {description: "unknown specialty"}
    """  # noqa: E501
    current_user(request)
    found = await checklist_store.list_current(app_state(request), request.path_params["slug"])
    return JSONResponse(found)


async def put_checklist(request: Request) -> Response:
    """
    summary: Save a new version of one reason's checklist, or a new reason (staff)
    description: "The previous versions are kept, so consults sent with them still render with them. The stored version (and `$id`) is the next number, whatever the body says. Only the renderable subset of JSON Schema is accepted: a flat object of yes/no, text, date, choice and number items, each with a title."
    parameters:
      - {name: slug, in: path, required: true, schema: {type: string}}
      - {name: reason, in: path, required: true, schema: {type: string, pattern: "^[a-z][a-z0-9-]{0,60}$"}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [schema]
            properties:
              schema: {type: object, description: "the checklist's JSON Schema"}
    responses:
      200: {description: "{reason, title, version, schema}: the version just stored"}
      400: {description: "the schema is not a renderable checklist (field names the part)"}
      404: {description: "unknown specialty, or the caller is not staff (the same answer)"}
      409: {description: "another edit stored the same version first"}
    """  # noqa: E501
    data = await json_body(request)
    saved = await checklist_store.save_version(
        app_state(request), current_user(request), request.path_params["slug"],
        request.path_params["reason"], data.get("schema"), client_addr=client_addr(request))
    return JSONResponse(saved)


async def list_checklist_versions(request: Request) -> Response:
    """
    summary: Every version of one reason's checklist, newest first (staff)
    parameters:
      - {name: slug, in: path, required: true, schema: {type: string}}
      - {name: reason, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: "[{reason, title, version, schema}]"}
      404: {description: "no such checklist, or the caller is not staff"}
    """
    found = await checklist_store.list_versions(
        app_state(request), current_user(request), request.path_params["slug"],
        request.path_params["reason"])
    return JSONResponse(found)


async def list_specialists(request: Request) -> Response:
    """
    summary: The specialists of a specialty a GP may name, and the GP's usual one
    description: "For the submitting form: naming a specialist (`specialist` on POST /consults) asks routing to prefer them when they are on call and under their cap. A delegate passes `gp` to see that GP's usual specialist."
    parameters:
      - {name: slug, in: path, required: true, schema: {type: string}}
      - {name: gp, in: query, required: false, schema: {type: string, format: email}}
    responses:
      200:
        description: "{specialty, specialists: [{name, email, credentials}], usual}"
        content:
          application/json:
            schema:
              type: object
              properties:
                specialty: {type: string}
                specialists: {type: array, items: {type: object, properties: {name: {type: string}, email: {type: string}, credentials: {type: string}}}}
                usual: {type: string, nullable: true, description: "email of the usual specialist"}
      400: {description: "a delegate did not name one of their GPs"}
      404: {description: "unknown specialty, or the caller does not submit consults"}
    """  # noqa: E501
    found = await continuity.choice(app_state(request), current_user(request),
                                    request.path_params["slug"],
                                    request.query_params.get("gp", ""))
    return JSONResponse(found)


async def list_templates(request: Request) -> Response:
    """
    summary: The caller's own answer templates (specialists)
    responses:
      200: {description: "{templates: [{id, title, body, impression, plan, refer_if, follow_up, updated_at}]}"}
      404: {description: "the caller is not a specialist"}
    """  # noqa: E501
    found = await answer_templates.list_own(app_state(request), current_user(request))
    return JSONResponse({"templates": found})


async def create_template(request: Request) -> Response:
    """
    summary: Save an answer template (specialists)
    description: "A title and any of the answer's parts; sealed like a message. At most 100 per specialist."
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [title]
            properties:
              title: {type: string, maxLength: 120}
              body: {type: string, maxLength: 5000}
              impression: {type: string, maxLength: 5000}
              plan: {type: string, maxLength: 5000}
              refer_if: {type: string, maxLength: 5000}
              follow_up: {type: string, maxLength: 5000}
    responses:
      201: {description: "{id, title, body, impression, plan, refer_if, follow_up, updated_at}"}
      400: {description: "no title, no text, or a part too long (field names it)"}
      404: {description: "the caller is not a specialist"}
    """  # noqa: E501
    data = await json_body(request)
    saved = await answer_templates.create(app_state(request), current_user(request),
                                          data.get("title"), data)
    return JSONResponse(saved, status_code=201)


async def update_template(request: Request) -> Response:
    """
    summary: Replace one of the caller's answer templates (specialists)
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [title]
            properties:
              title: {type: string, maxLength: 120}
              body: {type: string, maxLength: 5000}
              impression: {type: string, maxLength: 5000}
              plan: {type: string, maxLength: 5000}
              refer_if: {type: string, maxLength: 5000}
              follow_up: {type: string, maxLength: 5000}
    responses:
      200: {description: "the template as stored"}
      400: {description: "no title, no text, or a part too long"}
      404: {description: "no such template of the caller's (another's answers the same)"}
    """
    data = await json_body(request)
    saved = await answer_templates.update(app_state(request), current_user(request),
                                          request.path_params["id"], data.get("title"), data)
    return JSONResponse(saved)


async def delete_template(request: Request) -> Response:
    """
    summary: Delete one of the caller's answer templates (specialists)
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    responses:
      204: {description: "deleted"}
      404: {description: "no such template of the caller's (another's answers the same)"}
    """
    await answer_templates.delete(app_state(request), current_user(request),
                                  request.path_params["id"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/specialties/{slug}/checklists", list_checklists, methods=["GET"]),
        Route("/specialties/{slug}/checklists/{reason}", put_checklist, methods=["PUT"]),
        Route("/specialties/{slug}/checklists/{reason}/versions", list_checklist_versions,
              methods=["GET"]),
        Route("/specialties/{slug}/specialists", list_specialists, methods=["GET"]),
        Route("/answer-templates", list_templates, methods=["GET"]),
        Route("/answer-templates", create_template, methods=["POST"]),
        Route("/answer-templates/{id}", update_template, methods=["PUT"]),
        Route("/answer-templates/{id}", delete_template, methods=["DELETE"]),
    ]
