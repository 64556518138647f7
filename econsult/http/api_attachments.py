"""JSON API face of PDF attachments: the download (the only way a stored PDF leaves).

Served only as a download: `Content-Disposition: attachment`, a sandboxing CSP (a
browser that renders it anyway runs no script and has no origin), `nosniff`, and
`no-store`, so no copy stays in a shared cache.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.consults import attachments
from econsult.http.auth import current_user
from econsult.http.requests import client_addr
from econsult.http.state import app_state


async def get_attachment(request: Request) -> Response:
    """
    summary: Download a PDF attachment of a consult or of a message (audited)
    description: "The sanitised copy that was stored (no JavaScript, actions or embedded files), decrypted for a caller allowed to see the consult. Always a download: Content-Disposition attachment, Content-Security-Policy sandbox, X-Content-Type-Options nosniff, Cache-Control no-store. Every download is written to the audit log."
    parameters:
      - {name: id, in: path, required: true, description: "the attachment id (a UUID, as listed in the consult's attachments)", schema: {type: string, format: uuid}}
    responses:
      200: {description: "the PDF", content: {application/pdf: {schema: {type: string, format: binary}}}}
      401: {description: "No valid session"}
      404: {description: "Unknown, malformed, or not the caller's to see (indistinguishable)"}
      500: {description: "The stored file failed its integrity check (logged)"}
    """  # noqa: E501
    served = await attachments.download(app_state(request), current_user(request),
                                        request.path_params["id"],
                                        client_addr=client_addr(request))
    fallback = attachments.ascii_filename(served.filename)
    return Response(served.content, media_type=attachments.PDF_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; "
                               f"filename*=UTF-8''{quote(served.filename, safe='')}",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    })


def routes() -> list[BaseRoute]:
    return [Route("/attachments/{id}", get_attachment, methods=["GET"])]
