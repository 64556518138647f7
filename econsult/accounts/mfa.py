"""The second factor: enrolment, the login's second step, and managing one's own factors.

A login whose password was right but which owes a factor holds a *pending* session
(`accounts.login`). Completing the factor here revokes it and opens a new, complete
session that records how it was authenticated (`amr`), so a pending token, however
it leaked, never becomes a full one. Which session may do what:

- pending, person with no factor (methods ["enrol"]): enrol and confirm TOTP only;
  confirming completes the login.
- pending, person with factors: verify a TOTP or recovery code, or a passkey.
  Enrolling a new TOTP is refused: it would let the password alone replace the factor.
- complete: manage one's own factors (/account): replace TOTP, add and remove
  passkeys, new recovery codes.

Every attempt, success and failure is audited (`auth.mfa`, `mfa.*`); failures of one
account are throttled (security.throttle, `mfa` key). Slow or cryptographic work
(sealing, opening, hashing codes, verifying signatures) happens outside transactions.

Here: the status, TOTP, recovery codes and the administrator's reset; passkeys are in
`accounts.mfa_passkeys`, what every factor shares in `accounts.second_step`.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts.login import (
    LoginResult,
    factor_methods,
    login_methods,
    mfa_required_for,
)
from econsult.accounts.mfa_passkeys import PasskeyInfo
from econsult.accounts.second_step import (
    MfaDeps,
    active_user,
    actor_of,
    check_throttle,
    complete_login,
    record_failure,
    require_complete,
    require_pending,
)
from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput, NotAuthenticated, NotFound
from econsult.models import Passkey, RecoveryCode, TotpCredential, User
from econsult.security import audit, recovery_codes, sessions, throttle, totp
from econsult.security.audit import Actor
from econsult.security.mfa_errors import MfaFailed
from econsult.security.sessions import ActiveSession

WRONG_CODE = "That code is not right, or it has been used already. Try the newest code."
WRONG_RECOVERY = "That recovery code is not right, or it has been used already."
ISSUER = "econsult"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Confirmed:
    recovery_codes: list[str]
    # Set when the confirmation completed a pending login: the new session.
    login: LoginResult | None


@dataclass(frozen=True)
class MfaStatus:
    required: bool
    totp: bool
    passkeys: list[PasskeyInfo]
    recovery_codes_left: int


# --- status -----------------------------------------------------------------------------

async def status(deps: MfaDeps, auth: ActiveSession) -> MfaStatus:
    require_complete(auth)
    user_id = auth.principal.id
    async with deps.db.read() as db:
        has_totp = "totp" in await factor_methods(db, user_id)
        rows = (await db.execute(select(Passkey).where(col(Passkey.user_id) == user_id)
                                 .order_by(col(Passkey.created_at)))).scalars().all()
        codes = len((await db.execute(select(col(RecoveryCode.id)).where(
            col(RecoveryCode.user_id) == user_id))).all())
    return MfaStatus(
        required=mfa_required_for(deps.settings, auth.principal.role), totp=has_totp,
        passkeys=[PasskeyInfo(p.id, p.name, p.created_at, p.last_used_at,
                              p.flagged_at is not None) for p in rows],
        recovery_codes_left=codes)


async def pending_methods(deps: MfaDeps, auth: ActiveSession) -> tuple[str, ...]:
    """What the pending session's second step offers (the login page's MFA step)."""
    require_pending(auth)
    async with deps.db.read() as db:
        return await login_methods(db, await active_user(db, auth.principal.id), deps.settings)


# --- TOTP -----------------------------------------------------------------------------------

async def enrol_totp(deps: MfaDeps, auth: ActiveSession, *, client_addr: str) -> Enrolment:
    """A new seed for an authenticator app, waiting for `confirm_totp`. Open to a
    complete session (replacing the app) and to a pending one whose person has no
    factor yet (first enrolment); never to a pending session of someone enrolled."""
    if auth.mfa_pending:
        async with deps.db.read() as db:
            if await factor_methods(db, auth.principal.id):
                raise NotAuthenticated("Use your second factor to log in; to replace it, "
                                       "log in first and go to Your account.",
                                       code="mfa_required")
    else:
        require_complete(auth)
    secret = totp.new_secret()
    row_id = secrets.token_hex(16)
    sealed = deps.fields.seal(TotpCredential.__tablename__, "secret", row_id, secret)
    uri = totp.provisioning_uri(secret, account=auth.principal.email, issuer=ISSUER)
    svg = totp.qr_svg(uri)
    now = deps.clock.now()
    async with deps.db.write() as db:
        await db.execute(delete(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.confirmed_at).is_(None)))
        db.add(TotpCredential(id=row_id, user_id=auth.principal.id, secret=sealed,
                              created_at=now))
        await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.totp_enrol",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           outcome="started")
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)


async def _new_codes() -> tuple[list[str], list[str]]:
    codes = recovery_codes.generate()
    hashes = await asyncio.to_thread(lambda: [recovery_codes.hash_code(c) for c in codes])
    return codes, hashes


async def _replace_codes(db: AsyncSession, user_id: int, hashes: list[str],
                         now: datetime) -> None:
    await db.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    for code_hash in hashes:
        db.add(RecoveryCode(user_id=user_id, code_hash=code_hash, created_at=now))


async def confirm_totp(deps: MfaDeps, auth: ActiveSession, *, code: str,
                       client_addr: str) -> Confirmed:
    """Prove the enrolment with a code from the app: it becomes the person's TOTP
    (replacing any earlier one), ten new recovery codes are made (shown once), and a
    pending login is completed."""
    if not auth.mfa_pending:
        require_complete(auth)
    await check_throttle(deps, auth, client_addr, "totp_confirm")
    async with deps.db.read() as db:
        row = (await db.execute(select(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.confirmed_at).is_(None)))).scalars().first()
    if row is None:
        raise InvalidInput("Start the enrolment first: no authenticator app is waiting to "
                           "be confirmed.", code="no_enrolment")
    secret = deps.fields.open(TotpCredential.__tablename__, "secret", row.id, row.secret)
    now = deps.clock.now()
    step = totp.verify(secret, code, now=now, last_used_step=None)
    if step is None:
        raise await record_failure(deps, auth, client_addr, "totp_confirm",
                          MfaFailed(WRONG_CODE, code="mfa_failed"))
    codes, hashes = await _new_codes()
    async with deps.db.write() as db:
        user = await active_user(db, auth.principal.id)
        done = await db.execute(update(TotpCredential).where(
            col(TotpCredential.id) == row.id, col(TotpCredential.confirmed_at).is_(None))
            .values(confirmed_at=now, last_used_step=step))
        if getattr(done, "rowcount", 0) != 1:
            raise MfaFailed(WRONG_CODE, code="mfa_failed")
        await db.execute(delete(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.id) != row.id))
        await _replace_codes(db, auth.principal.id, hashes, now)
        await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.totp_enrol",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail="recovery_codes=10")
        login = (await complete_login(db, deps, auth, user, "otp", client_addr, now)
                 if auth.mfa_pending else None)
    return Confirmed(recovery_codes=codes, login=login)


async def verify(deps: MfaDeps, auth: ActiveSession, *, code: str | None,
                 recovery_code: str | None, client_addr: str) -> LoginResult:
    """The login's second step with a TOTP code or a recovery code."""
    require_pending(auth)
    if (code is None) == (recovery_code is None):
        raise InvalidInput("Send either code or recovery_code.", field="code")
    if recovery_code is not None:
        return await _verify_recovery(deps, auth, recovery_code, client_addr)
    assert code is not None
    await check_throttle(deps, auth, client_addr, "totp")
    async with deps.db.read() as db:
        row = (await db.execute(select(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.confirmed_at).is_not(None)))).scalars().first()
    failed = MfaFailed(WRONG_CODE, code="mfa_failed")
    if row is None:
        raise await record_failure(deps, auth, client_addr, "totp", failed)
    secret = deps.fields.open(TotpCredential.__tablename__, "secret", row.id, row.secret)
    now = deps.clock.now()
    step = totp.verify(secret, code, now=now, last_used_step=row.last_used_step)
    if step is None:
        raise await record_failure(deps, auth, client_addr, "totp", failed)
    async with deps.db.write() as db:
        # Conditional: two requests racing with one code cannot both pass.
        used = await db.execute(update(TotpCredential).where(
            col(TotpCredential.id) == row.id,
            or_(col(TotpCredential.last_used_step).is_(None),
                col(TotpCredential.last_used_step) < step))
            .values(last_used_step=step))
        if getattr(used, "rowcount", 0) == 1:
            user = await active_user(db, auth.principal.id)
            return await complete_login(db, deps, auth, user, "otp", client_addr, now)
    raise await record_failure(deps, auth, client_addr, "totp", failed)


async def _verify_recovery(deps: MfaDeps, auth: ActiveSession, code: str,
                           client_addr: str) -> LoginResult:
    await check_throttle(deps, auth, client_addr, "recovery_code")
    async with deps.db.read() as db:
        rows = (await db.execute(select(col(RecoveryCode.id), col(RecoveryCode.code_hash))
                                 .where(col(RecoveryCode.user_id) == auth.principal.id)
                                 .order_by(col(RecoveryCode.id)))).all()
    failed = MfaFailed(WRONG_RECOVERY, code="mfa_failed")
    index = recovery_codes.find_match(code, [r[1] for r in rows])
    if index is None:
        raise await record_failure(deps, auth, client_addr, "recovery_code", failed)
    now = deps.clock.now()
    async with deps.db.write() as db:
        gone = await db.execute(delete(RecoveryCode).where(
            col(RecoveryCode.id) == rows[index][0]))
        if getattr(gone, "rowcount", 0) == 1:
            left = len(rows) - 1
            result = await complete_login(db, deps, auth, await active_user(db, auth.principal.id),
                                     "rec", client_addr, now)
            await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.recovery_used",
                               at=now, object_type="user", object_id=str(auth.principal.id),
                               detail=f"left={left}")
            return result
    raise await record_failure(deps, auth, client_addr, "recovery_code", failed)


async def regenerate_recovery_codes(deps: MfaDeps, auth: ActiveSession, *,
                                    client_addr: str) -> list[str]:
    require_complete(auth)
    async with deps.db.read() as db:
        if not await factor_methods(db, auth.principal.id):
            raise InvalidInput("Set up an authenticator app or a passkey first.",
                               code="no_factor")
    codes, hashes = await _new_codes()
    now = deps.clock.now()
    async with deps.db.write() as db:
        await _replace_codes(db, auth.principal.id, hashes, now)
        await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.recovery_codes",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail="recovery_codes=10")
    return codes


# --- administration -------------------------------------------------------------------------

async def reset(database: Database, *, email: str, actor: Actor, clock: Clock) -> int:
    """Remove every factor of the account at `email` and end its sessions: at the next
    login they enrol again (if their role requires it). Returns the user's id."""
    now = clock.now()
    async with database.write() as db:
        user = (await db.execute(select(User).where(
            col(User.email) == email.strip().lower()))).scalar_one_or_none()
        if user is None:
            raise NotFound(f"No account with email {email.strip().lower()!r}.")
        user_id = user.id or 0
        for model in (TotpCredential, Passkey, RecoveryCode):
            await db.execute(delete(model).where(col(model.user_id) == user_id))
        await throttle.clear_mfa(db, user_id=user_id)
        ended = await sessions.revoke_all(db, user_id, now=now)
        await audit.append(db, actor=actor, action="mfa.reset", at=now, object_type="user",
                           object_id=str(user_id), detail=f"sessions_ended={ended}")
    return user_id
