"""SQLModel tables, split by area. Importing this package registers every table."""

from econsult.models.accounts import (
    AuthSession,
    DelegateLink,
    LoginFailure,
    Role,
    Specialty,
    User,
    UserCreate,
    UserPublic,
    UserSpecialty,
)
from econsult.models.api_clients import ApiAccessToken, ApiAssertionUse, ApiClient, ApiClientGp
from econsult.models.audit import AuditEvent, AuditHead, KekRecord
from econsult.models.base import metadata, utcnow
from econsult.models.consults import (
    OPEN_STATES,
    Consult,
    ConsultEvent,
    ConsultImage,
    ConsultState,
    IdempotentRequest,
    ImageLabel,
    Message,
    MessageKind,
)
from econsult.models.people import CalendarFeed, PasswordReset
from econsult.models.rota import RotaAbsence, RotaShift, RotaWeekly
from econsult.models.turnaround import RollupState, TurnaroundDay, TurnaroundDayBand

__all__ = [
    "ApiAccessToken",
    "ApiAssertionUse",
    "ApiClient",
    "ApiClientGp",
    "OPEN_STATES",
    "Consult",
    "ConsultEvent",
    "ConsultImage",
    "ConsultState",
    "IdempotentRequest",
    "ImageLabel",
    "Message",
    "MessageKind",
    "RotaAbsence",
    "RotaShift",
    "RotaWeekly",
    "RollupState",
    "TurnaroundDay",
    "TurnaroundDayBand",
    "CalendarFeed",
    "PasswordReset",
    "AuditEvent",
    "AuditHead",
    "AuthSession",
    "DelegateLink",
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
