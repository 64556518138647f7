"""JSON API for consults: parse, call one service function, answer."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from econsult.consults import attachments, image_intake, lifecycle, listing, messaging, queries
from econsult.consults.attachments import AttachmentUpload
from econsult.consults.clinical_intake import ClinicalInput, parse_answers
from econsult.consults.image_intake import Upload
from econsult.consults.listing import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, parse_states
from econsult.consults.messaging import AnswerParts
from econsult.consults.submission import DERMATOLOGY_FIELDS, SubmitInput
from econsult.consults.submit import authorize_submit, submit_with_photos
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


_FILE_FIELDS = frozenset({"images", "attachments"})


async def _form(request: Request) -> ParsedForm:
    settings = app_state(request).settings
    cap, pdf_cap = settings.max_image_bytes, settings.max_attachment_bytes
    form = await parse_multipart(
        request, max_file_bytes=max(cap, pdf_cap),
        max_files=image_intake.MAX_IMAGES + attachments.MAX_ATTACHMENTS,
        max_body_bytes=(cap * image_intake.MAX_IMAGES + pdf_cap * attachments.MAX_ATTACHMENTS
                        + 1024 * 1024),
    )
    for upload in form.files:
        if upload.field_name not in _FILE_FIELDS and (upload.filename or upload.data):
            raise InvalidInput("Send photos as 'images' and PDF documents as 'attachments'.",
                               field=upload.field_name[:64] or "attachments",
                               code="unknown_file_field")
    return form


def _attachments(form: ParsedForm) -> list[AttachmentUpload]:
    # A browser sends an empty, nameless part for a file input left blank.
    return [AttachmentUpload(data=f.data, filename=f.filename)
            for f in form.files_named("attachments") if f.filename or f.data]


def _uploads(form: ParsedForm) -> list[Upload]:
    files = form.files_named("images")
    labels = form.fields.get("image_labels", [])
    return [Upload(data=f.data, filename=f.filename,
                   label=(labels[i] if i < len(labels) and labels[i] else "other"))
            for i, f in enumerate(files)]


async def create_consult(request: Request) -> Response:
    """
    summary: Submit a consult (multipart form with optional photos and PDF attachments)
    description: "Routed at once: to the named specialist when they are on call and under their cap, else to the on-call specialist (the `assigned` or `pooled` event says why). A delegate names the GP the consult is for in `gp` (email). With a `reason`, the `checklist` answers are validated against that reason's current checklist (GET /specialties/{slug}/checklists) and the consult records its version. Photos are decoded, stripped of every metadata block but their colour profile, and re-encoded; PDFs are checked with pikepdf (refused if password-protected, not a PDF, over ECONSULT_MAX_ATTACHMENT_MB or the page bound) and stored without JavaScript, actions or embedded files. Everything is encrypted before the consult is written; a refused file changes nothing. Idempotency-Key makes retries safe."
    parameters:
      - {name: Idempotency-Key, in: header, required: false, description: "8 to 128 characters; a retry with the same key returns the first consult", schema: {type: string, minLength: 8, maxLength: 128}}
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            required: [specialty, urgency, question, patient_name, patient_dob, patient_health_number]
            properties:
              specialty: {type: string, maxLength: 64, description: "specialty slug"}
              urgency: {type: string, enum: [urgent, semi_urgent, routine]}
              question: {type: string, minLength: 10, maxLength: 10000}
              patient_name: {type: string, maxLength: 200}
              patient_dob: {type: string, format: date, description: "YYYY-MM-DD"}
              patient_health_number: {type: string, maxLength: 32}
              patient_sex: {type: string, enum: [female, male, intersex, unknown]}
              medications: {type: string, maxLength: 4000, description: "current medications (sealed)"}
              allergies: {type: string, maxLength: 4000, description: "allergies (sealed)"}
              reason: {type: string, description: "reason for referral: a checklist's reason"}
              checklist: {type: string, description: "JSON object of the checklist's answers, by item name"}
              specialist: {type: string, format: email, description: "my usual specialist (of this specialty); remembered for the GP"}
              body_site: {type: string}
              duration: {type: string}
              lesion_description: {type: string}
              symptoms: {type: string}
              fitzpatrick: {type: string, enum: [I, II, III, IV, V, VI]}
              gp: {type: string, format: email, description: "email of the GP the consult is for (a delegate must send it)"}
              images: {type: array, items: {type: string, format: binary}, description: "photos (JPEG, PNG, WebP, HEIC), at most 10"}
              image_labels: {type: array, items: {type: string, enum: [overview, close_up, dermoscopy, other]}, description: "one per photo, in order"}
              attachments: {type: array, items: {type: string, format: binary}, description: "PDF documents, at most 5, each within ECONSULT_MAX_ATTACHMENT_MB (default 10) and 500 pages"}
    responses:
      201: {description: "{id, state, specialty, urgency, assigned_to, due_at, images: [{id, label, width, height, warnings}], attachments: [{id, filename, pages, size_bytes, removed}]}"}
      200: {description: "an Idempotency-Key replay: the first submission (Idempotent-Replayed: true)"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {description: "the Idempotency-Key was used for another consult"}
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
        clinical=ClinicalInput(
            reason=form.first("reason") or "", checklist=parse_answers(form.first("checklist")),
            patient_sex=form.first("patient_sex") or "",
            medications=form.first("medications") or "",
            allergies=form.first("allergies") or "", specialist=form.first("specialist") or ""),
    )
    summary, created = await submit_with_photos(svc, user, data, _uploads(form),
                                                client_addr=client_addr(request),
                                                attachments=_attachments(form))
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
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {description: "staff may not search by patient (q)"}
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
    summary: One consult with messages, photos, PDF attachments and the event timeline
    description: "For the people on the consult: the decrypted question, patient, details, `reason`, `checklist` ({reason, title, version, items: [{name, label, value, required, recommended, text}], missing_recommended}, rendered with the version it was sent with), `patient_sex`, `medications`, `allergies`, `referral`, messages, photos (each with its quality warnings) and PDF attachments (each with its page count); an answer carries `impression`, `plan`, `refer_if`, `follow_up`, `referral_advised` and its `signatory` {name, credentials, registration}. Staff get codes and times only. Every consult carries the `actions` the caller may take now. Audited."
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    responses:
      200: {description: "{id, state, specialty, urgency, assigned_to, due_at, ..., events, actions, side; for clinicians also patient, question, details, checklist, images: [{id, label, width, height, warnings: [{code, message}], message_id}], attachments: [{id, filename, pages, size_bytes, removed, message_id}], messages: [{id, kind, author, author_name, at, minutes, body, images, attachments, impression, plan, refer_if, follow_up, referral_advised, signatory}]}"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
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
    summary: Message, clarification request, answer or addendum (multipart with photos and PDFs, or JSON)
    description: "`kind` is message (default), clarification_request, answer (needs `minutes`) or addendum: the specialist who answered adds to the answer of an answered or closed consult; it is shown under the answer and changes no state or clock. Photos in a reply take the same labels (image_labels) and checks as at submit; PDFs the same checks and sanitising as a consult's attachments. An answer records `minutes` (1 to the configured cap, ECONSULT_MAX_ANSWER_MINUTES, default 60; more is refused) and may be structured: `impression`, `plan`, `refer_if` (red flags, the safety net), `follow_up`, `referral_advised`. Every answer is signed by the specialist who writes it with their name, credentials and registration number; a structured answer needs the registration number on the profile."
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
              kind: {type: string, enum: [message, clarification_request, answer, addendum], default: message}
              minutes: {type: integer, minimum: 1, maximum: 60, description: "with an answer"}
              impression: {type: string, maxLength: 5000}
              plan: {type: string, maxLength: 5000}
              refer_if: {type: string, maxLength: 5000}
              follow_up: {type: string, maxLength: 5000}
              referral_advised: {type: boolean}
        multipart/form-data:
          schema:
            type: object
            required: [body]
            properties:
              body: {type: string, maxLength: 20000}
              kind: {type: string, enum: [message, clarification_request, answer, addendum]}
              minutes: {type: integer, minimum: 1, maximum: 60}
              impression: {type: string}
              plan: {type: string}
              refer_if: {type: string}
              follow_up: {type: string}
              referral_advised: {type: string, enum: ["true", "false"]}
              images: {type: array, items: {type: string, format: binary}}
              image_labels: {type: array, items: {type: string, enum: [overview, close_up, dermoscopy, other]}}
              attachments: {type: array, items: {type: string, format: binary}, description: "PDF documents"}
    responses:
      201: {description: "{consult, message_id, images: [{id, label, width, height, warnings}], attachments: [{id, filename, pages, size_bytes, removed}]}"}
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
    documents: list[AttachmentUpload] = []
    # Before a byte of the body is read: a stranger's photos are never processed.
    await messaging.authorize_message(svc, user, request.path_params["id"])
    if _is_multipart(request):
        form = await _form(request)
        body, kind = form.first("body") or "", form.first("kind") or "message"
        minutes_raw: Any = form.first("minutes")
        uploads = _uploads(form)
        documents = _attachments(form)
        parts = _parts({name: form.first(name) for name in _PARTS},
                       form.first("referral_advised"))
    else:
        data = await json_body(request)
        body = text_field(data, "body", max_length=20_000)
        kind = text_field(data, "kind", required=False, max_length=32) or "message"
        minutes_raw = data.get("minutes")
        parts = _parts({name: text_field(data, name, required=False, max_length=5000)
                        for name in _PARTS}, data.get("referral_advised"))
    minutes = _minutes(minutes_raw)
    summary, message_id, stored, pdfs = await messaging.post_message_with_photos(
        svc, user, request.path_params["id"], body=body, kind=kind, minutes=minutes,
        uploads=uploads, parts=parts, client_addr=client_addr(request),
        attachments=documents)
    return JSONResponse({"consult": summary, "message_id": message_id,
                         "images": [i.public() for i in stored],
                         "attachments": [a.public() for a in pdfs]}, status_code=201)


_PARTS = ("impression", "plan", "refer_if", "follow_up")


def _parts(texts: dict[str, str | None], advised: object) -> AnswerParts:
    if advised in (None, "", False, "false", "off", "no"):
        flag = False
    elif advised in (True, "true", "on", "yes"):
        flag = True
    else:
        raise InvalidInput("referral_advised must be true or false.", field="referral_advised")
    return AnswerParts(**{k: v or "" for k, v in texts.items()}, referral_advised=flag)


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
    summary: Convert to an urgent call-back request, or to a referral (the GP)
    description: "A referral needs a `reason`; it keeps the consult's request date as the referral date (the patient keeps their place) and records who decided: the GP's own choice, or the specialist's recommendation (the latest answer had referral_advised) accepted by the GP. `on_advice` true insists on the latter (409 if no answer advised it), false records the GP's choice; left out, the latest answer decides. The referral summary goes into the consult letter."
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
              reason: {type: string, maxLength: 2000, description: "required for a referral"}
              on_advice: {type: boolean}
    responses:
      200: {description: "the consult's summary {id, state, specialty, urgency, assigned_to, due_at, ...}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      409: {$ref: "#/components/responses/Conflict"}
    """  # noqa: E501
    data = await json_body(request)
    on_advice = data.get("on_advice")
    if on_advice is not None and not isinstance(on_advice, bool):
        raise InvalidInput("on_advice must be true or false.", field="on_advice")
    summary = await lifecycle.convert(app_state(request), current_user(request),
                                      request.path_params["id"],
                                      to=text_field(data, "to", max_length=32),
                                      reason=text_field(data, "reason", required=False,
                                                        max_length=2000),
                                      on_advice=on_advice, client_addr=client_addr(request))
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
