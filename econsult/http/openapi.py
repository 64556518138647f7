"""`/api/v1/openapi.json`: the API described from its handlers' YAML docstrings.

Each handler's docstring is its OpenAPI operation (summary, parameters, requestBody,
responses); what many share (ids, the error body, the date-time rule) is defined once
here under `components` and named with `$ref`. `tests/http/test_openapi_complete.py`
fails for any route that lacks its path parameters, its query parameters, a request
body (or `x-no-body: true`) on a mutating call, or a success and an error response,
so a route added without its description is caught before it ships; `schemathesis`
then fuzzes the API from this description (tests/http/test_fuzz_api.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from econsult.http.requests import MAX_ID, MAX_YEAR, MIN_YEAR
from econsult.http.responses import JSONResponse

_DATE_TIME = (f"ISO 8601: a date (midnight in the program's zone), a date-time with an "
              f"offset, or one without (program time); years {MIN_YEAR}-{MAX_YEAR}")
_ERROR = {"description": "A clear error: `{error: {code, message}}`",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _uuid_param(what: str) -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "description": f"the {what}'s id",
            "schema": {"type": "string", "format": "uuid"}}


def _text_query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", "maxLength": 64}}


COMPONENTS: dict[str, Any] = {
    "parameters": {
        "ConsultId": _uuid_param("consult"),
        "ImageId": _uuid_param("image"),
        "RowId": {"name": "id", "in": "path", "required": True,
                  "description": "the row's id (a positive whole number)",
                  "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
        "Specialty": {"name": "specialty", "in": "path", "required": True,
                      "description": "a specialty's slug, e.g. dermatology",
                      "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}},
        "Slug": {"name": "slug", "in": "path", "required": True,
                 "description": "a specialty's slug, e.g. dermatology",
                 "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}},
        "From": {"name": "from", "in": "query", "required": False,
                 "description": f"start of the window; {_DATE_TIME}",
                 "schema": {"type": "string", "maxLength": 64}},
        "To": {"name": "to", "in": "query", "required": False,
               "description": f"end of the window (after `from`); {_DATE_TIME}",
               "schema": {"type": "string", "maxLength": 64}},
        "SpecialtyFilter": _text_query("specialty", "only this specialty (slug)"),
        "UrgencyFilter": {"name": "urgency", "in": "query", "required": False,
                          "schema": {"type": "string",
                                     "enum": ["urgent", "semi_urgent", "routine"]}},
    },
    "schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "field": {"type": "string"}}}}},
        "Object": {"type": "object", "description": "see the operation's description"},
    },
    "responses": {
        "BadInput": {**_ERROR, "description": "The input was refused (the message says why)"},
        "NotAuthenticated": {**_ERROR, "description": "No live session (log in)"},
        "Forbidden": {**_ERROR, "description": "The caller's role may not do this, or the "
                      "CSRF header is missing"},
        "NotFound": {**_ERROR, "description": "Unknown, or not the caller's to see (the same "
                     "answer, so ids cannot be probed)"},
        "Conflict": {**_ERROR, "description": "Not possible in the consult's state now"},
        "TooLarge": {**_ERROR, "description": "The body or a file is over the size limit"},
        "UnsupportedMedia": {**_ERROR, "description": "Send the body as the operation says"},
    },
    "securitySchemes": {
        "session": {"type": "apiKey", "in": "cookie", "name": "econsult_session",
                    "description": "the session cookie set by /auth/login; unsafe methods "
                    "also need the X-CSRF-Token header (from /auth/login or /me)"},
    },
}


def build(routes: list[BaseRoute]) -> dict[str, Any]:
    generator = SchemaGenerator({"openapi": "3.0.3",
                                 "info": {"title": "econsult API", "version": "1"},
                                 "servers": [{"url": "/api/v1"}],
                                 "security": [{"session": []}],
                                 "components": COMPONENTS})
    return generator.get_schema(routes=routes)


async def openapi(request: Request) -> Response:
    from econsult.http.routes import api_routes

    return JSONResponse(build(api_routes()))
