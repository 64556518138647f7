"""/fhir handlers: parse, call one service, render. Who may see what is the policy's
(through the services); an id the client may not see answers 404 like an unknown one."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from econsult.fhir.params import (
    api_client,
    context,
    json_body,
    resource_id,
    resource_type,
    search_query,
    token_url,
)
from econsult.fhir.responses import FhirResponse, endpoint, outcome
from econsult.http.state import app_state
from econsult.interop.fhir import binary as binary_service
from econsult.interop.fhir import create, search
from econsult.interop.fhir.bundles import searchset
from econsult.interop.fhir.capability import capability_statement, smart_configuration
from econsult.interop.fhir.codes import MEDIA_TYPE
from econsult.interop.fhir.documents import binary as binary_resource
from econsult.interop.fhir.query import SEARCHABLE

# Room for ten photos at the size cap, base64-encoded, and the rest of the Bundle.
_BUNDLE_OVERHEAD = 1024 * 1024


@endpoint
async def metadata(request: Request) -> Response:
    ctx = context(request)
    return FhirResponse(capability_statement(ctx.base, token_url(request),
                                             app_state(request).clock.now()))


@endpoint
async def smart_config(request: Request) -> Response:
    # SMART: JSON whatever the Accept header says.
    return JSONResponse(smart_configuration(token_url(request)),
                        headers={"Cache-Control": "no-store"})


@endpoint
async def read(request: Request) -> Response:
    client = await api_client(request)
    resource = await search.read(app_state(request), client, context(request),
                                 resource_type(request), resource_id(request))
    return FhirResponse(resource)


@endpoint
async def search_type(request: Request) -> Response:
    client = await api_client(request)
    rt = resource_type(request)
    query = search_query(request, rt)
    ctx = context(request)
    page = await search.search(app_state(request), client, ctx, query)
    self_url = f"{ctx.base}/{rt}" + (f"?{request.url.query}" if request.url.query else "")
    next_url = None
    if page.next_cursor:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
        next_url = f"{ctx.base}/{rt}?{urlencode([*kept, ('_cursor', page.next_cursor)])}"
    return FhirResponse(searchset(ctx.base, page.entries, self_url=self_url, next_url=next_url,
                                  now=app_state(request).clock.now()))


@endpoint
async def transaction(request: Request) -> Response:
    client = await api_client(request)
    state = app_state(request)
    cap = state.settings.max_image_bytes * 10 * 4 // 3 + _BUNDLE_OVERHEAD
    bundle = await json_body(request, cap)
    key = request.headers.get("idempotency-key")
    response = await create.create(state, client, context(request), bundle,
                                   idempotency_key=key[:128] if key else None)
    return FhirResponse(response)


@endpoint
async def binary(request: Request) -> Response:
    client = await api_client(request)
    state = app_state(request)
    found = await binary_service.binary(state, state.templates.env, client, context(request),
                                        resource_id(request))
    if MEDIA_TYPE in request.headers.get("accept", ""):
        return FhirResponse(binary_resource(found.id, found.content_type, found.content))
    return Response(found.content, media_type=found.content_type,
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@endpoint
async def unsupported(request: Request) -> Response:
    first = request.url.path.removeprefix("/fhir").strip("/").split("/")[0]
    if request.method != "GET" and (first in SEARCHABLE or first == "Binary"):
        return outcome(405, f"{request.method} is not supported on {first}: resources are "
                            "created only by a transaction Bundle (POST /fhir).",
                       code="method_not_allowed")
    return outcome(404, "Not found.", code="not_found")

