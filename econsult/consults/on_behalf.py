"""Whose consult a submission is: the responsible GP, named by the form's `gp` field.

A GP submits for themselves (`gp` may be left out, or be their own email); a delegate
must name one of the GPs they are linked to. Who may submit for whom is the policy's
`submits_for`; this module only turns the email into the GP's id. Every refusal gives
one message, so the field cannot be used to learn which emails belong to GPs.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.errors import InvalidInput
from econsult.models import Role, User
from econsult.security.policy import Principal, submits_for

_NOT_YOURS = "Choose one of the GPs you work for."


def _needs_gp(user: Principal) -> bool:
    # Anyone who is not submitting for themselves (a delegate; an API client acting for
    # GPs) must say for whom.
    return not submits_for(user, user.id)


async def responsible_gp(db: AsyncSession, user: Principal, gp_email: str) -> int:
    """The id of the GP the consult is for, or InvalidInput (field `gp`)."""
    if not _lookup_needed(user, gp_email):
        return responsible_gp_sync(None, user, gp_email)
    return await db.run_sync(lambda s: responsible_gp_sync(s.connection(), user, gp_email))


def _lookup_needed(user: Principal, gp_email: str) -> bool:
    email = gp_email.strip().lower()
    return bool(email) and not (email == user.email.lower() and submits_for(user, user.id)) \
        and len(email) <= 254


_GP_BY_EMAIL = select(col(User.id), col(User.active)).where(
    col(User.email) == bindparam("email"), col(User.role) == Role.gp.value)


def responsible_gp_sync(conn: Connection | None, user: Principal, gp_email: str) -> int:
    """`responsible_gp` on a synchronous connection (needed only when a GP is named)."""
    email = gp_email.strip().lower()
    if not email:
        if _needs_gp(user):
            raise InvalidInput("Choose the GP this consult is for.", field="gp")
        return user.id
    if email == user.email.lower() and submits_for(user, user.id):
        return user.id
    if len(email) > 254:
        raise InvalidInput(_NOT_YOURS, field="gp")
    assert conn is not None
    row = conn.execute(_GP_BY_EMAIL, {"email": email}).first()
    # A disabled GP cannot be sent new work, even by their delegate.
    if row is None or not row.active or not submits_for(user, int(row.id)):
        raise InvalidInput(_NOT_YOURS if _needs_gp(user)
                           else "You can send consults only as yourself.", field="gp")
    return int(row.id)
