"""Second factors: TOTP seeds, recovery codes, passkeys, and WebAuthn challenges.

A TOTP seed and a passkey's public key are sealed with the keyring's field cipher,
bound to their row: the seed because it is a secret, the key because a swapped one
would let another authenticator in. Recovery codes are stored as salted hashes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field
from econsult.models.types import SealedBytes


class TotpCredential(SQLModel, table=True):
    """One authenticator app. A row with `confirmed_at` NULL is an enrolment begun and
    not yet proven with a code; only a confirmed row is accepted at login."""

    __tablename__ = "mfa_totp"

    # Random, chosen before the seed is sealed (the ciphertext is bound to it).
    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    secret: bytes = Field(sa_type=SealedBytes())
    created_at: datetime = utc_field()
    confirmed_at: datetime | None = utc_field(nullable=True)
    # The newest time step accepted: a code is good once, ever (RFC 6238 section 5.2).
    last_used_step: int | None = Field(default=None, sa_type=BigInteger())


class RecoveryCode(SQLModel, table=True):
    """One single-use recovery code (security.recovery_codes): deleted when used."""

    __tablename__ = "mfa_recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=128)
    created_at: datetime = utc_field()


class Passkey(SQLModel, table=True):
    """A WebAuthn credential registered by its owner on /account."""

    __tablename__ = "mfa_passkeys"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    credential_id: bytes = Field(sa_type=LargeBinary(), unique=True)
    public_key: bytes = Field(sa_type=SealedBytes())
    sign_count: int = Field(default=0, sa_type=BigInteger())
    transports: str = Field(default="", max_length=200)
    aaguid: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()
    last_used_at: datetime | None = utc_field(nullable=True)
    # Set when its signature counter went backwards (a sign it was copied).
    flagged_at: datetime | None = utc_field(nullable=True)


class MfaChallenge(SQLModel, table=True):
    """The WebAuthn challenge a session was given, used at most once: deleted before
    the response to it is verified, whatever the outcome."""

    __tablename__ = "mfa_challenges"

    session_id: int = Field(foreign_key="auth_sessions.id", primary_key=True,
                            ondelete="CASCADE")
    purpose: str = Field(max_length=20)
    challenge: bytes = Field(sa_type=LargeBinary())
    expires_at: datetime = utc_field()
