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
from econsult.models.attachments import ConsultAttachment
from econsult.models.audit import AuditEvent, AuditHead, KekRecord
from econsult.models.base import metadata, utcnow
from econsult.models.clinical import (
    AnswerTemplate,
    Checklist,
    Referral,
    StructuredAnswer,
    UsualSpecialist,
)
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
from econsult.models.drafts import Draft, DraftImage
from econsult.models.mfa import MfaChallenge, Passkey, RecoveryCode, TotpCredential
from econsult.models.people import CalendarFeed, PasswordReset
from econsult.models.rota import RotaAbsence, RotaShift, RotaWeekly
from econsult.models.search import ConsultSearchToken
from econsult.models.turnaround import (
    RollupState,
    TurnaroundDay,
    TurnaroundDayBand,
    TurnaroundMonthBand,
)

__all__ = [
    "AnswerTemplate",
    "Checklist",
    "Referral",
    "StructuredAnswer",
    "UsualSpecialist",
    "ApiAccessToken",
    "ApiAssertionUse",
    "ApiClient",
    "ApiClientGp",
    "OPEN_STATES",
    "Consult",
    "ConsultAttachment",
    "ConsultEvent",
    "ConsultImage",
    "ConsultSearchToken",
    "ConsultState",
    "Draft",
    "DraftImage",
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
    "TurnaroundMonthBand",
    "CalendarFeed",
    "PasswordReset",
    "AuditEvent",
    "AuditHead",
    "AuthSession",
    "DelegateLink",
    "KekRecord",
    "LoginFailure",
    "MfaChallenge",
    "Passkey",
    "RecoveryCode",
    "TotpCredential",
    "Role",
    "Specialty",
    "User",
    "UserCreate",
    "UserPublic",
    "UserSpecialty",
    "metadata",
    "utcnow",
]
