"""API clients (EMRs using /fhir through SMART Backend Services), the GPs each acts for,
the assertion ids already used, and the access tokens handed out.

Nothing secret is stored: a client registers only public keys, and a token row keeps
the SHA-256 of the token (econsult.security.access_tokens), never the token itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_clients"

    # The OAuth client_id: a random UUID, the `iss` and `sub` of every assertion.
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    # The public JWKS, in the canonical form of PublicKeySet.to_json().
    jwks: str = Field(max_length=70_000)
    # What the client may be granted: canonical SMART v2 scopes (GrantedScopes.to_string()).
    scopes: str = Field(max_length=2048)
    created_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)


class ApiClientGp(SQLModel, table=True):
    """A GP the client acts for: it reads and creates only their consults."""

    __tablename__ = "api_client_gps"

    client_id: str = Field(foreign_key="api_clients.id", primary_key=True, max_length=36,
                           ondelete="CASCADE")
    gp_id: int = Field(foreign_key="users.id", primary_key=True)


class ApiAssertionUse(SQLModel, table=True):
    """A client assertion already exchanged for a token. The primary key is the replay
    check: a second INSERT of (client_id, jti) fails, so one assertion wins once, even
    when two copies arrive together. Rows past `expires_at` may be deleted (the
    assertion is refused as expired by then)."""

    __tablename__ = "api_assertion_uses"

    client_id: str = Field(foreign_key="api_clients.id", primary_key=True, max_length=36,
                           ondelete="CASCADE")
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime = utc_field(index=True)


class ApiAccessToken(SQLModel, table=True):
    __tablename__ = "api_access_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="api_clients.id", index=True, max_length=36,
                           ondelete="CASCADE")
    scopes: str = Field(max_length=2048)
    issued_at: datetime = utc_field()
    expires_at: datetime = utc_field(index=True)
