"""/api/v1/openapi.json describes every route completely: each path parameter, each
query parameter the handler reads, a request body on every call that changes
something (or an explicit `x-no-body: true`), and a success and an error response.
Fails for any route added without its description, whoever adds it."""

from __future__ import annotations

import inspect
import re
from typing import Any

import httpx
from starlette.routing import Route

from econsult.http.routes import api_routes

MUTATING = {"post", "put", "patch"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _resolve(schema: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if not ref:
        return item
    node: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _reads_query(endpoint: Any) -> bool:
    try:
        source = inspect.getsource(endpoint)
    except (OSError, TypeError):
        return False
    return "query_params" in source


async def test_every_route_is_fully_described(anon: httpx.AsyncClient) -> None:
    schema = (await anon.get("/api/v1/openapi.json")).json()
    problems: list[str] = []
    for route in api_routes():
        if not isinstance(route, Route):
            problems.append(f"{route!r}: only plain Routes can be described")
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        wanted = set(re.findall(r"{(\w+)}", path))
        for method in sorted(m.lower() for m in (route.methods or ()) if m != "HEAD"):
            where = f"{method.upper()} {path}"
            op = schema["paths"].get(path, {}).get(method)
            if op is None:
                problems.append(f"{where}: missing from the schema")
                continue
            params = [_resolve(schema, p) for p in op.get("parameters", [])]
            declared = {p["name"] for p in params if p.get("in") == "path"}
            if declared != wanted:
                problems.append(f"{where}: path parameters {sorted(declared)} != "
                                f"{sorted(wanted)}")
            for p in params:
                if "schema" not in p:
                    problems.append(f"{where}: parameter {p.get('name')} has no schema")
                if p.get("in") == "path" and not p.get("required"):
                    problems.append(f"{where}: path parameter {p['name']} not required")
            if _reads_query(route.endpoint) and not any(p.get("in") == "query"
                                                        for p in params):
                problems.append(f"{where}: reads the query string but declares no query "
                                "parameters")
            if method in MUTATING:
                body = op.get("requestBody")
                if body is None and not op.get("x-no-body"):
                    problems.append(f"{where}: no requestBody (or x-no-body: true)")
                elif body is not None and not _resolve(schema, body).get("content"):
                    problems.append(f"{where}: requestBody without content")
            responses = op.get("responses") or {}
            codes = {str(code) for code in responses}
            if not any(c.startswith("2") for c in codes):
                problems.append(f"{where}: no success response")
            if not any(c.startswith("4") for c in codes):
                problems.append(f"{where}: no error response")
            if not op.get("summary"):
                problems.append(f"{where}: no summary")
    assert not problems, "\n".join(problems)


async def test_the_schema_is_valid_openapi(anon: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    validate((await anon.get("/api/v1/openapi.json")).json())
