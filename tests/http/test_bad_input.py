"""No input reaches a 500, case by case (the fuzzer, tests/http/test_fuzz_api.py,
covers the rest): out-of-range ids in every path, dates outside any sensible range
in every date query parameter and body field, and JSON too big or too deep."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.routing import Route

from econsult.http.requests import MAX_JSON_BYTES
from econsult.http.routes import api_routes
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, submit

BAD_IDS = ("1" * 30, "9" * 19, "9926673981", str(2**31), "-1", "0", "1e9", "%00", "x" * 300)
BAD_YEARS = ("9999-01-01", "0001-01-01", "9999-12-31T23:59:59+14:00",
             "0001-01-01T00:00:00-12:00", "+10000-01-01", "2026-13-45", "99999999999")


@pytest.fixture
async def callers(personas: Personas, client_for: ClientFor) -> AsyncIterator[
        dict[str, httpx.AsyncClient]]:
    yield {role: await client_for(getattr(personas, role))
           for role in ("gp", "derm", "staff", "admin")}


def _routes_with_path_params() -> list[tuple[str, str]]:
    out = []
    for route in api_routes():
        assert isinstance(route, Route)
        if "{" in route.path:
            for method in sorted((route.methods or set()) - {"HEAD"}):
                out.append((method, route.path))
    return out


@pytest.mark.parametrize("method,path", _routes_with_path_params())
async def test_an_out_of_range_id_in_any_path_is_a_4xx(
    method: str, path: str, callers: dict[str, httpx.AsyncClient],
) -> None:
    valid = {"id": "1", "specialty": "dermatology", "slug": "dermatology",
             "reason": "palpitations", "image_id": "1"}
    names = re.findall(r"{(\w+)}", path)
    for bad in BAD_IDS:
        for wrong in names:  # one parameter wrong at a time, the others valid
            target = "/api/v1" + path
            for name in names:
                target = target.replace(f"{{{name}}}", bad if name == wrong else valid[name])
            for role, client in callers.items():
                response = await client.request(method, target, json={})
                assert 400 <= response.status_code < 500, (role, method, target,
                                                           response.status_code,
                                                           response.text[:200])
                if response.headers.get("content-type", "").startswith("application/json"):
                    assert "error" in response.json()


@pytest.mark.parametrize("url", ["/api/v1/turnaround", "/api/v1/turnaround.csv",
                                 "/api/v1/turnaround/specialists",
                                 "/api/v1/turnaround/specialists.csv",
                                 "/api/v1/rota/dermatology"])
async def test_dates_outside_any_sensible_range_in_queries_are_a_4xx(
    url: str, callers: dict[str, httpx.AsyncClient],
) -> None:
    staff = callers["staff"]
    for bad in BAD_YEARS:
        for name in ("from", "to"):
            response = await staff.get(url, params={name: bad})
            assert response.status_code == 400, (url, name, bad, response.text[:200])
            assert response.json()["error"]["field"] == name


async def test_dates_outside_any_sensible_range_in_bodies_are_a_4xx(
    personas: Personas, callers: dict[str, httpx.AsyncClient],
) -> None:
    staff = callers["staff"]
    good = {"specialist": personas.derm.email, "starts_at": "2026-03-02T08:00",
            "ends_at": "2026-03-02T17:00"}
    for bad in BAD_YEARS:
        for name in ("starts_at", "ends_at"):
            for url in ("/api/v1/rota/dermatology/shifts", "/api/v1/rota/absences"):
                response = await staff.post(url, json={**good, name: bad})
                assert response.status_code == 400, (url, name, bad, response.text[:200])
        response = await submit(callers["gp"], patient_dob=bad)
        assert response.status_code == 400, (bad, response.text[:200])
        assert response.json()["error"]["field"] == "patient_dob"


async def test_whole_numbers_out_of_range_in_bodies_are_a_4xx(
    personas: Personas, callers: dict[str, httpx.AsyncClient],
) -> None:
    staff = callers["staff"]
    for weekday in (10**30, -(10**30), 1e308, "9" * 40, True, None):
        response = await staff.post("/api/v1/rota/dermatology/weekly", json={
            "specialist": personas.derm.email, "weekday": weekday, "start": "08:00",
            "end": "17:00"})
        assert response.status_code == 400, (weekday, response.text[:200])


async def test_json_too_big_or_too_deep_is_a_4xx(callers: dict[str, httpx.AsyncClient]
                                                 ) -> None:
    staff = callers["staff"]
    url = "/api/v1/consults/00000000-0000-0000-0000-000000000000/reassign"
    headers = {"content-type": "application/json"}
    big = b'{"reason": "' + b"x" * (MAX_JSON_BYTES + 10) + b'"}'
    assert (await staff.post(url, content=big, headers=headers)).status_code == 413

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: cut off as it arrives
        yield b'{"reason": "'
        for _ in range(MAX_JSON_BYTES // 65536 + 2):
            yield b"x" * 65536

    assert (await staff.post(url, content=stream(), headers=headers)).status_code == 413
    for deep in (b"[" * 100_000, b'{"a":' * 50_000, b'{"a": ' + b"[" * 30 + b"]" * 30 + b"}"):
        response = await staff.post(url, content=deep, headers=headers)
        assert response.status_code == 400, response.text[:200]
        assert response.json()["error"]["code"] == "bad_json"
    for junk in (b"\xff\xfe", b"[]", b"null", b'"text"', b"NaN", b"{" + b" " * 1000):
        response = await staff.post(url, content=junk, headers=headers)
        assert response.status_code == 400, (junk[:10], response.text[:200])


async def test_a_valid_form_still_submits(callers: dict[str, httpx.AsyncClient],
                                          rota: None) -> None:
    """(the limits above leave ordinary input alone)"""
    response = await submit(callers["gp"], **{k: v for k, v in FORM.items()
                                              if k == "patient_dob"})  # type: ignore[arg-type]
    assert response.status_code == 201, response.text


async def test_text_no_database_can_hold_is_a_4xx_everywhere(
    callers: dict[str, httpx.AsyncClient],
) -> None:
    """A NUL (PostgreSQL refuses it in text: `%00` in a slug answered 500 there) or an
    unpaired surrogate, in a path, a query, a JSON string or key, or a form field."""
    staff, gp = callers["staff"], callers["gp"]
    for url in ("/api/v1/rota/derm%00atology", "/api/v1/turnaround?specialty=a%00b",
                "/api/v1/consults?state=%00", "/api/v1/turnaround?specialty=%ff%fe"):
        response = await staff.get(url)
        assert response.status_code == 400, (url, response.text[:200])
    response = await staff.put("/api/v1/specialties/derm%00/targets", json={})
    assert response.status_code == 400
    url = "/api/v1/consults/00000000-0000-0000-0000-000000000000/reassign"
    for raw in (b'{"reason": "a\\u0000b"}', b'{"reason": "\\ud800"}', b'{"a\\u0000": 1}',
                b'{"reason": ["ok", {"x": "\\udfff"}]}'):
        response = await staff.post(url, content=raw,
                                    headers={"content-type": "application/json"})
        assert response.status_code == 400, (raw, response.text[:200])
    response = await submit(gp, specialty="derm\x00atology")
    assert response.status_code == 400, response.text[:200]
    response = await submit(gp, files=[("images", ("a\x00.jpg", b"\xff\xd8\xff", "image/jpeg"))])
    assert response.status_code == 400, response.text[:200]
