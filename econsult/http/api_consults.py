"""JSON API for consults: parse, call one service function, answer."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from econsult.consults import image_intake, lifecycle, listing, messaging, queries
from econsult.consults.image_intake import Upload
from econsult.consults.listing import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, parse_states
from econsult.consults.submit import DERMATOLOGY_FIELDS, SubmitInput, submit_with_photos
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import (
    client_addr,
    json_body,
    parse_date,
    parse_small_int,
    text_field,
)
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
    responses:
      201: {description: "{id, state, specialty, urgency, assigned_to, due_at, images}"}
    """
    svc = app_state(request)
    user = current_user(request)
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
    summary: The caller's consults, a page at a time, with filters and patient search
    description: >
      Only consults the caller may see (a GP's own, a delegate's GPs', a specialist's
      and their pools'; codes and times for staff). Without `state`, a specialist gets
      their open queue, soonest due first; everyone else (and a specialist asking for
      states) gets what needs their action first, then open, then finished, newest
      first. Follow `next_cursor` until it is null to reach every consult.
    parameters:
      - {name: state, in: query, schema: {type: string},
         description: "a state, several separated by commas, or all"}
      - {name: specialty, in: query, schema: {type: string}}
      - {name: q, in: query, schema: {type: string, maxLength: 100},
         description: "name prefixes (2+ letters each) or the exact health number"}
      - {name: needs_action, in: query, schema: {type: string, enum: ["0", "1"]}}
      - {name: from, in: query, schema: {type: string, format: date},
         description: "submitted on or after this day (program time zone)"}
      - {name: to, in: query, schema: {type: string, format: date},
         description: "submitted on or before this day (program time zone)"}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200,
         default: 50}}
      - {name: cursor, in: query, schema: {type: string},
         description: "next_cursor of the previous page"}
    responses:
      200:
        description: >
          {consults: [summary, plus patient_name, gp_id, submitted_by, gp_name,
          patient_age, question_preview, photo_count, follow_up for clinicians],
          next_cursor: string or null}
      400: {description: "a bad state, limit, date, search or cursor"}
      401: {description: "no valid session"}
    """
    svc = app_state(request)
    params = request.query_params
    query = ListQuery(
        states=parse_states(params.get("state")),
        specialty=params.get("specialty") or None,
        q=params["q"] if params.get("q", "").strip() else None,
        needs_action=_flag(params.get("needs_action"), "needs_action"),
        submitted_from=parse_date(params["from"], "from") if params.get("from") else None,
        submitted_to=parse_date(params["to"], "to") if params.get("to") else None,
        limit=(parse_small_int(params["limit"], "limit", 1, MAX_LIMIT)
               if params.get("limit") else DEFAULT_LIMIT),
        cursor=params.get("cursor") or None,
    )
    page = await listing.page_for(svc, current_user(request), query,
                                  client_addr=client_addr(request))
    return JSONResponse({"consults": page.consults, "next_cursor": page.next_cursor})


def _flag(raw: str | None, name: str) -> bool:
    if raw in (None, "", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise InvalidInput(f"{name} must be 1 or 0.", field=name)


async def get_consult(request: Request) -> Response:
    """
    summary: One consult with messages, image ids and the event timeline
    """
    svc = app_state(request)
    detail = await queries.detail(svc, current_user(request), request.path_params["id"],
                                  client_addr=client_addr(request))
    return JSONResponse(detail.to_json())


async def acknowledge(request: Request) -> Response:
    """
    summary: Acknowledge (specialist); claims a pooled consult
    """
    svc = app_state(request)
    summary = await lifecycle.acknowledge(svc, current_user(request), request.path_params["id"],
                                          client_addr=client_addr(request))
    return JSONResponse(summary)


async def post_message(request: Request) -> Response:
    """
    summary: Message, clarification request, answer or addendum (multipart or JSON)
    description: >
      `kind` is message (default), clarification_request, answer (needs `minutes`) or
      addendum: the specialist who answered adds to the answer of an answered or
      closed consult; it is shown under the answer and changes no state or clock.
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [body]
            properties:
              body: {type: string, maxLength: 20000}
              kind: {type: string,
                     enum: [message, clarification_request, answer, addendum]}
              minutes: {type: integer, minimum: 1}
        multipart/form-data:
          schema:
            type: object
            properties:
              body: {type: string}
              kind: {type: string}
              minutes: {type: integer}
              images: {type: array, items: {type: string, format: binary}}
    responses:
      201: {description: "{consult, message_id, images}"}
      400: {description: "empty or too long body, unknown kind, missing minutes"}
      401: {description: "no valid session"}
      404: {description: "unknown consult, or not the caller's to write on (or kind)"}
      409: {description: "the consult's state does not allow this kind now"}
    """
    svc = app_state(request)
    user = current_user(request)
    uploads: list[Upload] = []
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
    """
    data = await json_body(request)
    summary = await lifecycle.reroute(
        app_state(request), current_user(request), request.path_params["id"],
        specialty=text_field(data, "specialty", max_length=64),
        reason=text_field(data, "reason", max_length=2000), client_addr=client_addr(request))
    return JSONResponse(summary)


async def return_to_pool(request: Request) -> Response:
    """
    summary: Hand the consult back to the specialty pool
    """
    summary = await lifecycle.return_to_pool(app_state(request), current_user(request),
                                             request.path_params["id"],
                                             client_addr=client_addr(request))
    return JSONResponse(summary)


async def convert(request: Request) -> Response:
    """
    summary: Convert to an urgent call-back request or record that a referral is needed
    """
    data = await json_body(request)
    summary = await lifecycle.convert(app_state(request), current_user(request),
                                      request.path_params["id"],
                                      to=text_field(data, "to", max_length=32),
                                      client_addr=client_addr(request))
    return JSONResponse(summary)


async def close(request: Request) -> Response:
    """
    summary: Close with the outcome survey {outcome, usefulness, comment?}
    """
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
    """
    summary = await lifecycle.cancel(app_state(request), current_user(request),
                                     request.path_params["id"], client_addr=client_addr(request))
    return JSONResponse(summary)
