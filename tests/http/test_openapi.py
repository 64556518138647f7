"""The API describes itself at /api/v1/openapi.json, covering every contract route."""

from __future__ import annotations

import httpx

CONTRACT = {
    ("/auth/login", "post"), ("/auth/logout", "post"), ("/me", "get"),
    ("/consults", "post"), ("/consults", "get"), ("/consults/{id}", "get"),
    ("/consults/{id}/acknowledge", "post"), ("/consults/{id}/messages", "post"),
    ("/consults/{id}/reroute", "post"), ("/consults/{id}/return", "post"),
    ("/consults/{id}/convert", "post"), ("/consults/{id}/close", "post"),
    ("/consults/{id}/cancel", "post"), ("/images/check", "post"), ("/images/{id}", "get"),
    ("/images/{id}/thumbnail", "get"), ("/specialties", "get"),
    ("/specialties/{slug}/targets", "put"), ("/rota/{specialty}", "get"),
    ("/rota/{specialty}/shifts", "post"), ("/rota/{specialty}/shifts/{id}", "delete"),
    ("/rota/{specialty}/weekly", "post"),
    ("/worklist", "get"), ("/consults/{id}/reassign", "post"),
}


async def test_openapi_lists_the_contract(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    found = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert CONTRACT <= found, sorted(CONTRACT - found)
