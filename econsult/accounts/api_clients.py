"""API clients: an admin registers an EMR with its public keys, the GPs it acts for and
the scopes it may ask for; lists them; revokes one (its tokens stop working at once).

Each public function owns one transaction and writes its audit row inside it. `by` is
the admin on the page, or None for the command line (whoever runs it owns the machine).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlmodel import col

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import ApiAccessToken, ApiClient, ApiClientGp, Role, User
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.client_keys import parse_jwks
from econsult.security.policy import Action, Principal, require
from econsult.security.scopes import parse_scopes

MAX_GPS = 500


@dataclass(frozen=True, slots=True)
class ClientKeyInfo:
    kid: str
    alg: str
    thumbprint: str


@dataclass(frozen=True, slots=True)
class ClientPublic:
    id: str
    name: str
    scopes: str
    gps: tuple[str, ...]  # emails
    keys: tuple[ClientKeyInfo, ...]
    created_at: str
    revoked_at: str | None


async def register(
    database: Database, *, name: str, jwks: str, gp_emails: list[str], scopes: list[str],
    actor: Actor, clock: Clock, by: Principal | None,
) -> ClientPublic:
    if by is not None:
        require(by, Action.manage_users)
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InvalidInput("Give the client a name of 1 to 200 characters.", field="name")
    keys = parse_jwks(jwks)
    granted = parse_scopes(scopes)
    if not granted:
        raise InvalidInput("Give the client at least one scope, such as "
                           "system/ServiceRequest.cr system/*.rs.", field="scope")
    emails = sorted({e.strip().lower() for e in gp_emails if e.strip()})
    if not emails:
        raise InvalidInput("Name at least one GP the client acts for.", field="gp")
    if len(emails) > MAX_GPS:
        raise InvalidInput(f"A client may act for at most {MAX_GPS} GPs.", field="gp")
    now = clock.now()
    client_id = str(uuid.uuid4())
    async with database.write() as db:
        rows = (await db.execute(select(User).where(col(User.email).in_(emails)))).scalars()
        found = {u.email: u for u in rows}
        missing = [e for e in emails if e not in found]
        if missing:
            raise InvalidInput(f"No account for {', '.join(missing)}.", field="gp")
        not_gps = [e for e in emails if Role(found[e].role) is not Role.gp]
        if not_gps:
            raise InvalidInput(f"An API client acts only for GPs; {', '.join(not_gps)} "
                               "is not a GP.", field="gp")
        db.add(ApiClient(id=client_id, name=name, jwks=keys.to_json(),
                         scopes=granted.to_string(), created_at=now))
        await db.flush()
        for email in emails:
            db.add(ApiClientGp(client_id=client_id, gp_id=found[email].id or 0))
        await audit.append(db, actor=actor, action="api_client.register", at=now,
                           object_type="api_client", object_id=client_id,
                           detail=f"gps={len(emails)} keys={','.join(keys.kids)}"[:500])
    return ClientPublic(client_id, name, granted.to_string(), tuple(emails),
                        tuple(ClientKeyInfo(k.kid, k.alg, k.thumbprint) for k in keys),
                        now.isoformat(), None)


async def list_clients(database: Database, by: Principal | None) -> list[ClientPublic]:
    if by is not None:
        require(by, Action.manage_users)
    async with database.read() as db:
        clients = list((await db.execute(
            select(ApiClient).order_by(col(ApiClient.created_at), col(ApiClient.id))
        )).scalars())
        links = (await db.execute(
            select(col(ApiClientGp.client_id), col(User.email))
            .join(User, col(User.id) == col(ApiClientGp.gp_id)).order_by(col(User.email))
        )).all()
    emails: dict[str, list[str]] = {}
    for client_id, email in links:
        emails.setdefault(client_id, []).append(email)
    return [_public(c, emails.get(c.id, [])) for c in clients]


async def revoke(database: Database, *, client_id: str, actor: Actor, clock: Clock,
                 by: Principal | None) -> ClientPublic:
    """Revoke a client: no new tokens, and the ones it holds stop working now."""
    if by is not None:
        require(by, Action.manage_users)
    now = clock.now()
    async with database.write() as db:
        client = await db.get(ApiClient, client_id)
        if client is None:
            raise NotFound("No such API client.")
        if client.revoked_at is not None:
            raise Conflict("That API client is already revoked.", code="already_revoked")
        client.revoked_at = now
        await db.execute(delete(ApiAccessToken).where(col(ApiAccessToken.client_id) == client_id))
        await audit.append(db, actor=actor, action="api_client.revoke", at=now,
                           object_type="api_client", object_id=client_id)
        gps = list((await db.execute(
            select(col(User.email)).join(ApiClientGp, col(ApiClientGp.gp_id) == col(User.id))
            .where(col(ApiClientGp.client_id) == client_id).order_by(col(User.email))
        )).scalars())
    return _public(client, gps)


def _public(client: ApiClient, gps: list[str]) -> ClientPublic:
    keys = parse_jwks(client.jwks)
    return ClientPublic(client.id, client.name, client.scopes, tuple(gps),
                        tuple(ClientKeyInfo(k.kid, k.alg, k.thumbprint) for k in keys),
                        client.created_at.isoformat(),
                        client.revoked_at.isoformat() if client.revoked_at else None)
