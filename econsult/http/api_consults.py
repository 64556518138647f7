"""JSON API for consults: parse, call one service function, answer."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from econsult.consults import image_intake, lifecycle, messaging, queries
from econsult.consults.image_intake import Upload
from econsult.consults.submit import (
    DERMATOLOGY_FIELDS,
    SubmitInput,
    authorize_submit,
    submit_with_photos,
)
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import client_addr, json_body, text_field
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state
from econsult.http.uploads import ParsedForm, parse_multipart


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def _form(request: Request) -> ParsedForm:
    svc = app_state(request)
    cap = svc.settings.max_image_bytes
    return await parse_multipart(
        request, max_file_bytes=cap, max_files=image_intake.MAX_IMAGES,
        max_body_bytes=cap * image_intake.MAX_IMAGES + 1024 * 1024,
    )


def _uploads(form: ParsedForm) -> list[Upload]:
    files = form.files_named("images")
    labels = form.fields.get("image_labels", [])
    return [Upload(data=f.data, filename=f.filename,
                   label=(labels[i] if i < len(labels) and labels[i] else "other"))
            for i, f in enumerate(files)]


async def create_consult(request: Request) -> Response:
    """
    summary: Submit a consult (multipart form with optional images)
    description: A delegate names the GP the consult is for in `gp` (email). Photos are checked, stripped of metadata and encrypted.
    parameters:
      - {name: Idempotency-Key, in: header, required: false, description: "a retry with the same key returns the first submission", schema: {type: string, maxLength: 200}}
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            required: [specialty, urgency, question, patient_name, patient_dob, patient_health_number]
            properties:
                specialty: {type: string, maxLength: 64}
                urgency: {type: string, enum: [urgent, semi_urgent, routine]}
                question: {type: string, maxLength: 4000}
                patient_name: {type: string, maxLength: 200}
                patient_dob: {type: string, format: date, description: "YYYY-MM-DD"}
                patient_health_number: {type: string, maxLength: 32}
                body_site: {type: string}
                duration: {type: string}
                lesion_description: {type: string}
                symptoms: {type: string}
                gp: {type: string, description: "the GP's email (delegates only)"}
                images: {type: array, maxItems: 4, items: {type: string, format: binary}}
                image_labels: {type: array, items: {type: string, enum: [overview, close_up, dermoscopy, other]}}
    responses:
      201: {description: "{id, state, specialty, urgency, assigned_to, due_at, images}"}
      200: {description: "an Idempotency-Key replay: the first submission (Idempotent-Replayed: true)"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      413: {$ref: "#/components/responses/TooLarge"}
    """  # noqa: E501
    svc = app_state(request)
    user = current_user(request)
    authorize_submit(user)  # before a byte of the body is read
    if not _is_multipart(request):
        raise InvalidInput("Submit consults as multipart/form-data.", code="bad_content_type")
    form = await _form(request)
    data = SubmitInput(
        specialty=form.first("specialty") or "",
        urgency=form.first("urgency") or "",
        question=form.first("question") or "",
        patient_name=form.first("patient_name") or "",
        patient_dob=form.first("patient_dob") or "",
        patient_health_number=form.first("patient_health_number") or "",
        details={k: form.first(k) or "" for k in DERMATOLOGY_FIELDS if form.first(k)},
        idempotency_key=request.headers.get("idempotency-key"),
        gp=form.first("gp") or "",
    )
    summary, created = await submit_with_photos(svc, user, data, _uploads(form),
                                                client_addr=client_addr(request))
    return JSONResponse(summary, status_code=201, headers={} if created else {
        "Idempotent-Replayed": "true"})


async def list_consults(request: Request) -> Response:
    """
    summary: The caller's consults (?state=); a specialist's open queue by due time
    parameters:
      - {name: state, in: query, required: false, schema: {type: string, enum: [assigned, pooled, in_review, awaiting_gp, answered, closed, cancelled]}}
    responses:
      200: {description: "{consults: [...]}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
    """  # noqa: E501
    svc = app_state(request)
    rows = await queries.list_for(svc, current_user(request),
                                  state=request.query_params.get("state") or None,
                                  client_addr=client_addr(request))
    return JSONResponse({"consults": rows})


async def get_consult(request: Request) -> Response:
    """
    summary: One consult with messages, image ids and the event timeline
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    responses:
      200: {description: "the consult's detail, with the `actions` the caller may take now"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    svc = app_state(request)
    detail = await queries.detail(svc, current_user(request), request.path_params["id"],
                                  client_addr=client_addr(request))
    return JSONResponse(detail.to_json())


async def acknowledge(request: Request) -> Response:
    """
    summary: Acknowledge (specialist); claims a pooled consult
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    x-no-body: true
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    svc = app_state(request)
    summary = await lifecycle.acknowledge(svc, current_user(request), request.path_params["id"],
                                          client_addr=client_addr(request))
    return JSONResponse(summary)


async def post_message(request: Request) -> Response:
    """
    summary: Message, clarification request or answer (multipart or JSON)
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [body]
            properties:
              body: {type: string, maxLength: 20000}
              kind: {type: string, enum: [message, clarification_request, answer]}
              minutes: {type: integer, minimum: 1, maximum: 60, description: "time spent (answers)"}
        multipart/form-data:
          schema:
            type: object
            required: [body]
            properties:
                body: {type: string, maxLength: 20000}
                kind: {type: string, enum: [message, clarification_request, answer]}
                minutes: {type: integer, minimum: 1, maximum: 60}
                images: {type: array, maxItems: 4, items: {type: string, format: binary}}
                image_labels: {type: array, items: {type: string, enum: [overview, close_up, dermoscopy, other]}}
    responses:
      201: {description: "{consult, message_id, images}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
      413: {$ref: "#/components/responses/TooLarge"}
      415: {$ref: "#/components/responses/UnsupportedMedia"}
    """  # noqa: E501
    svc = app_state(request)
    user = current_user(request)
    uploads: list[Upload] = []
    # Before a byte of the body is read: a stranger's photos are never processed.
    await messaging.authorize_message(svc, user, request.path_params["id"])
    if _is_multipart(request):
        form = await _form(request)
        body, kind = form.first("body") or "", form.first("kind") or "message"
        minutes_raw: Any = form.first("minutes")
        uploads = _uploads(form)
    else:
        data = await json_body(request)
        body = text_field(data, "body", max_length=20_000)
        kind = text_field(data, "kind", required=False, max_length=32) or "message"
        minutes_raw = data.get("minutes")
    minutes = _minutes(minutes_raw)
    summary, message_id, stored = await messaging.post_message_with_photos(
        svc, user, request.path_params["id"], body=body, kind=kind, minutes=minutes,
        uploads=uploads, client_addr=client_addr(request))
    return JSONResponse({"consult": summary, "message_id": message_id,
                         "images": [i.public() for i in stored]}, status_code=201)


def _minutes(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidInput("Minutes must be a whole number.", field="minutes")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidInput("Minutes must be a whole number.", field="minutes") from None


async def reroute(request: Request) -> Response:
    """
    summary: Send the consult to another specialty with a reason (routing runs again)
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [specialty, reason]
            properties:
              specialty: {type: string, maxLength: 64}
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
    summary = await lifecycle.reroute(
        app_state(request), current_user(request), request.path_params["id"],
        specialty=text_field(data, "specialty", max_length=64),
        reason=text_field(data, "reason", max_length=2000), client_addr=client_addr(request))
    return JSONResponse(summary)


async def return_to_pool(request: Request) -> Response:
    """
    summary: Hand the consult back to the specialty pool
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    x-no-body: true
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    summary = await lifecycle.return_to_pool(app_state(request), current_user(request),
                                             request.path_params["id"],
                                             client_addr=client_addr(request))
    return JSONResponse(summary)


async def convert(request: Request) -> Response:
    """
    summary: Convert to an urgent call-back request or record that a referral is needed
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [to]
            properties:
              to: {type: string, enum: [urgent_callback, referral]}
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    data = await json_body(request)
    summary = await lifecycle.convert(app_state(request), current_user(request),
                                      request.path_params["id"],
                                      to=text_field(data, "to", max_length=32),
                                      client_addr=client_addr(request))
    return JSONResponse(summary)


async def close(request: Request) -> Response:
    """
    summary: Close with the outcome survey {outcome, usefulness, comment?}
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [outcome, usefulness]
            properties:
              outcome: {type: string, enum: [referral_avoided, referral_still_needed, referral_now_planned, other]}
              usefulness: {type: integer, minimum: 1, maximum: 5}
              comment: {type: string, maxLength: 2000}
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    data = await json_body(request)
    summary = await lifecycle.close(
        app_state(request), current_user(request), request.path_params["id"],
        outcome=text_field(data, "outcome", max_length=32), usefulness=data.get("usefulness"),
        comment=text_field(data, "comment", required=False, max_length=2000),
        client_addr=client_addr(request))
    return JSONResponse(summary)


async def cancel(request: Request) -> Response:
    """
    summary: Withdraw the consult before it is answered
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    x-no-body: true
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    summary = await lifecycle.cancel(app_state(request), current_user(request),
                                     request.path_params["id"], client_addr=client_addr(request))
    return JSONResponse(summary)
