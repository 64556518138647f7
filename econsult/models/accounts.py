"""Accounts, server-side sessions and login throttling."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import field_validator
from sqlalchemy import LargeBinary, String
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field


class Role(StrEnum):
    gp = "gp"
    specialist = "specialist"
    staff = "staff"
    admin = "admin"
    # Clinic staff working for named GPs (DelegateLink): drafts, submissions, replies.
    delegate = "delegate"


class UserBase(SQLModel):
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    # Stored as plain text, not a database enum, so adding a role needs no type change.
    role: Role = Field(sa_type=String(20))

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
            raise ValueError("enter a valid email address")
        return value

    @field_validator("name")
    @classmethod
    def _name_present(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("enter a name")
        return value


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    active: bool = Field(default=True)
    created_at: datetime = utc_field()
    # Routing prefers the specialist idle longest among equals.
    last_assigned_at: datetime | None = utc_field(nullable=True)
    # The most open consults this person carries before routing skips them (None: only
    # the specialty's cap applies).
    open_cap: int | None = Field(default=None)
    # Set by a temporary password from an admin: every page but the password change
    # is closed to the session until a password of their own is chosen.
    must_change_password: bool = Field(default=False)
    # The WebAuthn user id for this person's passkeys: random, made at the first
    # registration and kept, so an authenticator's passkey for it is replaced, not doubled.
    webauthn_handle: bytes | None = Field(default=None, sa_type=LargeBinary())
    # A specialist signs answers with these (never "on behalf of the department").
    credentials: str = Field(default="", max_length=200)
    registration: str = Field(default="", max_length=64)


class UserCreate(UserBase):
    password: str
    specialties: list[str] = []


class UserPublic(UserBase):
    id: int
    active: bool
    specialties: list[str] = []


class UserSpecialty(SQLModel, table=True):
    __tablename__ = "user_specialties"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    specialty: str = Field(foreign_key="specialties.slug", primary_key=True, max_length=64)


class DelegateLink(SQLModel, table=True):
    """A delegate (clinic staff) works for this GP: sees and writes on the GP's consults,
    submits on the GP's behalf. Set by an admin (`econsult user add --delegate-for`,
    /admin/users); each change is audited."""

    __tablename__ = "delegate_links"

    delegate_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    gp_id: int = Field(foreign_key="users.id", primary_key=True, index=True,
                       ondelete="CASCADE")
    created_at: datetime = utc_field()


class Specialty(SQLModel, table=True):
    __tablename__ = "specialties"

    slug: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # Target windows per urgency as data (JSON text, ISO 8601 durations), so staff
    # can change them without a release.
    targets: str = Field(default="{}")
    # Most open consults one specialist carries before routing skips them (None: no cap).
    open_cap: int | None = Field(default=None)


class AuthSession(SQLModel, table=True):
    """A server-side session. The browser holds only a random token; this row holds
    its SHA-256, so a copy of the database does not let anyone log in."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
    client_addr: str = Field(default="", max_length=64)
    # The password was right and a second factor is still owed: such a session may
    # reach only the MFA step and logout (http.auth). Completing it opens a new session.
    mfa_pending: bool = Field(default=False)
    # How this session was authenticated (RFC 8176 names, space-separated): "pwd",
    # "pwd otp" (TOTP), "pwd hwk" (passkey), "pwd rec" (recovery code).
    amr: str = Field(default="pwd", max_length=64)


class LoginFailure(SQLModel, table=True):
    """Failed logins, counted per account and per client address for throttling.
    Kept in the database so that several workers see the same count."""

    __tablename__ = "login_failures"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, index=True)
    at: datetime = utc_field(index=True)
