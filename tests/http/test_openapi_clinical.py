"""The clinical-content routes describe themselves fully: a summary, their parameters,
a request body where they take one, and their responses."""

from __future__ import annotations

import httpx

ROUTES = {
    ("/specialties/{slug}/checklists", "get"), ("/specialties/{slug}/checklists/{reason}", "put"),
    ("/specialties/{slug}/checklists/{reason}/versions", "get"),
    ("/specialties/{slug}/specialists", "get"), ("/answer-templates", "get"),
    ("/answer-templates", "post"), ("/answer-templates/{id}", "put"),
    ("/answer-templates/{id}", "delete"), ("/consults", "post"), ("/consults/{id}", "get"),
    ("/consults/{id}/messages", "post"), ("/consults/{id}/convert", "post"),
}
WITH_BODY = {("/specialties/{slug}/checklists/{reason}", "put"), ("/answer-templates", "post"),
             ("/answer-templates/{id}", "put"), ("/consults", "post"),
             ("/consults/{id}/messages", "post"), ("/consults/{id}/convert", "post")}


async def test_clinical_routes_are_fully_described(anon: httpx.AsyncClient) -> None:
    schema = (await anon.get("/api/v1/openapi.json")).json()
    paths, shared = schema["paths"], schema.get("components", {}).get("parameters", {})

    def resolved(p: dict[str, str]) -> dict[str, str]:  # a shared parameter by $ref
        ref = p.get("$ref", "")
        return shared[ref.rsplit("/", 1)[1]] if ref else p

    for path, method in sorted(ROUTES):
        op = paths[path][method]
        assert op.get("summary"), (path, method)
        assert op.get("responses") and any(str(code).startswith("4") for code in op["responses"])
        if "{" in path:
            named = {resolved(p)["name"] for p in op.get("parameters", [])
                     if resolved(p)["in"] == "path"}
            assert named == {part[1:-1] for part in path.split("/") if part.startswith("{")}
        if (path, method) in WITH_BODY:
            assert op["requestBody"]["content"], (path, method)
    props = paths["/consults"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"reason", "checklist", "patient_sex", "medications", "allergies",
            "specialist"} <= set(props["schema"]["properties"])
