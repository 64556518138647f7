"""JSON API for images: check photos before submission, and serve stored ones."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import image_access
from econsult.consults.image_intake import MAX_IMAGES, Upload
from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state
from econsult.http.uploads import parse_multipart

_FORM_OVERHEAD = 1024 * 1024  # multipart framing and the odd text field


async def check_images(request: Request) -> Response:
    """
    summary: Check photos before submitting them; nothing is stored
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            required: [images]
            properties:
                images: {type: array, minItems: 1, maxItems: 4, items: {type: string, format: binary}}
    responses:
      200: {description: "{images: [{width, height, warnings: [{code, message}]}]}"}
      400: {description: "A photo was refused; the message names which and why", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      413: {$ref: "#/components/responses/TooLarge"}
    """  # noqa: E501
    svc = app_state(request)
    user = current_user(request)
    image_access.authorize_check(user)  # before a byte of the body is read
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Send photos as multipart/form-data in the field 'images'.",
                           code="bad_content_type")
    cap = svc.settings.max_image_bytes
    form = await parse_multipart(request, max_file_bytes=cap, max_files=MAX_IMAGES,
                                 max_body_bytes=cap * MAX_IMAGES + _FORM_OVERHEAD)
    # A browser sends an empty, nameless part for a file input left blank.
    uploads = [Upload(data=f.data, filename=f.filename) for f in form.files_named("images")
               if f.filename or f.data]
    results = await image_access.check(app_state(request), user, uploads)
    return JSONResponse({"images": [
        {"width": r.width, "height": r.height, "warnings": [w.as_dict() for w in r.warnings]}
        for r in results
    ]})


async def get_image(request: Request) -> Response:
    """
    summary: The decrypted, metadata-free image (JPEG or PNG); audited
    description: "Upright pixels re-encoded from the upload; the only block kept is the photo's own ICC colour profile (e.g. an iPhone's Display P3), rebuilt from its colour tags, so browsers show its full gamut. No EXIF, GPS, XMP, IPTC or maker notes."
    parameters:
      - {$ref: "#/components/parameters/ImageId"}
    responses:
      200: {description: "image/jpeg or image/png", content: {image/jpeg: {schema: {type: string, format: binary}}, image/png: {schema: {type: string, format: binary}}}}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
      500: {description: "The stored image failed its integrity check (logged; an administrator must look)"}
    """  # noqa: E501
    return await _serve(request, "original")


async def get_thumbnail(request: Request) -> Response:
    """
    summary: The image's 512 px thumbnail; audited
    description: "Carries the same colour profile as the image, and nothing else."
    parameters:
      - {$ref: "#/components/parameters/ImageId"}
    responses:
      200: {description: "image/jpeg or image/png", content: {image/jpeg: {schema: {type: string, format: binary}}, image/png: {schema: {type: string, format: binary}}}}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
    return await _serve(request, "thumbnail")


async def _serve(request: Request, kind: Literal["original", "thumbnail"]) -> Response:
    image = await image_access.view(app_state(request), current_user(request),
                                    request.path_params["id"], kind,
                                    client_addr=client_addr(request))
    return Response(image.content, media_type=image.content_type, headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="{image.filename}"',
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/images/check", check_images, methods=["POST"]),
        Route("/images/{id}", get_image, methods=["GET"]),
        Route("/images/{id}/thumbnail", get_thumbnail, methods=["GET"]),
    ]
