"""SQLModel tables, split by area. Importing this package registers every table."""

from econsult.models.accounts import (
    AuthSession,
    LoginFailure,
    Role,
    Specialty,
    User,
    UserCreate,
    UserPublic,
    UserSpecialty,
)
from econsult.models.audit import AuditEvent, AuditHead, KekRecord
from econsult.models.base import metadata, utcnow

__all__ = [
    "AuditEvent",
    "AuditHead",
    "AuthSession",
    "KekRecord",
    "LoginFailure",
    "Role",
    "Specialty",
    "User",
    "UserCreate",
    "UserPublic",
    "UserSpecialty",
    "metadata",
    "utcnow",
]
