"""Exports for the patient's chart: the consult letter (PDF) and a photo as DICOM."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.state import app_state
from econsult.interop.dicom_export import dicom_of
from econsult.interop.letter import consult_letter


async def letter_pdf(request: Request) -> Response:
    """
    summary: The whole consult as a PDF letter for the patient's chart; audited
    parameters:
      - {$ref: "#/components/parameters/ConsultId"}
    responses:
      200: {description: "application/pdf", content: {application/pdf: {schema: {type: string, format: binary}}}}
      404: {description: "Unknown, or not the caller's to see (staff included)", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
      401: {$ref: "#/components/responses/NotAuthenticated"}
    """  # noqa: E501
    state = app_state(request)
    letter = await consult_letter(state, state.templates.env, current_user(request),
                                  request.path_params["id"], client_addr=client_addr(request))
    return Response(letter.content, media_type="application/pdf", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{letter.filename}"',
    })


async def image_dicom(request: Request) -> Response:
    """
    summary: The photo as a DICOM object (VL Photographic or Dermoscopic Photography Image); audited
    parameters:
      - {$ref: "#/components/parameters/ImageId"}
    responses:
      200: {description: "application/dicom", content: {application/dicom: {schema: {type: string, format: binary}}}}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
    found = await dicom_of(app_state(request), current_user(request), request.path_params["id"],
                           client_addr=client_addr(request))
    return Response(found.content, media_type="application/dicom", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{found.filename}"',
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/consults/{id}/letter.pdf", letter_pdf, methods=["GET"]),
        Route("/images/{id}/dicom", image_dicom, methods=["GET"]),
    ]
