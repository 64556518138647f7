"""SMART Backend Services tokens: a client's signed assertion in, a short-lived opaque
access token out (`POST /oauth/token`); and the token back to the client it was issued
to, as the policy's Principal, on every /fhir request.

The signature is checked before the transaction (crypto stays out of it); inside it the
assertion's (client, jti) is claimed by INSERT against the primary key, so an assertion
is exchanged once however many copies arrive together, and only the token's SHA-256
is stored. Every issue and every refusal is audited with the client as actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput
from econsult.models import ApiAccessToken, ApiAssertionUse, ApiClient, ApiClientGp, Role, User
from econsult.security import access_tokens, audit
from econsult.security.audit import Actor
from econsult.security.client_assertion import (
    ASSERTION_TYPE,
    InvalidClient,
    unverified_client_id,
    verify_assertion,
)
from econsult.security.client_keys import parse_jwks
from econsult.security.policy import Principal
from econsult.security.scopes import grant, parse_scopes

GRANT_TYPE = "client_credentials"
TOKEN_LIFETIME = access_tokens.ACCESS_TOKEN_LIFETIME


class OAuthError(InvalidInput):
    """A refused token request, with its RFC 6749 section 5.2 error code as `code`."""


@dataclass(frozen=True, slots=True)
class TokenRequest:
    grant_type: str | None
    client_assertion_type: str | None
    client_assertion: str | None
    scope: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    token_type: str = "bearer"


def client_actor(client_id: str, client_addr: str = "") -> Actor:
    """How an API client appears in the audit log."""
    return Actor(None, f"client:{client_id}"[:254], client_addr)


async def issue(database: Database, clock: Clock, request: TokenRequest, *, token_url: str,
                client_addr: str = "") -> IssuedToken:
    if not request.grant_type:
        raise OAuthError("grant_type is required.", code="invalid_request")
    if request.grant_type != GRANT_TYPE:
        raise OAuthError("Only the client_credentials grant is supported.",
                         code="unsupported_grant_type")
    if request.client_assertion_type != ASSERTION_TYPE or not request.client_assertion:
        raise OAuthError(f"Authenticate with client_assertion_type={ASSERTION_TYPE} and a "
                         "signed client_assertion (SMART Backend Services).",
                         code="invalid_request")
    client_id = unverified_client_id(request.client_assertion)
    try:
        return await _issue(database, clock, request, client_id, token_url, client_addr)
    except InvalidClient as exc:
        await _refused(database, clock, client_id, client_addr, exc.reason)
        raise
    except InvalidInput as exc:
        await _refused(database, clock, client_id, client_addr, exc.code)
        raise OAuthError(exc.message, code=exc.code) from None


async def _issue(database: Database, clock: Clock, request: TokenRequest, client_id: str,
                 token_url: str, client_addr: str) -> IssuedToken:
    assertion = request.client_assertion or ""
    if request.client_id is not None and request.client_id != client_id:
        raise InvalidClient("client_id does not match the assertion's iss")
    async with database.read() as db:
        client = await db.get(ApiClient, client_id)
    if client is None or client.revoked_at is not None:
        raise InvalidClient("unknown or revoked client")
    now = clock.now()
    verified = verify_assertion(assertion, client_id=client.id, keys=parse_jwks(client.jwks),
                                token_url=token_url, now=now)
    granted = grant(request.scope, [client.scopes])
    token, token_hash = access_tokens.new_token()
    try:
        async with database.write() as db:
            # Claim the assertion first: a second copy fails here and writes nothing.
            db.add(ApiAssertionUse(client_id=client.id, jti=verified.jti,
                                   expires_at=verified.expires_at))
            await db.flush()
            await db.execute(delete(ApiAssertionUse).where(
                col(ApiAssertionUse.expires_at) < now))
            await db.execute(delete(ApiAccessToken).where(col(ApiAccessToken.expires_at) < now))
            db.add(ApiAccessToken(token_hash=token_hash, client_id=client.id,
                                  scopes=granted.to_string(), issued_at=now,
                                  expires_at=now + TOKEN_LIFETIME))
            await audit.append(db, actor=client_actor(client.id, client_addr),
                               action="api_client.token", at=now, object_type="api_client",
                               object_id=client.id, detail=f"kid={verified.kid}"[:500])
    except IntegrityError:
        raise InvalidClient("assertion replayed (jti already used)") from None
    return IssuedToken(token, int(TOKEN_LIFETIME.total_seconds()), granted.to_string())


async def _refused(database: Database, clock: Clock, client_id: str, client_addr: str,
                   reason: str) -> None:
    # Only a registered client's refusals are recorded: an unknown iss is anyone's text.
    async with database.write() as db:
        if await db.get(ApiClient, client_id) is None:
            return
        await audit.append(db, actor=client_actor(client_id, client_addr),
                           action="api_client.token", at=clock.now(),
                           object_type="api_client", object_id=client_id,
                           outcome="refused", detail=reason[:500])


async def authenticate(database: Database, clock: Clock, token: str) -> Principal | None:
    """The client a bearer token was issued to, acting for its active GPs; None for a
    token that is malformed, unknown, expired or of a revoked client."""
    if not access_tokens.is_well_formed(token):
        return None
    now = clock.now()
    async with database.read() as db:
        row = await db.get(ApiAccessToken, access_tokens.hash_token(token))
        if row is None or row.expires_at <= now:
            return None
        client = await db.get(ApiClient, row.client_id)
        if client is None or client.revoked_at is not None:
            return None
        gps = (await db.execute(
            select(col(ApiClientGp.gp_id)).join(User, col(User.id) == col(ApiClientGp.gp_id))
            .where(col(ApiClientGp.client_id) == client.id, col(User.active))
        )).scalars()
        acts_for = frozenset(int(gp) for gp in gps)
    return Principal(id=0, role=Role.gp, email=f"client:{client.id}", name=client.name,
                     acts_for=acts_for, client_id=client.id, scopes=parse_scopes(row.scopes))
