"""JSON API for drafts: a consult saved as it is typed, its photos uploaded once, sent
by reference. Parse, call one service function (`consults.drafts`), answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import attachments as pdfs
from econsult.consults import drafts
from econsult.consults.attachments import AttachmentUpload
from econsult.consults.image_intake import MAX_IMAGES, Upload
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import client_addr, json_body
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state
from econsult.http.uploads import parse_multipart

_FORM_OVERHEAD = 1024 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


async def _fields(request: Request) -> object:
    """The JSON body, or no fields at all for an empty one."""
    if not await request.body():
        return {}
    return await json_body(request)


async def create_draft(request: Request) -> Response:
    """
    summary: Start a draft (the consult form saved as it is typed)
    description: "The body holds any of the fields POST /consults takes (specialty, urgency, question, patient_name, patient_dob, patient_health_number, gp, body_site, duration, lesion_description, symptoms, history, fitzpatrick), all text and all optional: a draft may be incomplete. Stored encrypted. Only its author, and the GP it is for, ever see it."
    requestBody:
      required: false
      content:
        application/json:
          schema:
            type: object
            additionalProperties: {type: string}
            example: {specialty: dermatology, patient_name: "Pat Example"}
    responses:
      201: {description: "{id, fields, images: [], author: {id, name}, gp_id, created_at, updated_at}"}
      400: {description: "An unknown field, a value that is not text or is too long, or a GP the caller does not work for (field gp)"}
      401: {description: "No session, or it has ended"}
      404: {description: "The caller may not start consults (specialists, staff, admins)"}
    """  # noqa: E501
    draft = await drafts.create(app_state(request), current_user(request),
                                await _fields(request))
    return JSONResponse(draft, status_code=201, headers=_NO_STORE)


async def list_drafts(request: Request) -> Response:
    """
    summary: The caller's unsent drafts, the most recently edited first
    description: "A GP sees their own drafts and those their delegates started for them; a delegate sees their own."
    responses:
      200: {description: "{drafts: [{id, patient_name, specialty, question, photos, author: {id, name}, created_at, updated_at}], keep_days}"}
      401: {description: "No session, or it has ended"}
    """  # noqa: E501
    svc = app_state(request)
    items = await drafts.list_for(svc, current_user(request))
    return JSONResponse({"drafts": items, "keep_days": svc.settings.draft_days},
                        headers=_NO_STORE)


async def get_draft(request: Request) -> Response:
    """
    summary: One draft with its fields and photos
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    responses:
      200: {description: "{id, fields, images: [{id, label, width, height, warnings}], author, gp_id, created_at, updated_at}"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown, sent already, or not the caller's (indistinguishable)"}
    """  # noqa: E501
    draft = await drafts.get(app_state(request), current_user(request),
                             request.path_params["id"])
    return JSONResponse(draft, headers=_NO_STORE)


async def put_draft(request: Request) -> Response:
    """
    summary: Save the draft's fields (the whole form as it is now)
    description: "Replaces every field; a field left out is empty. Photos are unchanged (they have their own calls)."
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object, additionalProperties: {type: string}}
    responses:
      200: {description: "the draft, as GET returns it"}
      400: {description: "An unknown field, a value that is not text or too long, or a GP the caller does not work for"}
      401: {description: "No session, or it has ended"}
      403: {description: "Missing or invalid CSRF token"}
      404: {description: "Unknown, sent already, or not the caller's"}
    """  # noqa: E501
    draft = await drafts.save(app_state(request), current_user(request),
                              request.path_params["id"], await json_body(request))
    return JSONResponse(draft, headers=_NO_STORE)


async def delete_draft(request: Request) -> Response:
    """
    summary: Discard the draft and its photos
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    responses:
      204: {description: "discarded; its photos' blobs are removed"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown, sent already, or not the caller's"}
    """
    await drafts.discard(app_state(request), current_user(request), request.path_params["id"])
    return Response(status_code=204)


async def _attachments(request: Request) -> list[AttachmentUpload]:
    """The PDFs a send carries (multipart `attachments`), or none (no body, or JSON)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return []
    cap = app_state(request).settings.max_attachment_bytes
    form = await parse_multipart(request, max_file_bytes=cap, max_files=pdfs.MAX_ATTACHMENTS,
                                 max_body_bytes=cap * pdfs.MAX_ATTACHMENTS + 1024 * 1024)
    for upload in form.files:
        if upload.field_name != "attachments" and (upload.filename or upload.data):
            raise InvalidInput("Send PDF documents as 'attachments'; photos go into the "
                               "draft (POST /drafts/{id}/images).",
                               field=upload.field_name[:64] or "attachments",
                               code="unknown_file_field")
    # A browser sends an empty, nameless part for a file input left blank.
    return [AttachmentUpload(data=f.data, filename=f.filename)
            for f in form.files_named("attachments") if f.filename or f.data]


async def send_draft(request: Request) -> Response:
    """
    summary: Send the draft as a consult; its photos go with it by reference
    description: "Validates the fields as POST /consults does (400 names the field; the draft is kept). Idempotent: sending the same draft again, or with the same Idempotency-Key, answers the consult the first send made (header Idempotent-Replayed: true), never a second one."
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
      - {name: Idempotency-Key, in: header, required: false, schema: {type: string, minLength: 8, maxLength: 128}}
    requestBody:
      required: false
      content:
        multipart/form-data:
          schema:
            type: object
            properties:
              attachments: {type: array, items: {type: string, format: binary}, description: "PDF documents sent with the consult (a draft keeps none), checked as POST /consults checks them"}
    responses:
      201: {description: "{id, state, specialty, urgency, assigned_to, due_at, images: [{id, label, width, height, warnings}], attachments}, as POST /consults"}
      400: {description: "A field is missing or invalid (error.field names it)"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown or not the caller's"}
      409: {description: "The Idempotency-Key was already used for another consult"}
      413: {description: "A PDF or the whole upload is over the size limit"}
    """  # noqa: E501
    documents = await _attachments(request)
    summary, created = await drafts.send(
        app_state(request), current_user(request), request.path_params["id"],
        idempotency_key=request.headers.get("idempotency-key") or None,
        client_addr=client_addr(request), attachments=documents)
    return JSONResponse(summary, status_code=201,
                        headers={} if created else {"Idempotent-Replayed": "true"})


async def post_images(request: Request) -> Response:
    """
    summary: Upload photos into the draft, once; they are checked and stored there
    description: "Each photo is decoded, cleaned of metadata, assessed for quality (warnings) and stored encrypted; sending the draft sends these photos without uploading them again."
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            properties:
              images: {type: array, items: {type: string, format: binary}}
              label: {type: string, enum: [overview, close_up, dermoscopy, other]}
    responses:
      201: {description: "{images: [{id, label, width, height, warnings: [{code, message}]}]}"}
      400: {description: "No photo, a bad label, more than 10 photos in the draft, or a photo that was refused (the message says why)"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown, sent already, or not the caller's"}
      413: {description: "A photo or the upload is over the size limit"}
    """  # noqa: E501
    svc = app_state(request)
    user = current_user(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Send photos as multipart/form-data in the field 'images'.",
                           code="bad_content_type")
    cap = svc.settings.max_image_bytes
    form = await parse_multipart(request, max_file_bytes=cap, max_files=MAX_IMAGES,
                                 max_body_bytes=cap * MAX_IMAGES + _FORM_OVERHEAD)
    label = form.first("label") or "other"
    uploads = [Upload(data=f.data, filename=f.filename, label=label)
               for f in form.files_named("images") if f.filename or f.data]
    images = await drafts.add_photos(svc, user, request.path_params["id"], uploads)
    return JSONResponse({"images": images}, status_code=201, headers=_NO_STORE)


async def delete_image(request: Request) -> Response:
    """
    summary: Remove one photo from the draft
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
      - {name: image_id, in: path, required: true, schema: {type: string, format: uuid}}
    responses:
      204: {description: "removed, with its blobs"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown draft or photo, or not the caller's"}
    """
    await drafts.remove_photo(app_state(request), current_user(request),
                              request.path_params["id"], request.path_params["image_id"])
    return Response(status_code=204)


async def get_preview(request: Request) -> Response:
    """
    summary: The photo's preview, a metadata-free JPEG made by the server (HEIC too)
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
      - {name: image_id, in: path, required: true, schema: {type: string, format: uuid}}
    responses:
      200: {description: "image/jpeg, Cache-Control: no-store"}
      401: {description: "No session, or it has ended"}
      404: {description: "Unknown draft or photo, or not the caller's"}
      500: {description: "The stored photo failed its integrity check"}
    """
    image = await drafts.preview(app_state(request), current_user(request),
                                 request.path_params["id"], request.path_params["image_id"],
                                 client_addr=client_addr(request))
    return Response(image.content, media_type=image.content_type, headers={
        **_NO_STORE, "Content-Disposition": 'inline; filename="preview.jpg"'})


def routes() -> list[BaseRoute]:
    return [
        Route("/drafts", create_draft, methods=["POST"]),
        Route("/drafts", list_drafts, methods=["GET"]),
        Route("/drafts/{id}", get_draft, methods=["GET"]),
        Route("/drafts/{id}", put_draft, methods=["PUT"]),
        Route("/drafts/{id}", delete_draft, methods=["DELETE"]),
        Route("/drafts/{id}/send", send_draft, methods=["POST"]),
        Route("/drafts/{id}/images", post_images, methods=["POST"]),
        Route("/drafts/{id}/images/{image_id}", delete_image, methods=["DELETE"]),
        Route("/drafts/{id}/images/{image_id}/preview", get_preview, methods=["GET"]),
    ]
