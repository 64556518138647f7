"""POST /oauth/token (SMART Backend Services) from the attacker's side: only a fresh,
correctly signed, never-used assertion of a registered client gets a token, and a token
is worth five minutes and the scopes it was granted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.accounts import api_clients
from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import ApiAccessToken, AuditEvent
from econsult.security.audit import Actor
from tests.factories import Personas
from tests.fhir.helpers import (
    Registered,
    assertion,
    bearer,
    ec_key,
    register,
    rsa_key,
    token,
    token_form,
)


def refused(response: httpx.Response, error: str = "invalid_client") -> None:
    """RFC 6749 section 5.2, with one description for every failed authentication."""
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    body = response.json()
    assert body["error"] == error, body
    if error == "invalid_client":
        assert body["error_description"] == "Client authentication failed."
    assert response.headers["cache-control"] == "no-store"


async def test_a_signed_assertion_gets_a_five_minute_token(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock, db: Database) -> None:
    response = await anon.post("/oauth/token", data=token_form(assertion(emr, clock.now())))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    assert body["scope"] == ("system/*.rs system/DocumentReference.crs system/Patient.crs "
                             "system/ServiceRequest.crs")
    assert response.headers["cache-control"] == "no-store"
    # Only the token's SHA-256 is kept.
    async with db.read() as session:
        stored = list((await session.execute(select(ApiAccessToken))).scalars())
    assert len(stored) == 1 and body["access_token"] not in stored[0].token_hash
    assert (await anon.get("/fhir/Task", headers=bearer(body["access_token"]))).status_code == 200
    clock.advance(timedelta(seconds=301))
    expired = await anon.get("/fhir/Task", headers=bearer(body["access_token"]))
    assert expired.status_code == 401
    assert expired.json()["resourceType"] == "OperationOutcome"
    assert "invalid_token" in expired.headers["www-authenticate"]


async def test_rs384_keys_work_too(anon: httpx.AsyncClient, db: Database, clock: ManualClock,
                                   personas: Personas) -> None:
    client = await register(db, clock, [personas.gp], key=rsa_key(), name="RSA EMR")
    assert await token(anon, client, clock.now())


async def test_a_requested_scope_is_narrowed_to_what_the_client_may_have(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock) -> None:
    response = await anon.post("/oauth/token", data=token_form(
        assertion(emr, clock.now()), "system/Task.read system/ServiceRequest.write"))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/ServiceRequest.c system/Task.rs"
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, clock.now()), "system/Practitioner.write")), "invalid_scope")


async def test_an_expired_assertion_is_refused(anon: httpx.AsyncClient, emr: Registered,
                                               clock: ManualClock, db: Database) -> None:
    signed = assertion(emr, clock.now(), lifetime=60)
    clock.advance(timedelta(seconds=120))  # past exp and the 30 s leeway
    refused(await anon.post("/oauth/token", data=token_form(signed)))
    async with db.read() as session:
        rows = list((await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "api_client.token"))).scalars())
    assert [(r.outcome, r.detail, r.actor_email) for r in rows] == [
        ("refused", "assertion expired", f"client:{emr.id}")]


async def test_an_assertion_living_longer_than_five_minutes_is_refused(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock) -> None:
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, clock.now(), lifetime=3600))))


async def test_a_replayed_assertion_is_refused_even_when_sent_twice_at_once(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock) -> None:
    signed = assertion(emr, clock.now())
    first, second = await asyncio.gather(
        anon.post("/oauth/token", data=token_form(signed)),
        anon.post("/oauth/token", data=token_form(signed)))
    assert sorted([first.status_code, second.status_code]) == [200, 401]
    refused(await anon.post("/oauth/token", data=token_form(signed)))
    # The same jti in a freshly signed assertion is a replay too.
    again = assertion(emr, clock.now(), jti="fixed-jti")
    assert (await anon.post("/oauth/token", data=token_form(again))).status_code == 200
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, clock.now() + timedelta(seconds=1), jti="fixed-jti"))))


async def test_a_wrong_key_a_wrong_audience_or_an_unknown_client_is_refused(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock) -> None:
    now = clock.now()
    # Another key that claims the registered kid.
    from joserfc.jwk import ECKey

    impostor = ECKey.generate_key("P-384", parameters={"kid": str(emr.key.kid)}, private=True)
    refused(await anon.post("/oauth/token", data=token_form(assertion(emr, now, key=impostor))))
    refused(await anon.post("/oauth/token", data=token_form(assertion(emr, now, key=ec_key("x")))))
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, now, aud="http://elsewhere.example/oauth/token"))))
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, now, issuer="00000000-0000-4000-8000-000000000000"))))
    refused(await anon.post("/oauth/token", data=token_form("not.a.jwt")))
    bad_grant = {**token_form(assertion(emr, now)), "grant_type": "password"}
    refused(await anon.post("/oauth/token", data=bad_grant), "unsupported_grant_type")
    no_type = {**token_form(assertion(emr, now)), "client_assertion_type": "x"}
    refused(await anon.post("/oauth/token", data=no_type), "invalid_request")
    refused(await anon.post("/oauth/token", json={"grant_type": "client_credentials"}),
            "invalid_request")


async def test_a_revoked_client_loses_its_tokens_at_once(
        anon: httpx.AsyncClient, emr: Registered, clock: ManualClock, db: Database) -> None:
    access = await token(anon, emr, clock.now())
    assert (await anon.get("/fhir/Task", headers=bearer(access))).status_code == 200
    await api_clients.revoke(db, client_id=emr.id, actor=Actor(None, "test"), clock=clock,
                             by=None)
    assert (await anon.get("/fhir/Task", headers=bearer(access))).status_code == 401
    refused(await anon.post("/oauth/token", data=token_form(
        assertion(emr, clock.now() + timedelta(seconds=1)))))


async def test_a_made_up_or_malformed_bearer_token_is_refused(
        anon: httpx.AsyncClient, emr: Registered) -> None:
    for header in ("Bearer " + "A" * 43, "Bearer x", "Basic Zm9vOmJhcg==", ""):
        response = await anon.get("/fhir/Task", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert response.json()["issue"][0]["code"] == "login"
