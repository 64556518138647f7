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
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts.login import (
    LoginResult,
    factor_methods,
    known_address,
    login_methods,
    mfa_required_for,
    session_policy,
)
from econsult.accounts.users import public, specialties_of
from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, RateLimited
from econsult.models import MfaChallenge, Passkey, RecoveryCode, TotpCredential, User
from econsult.security import audit, passkeys, recovery_codes, sessions, throttle, totp
from econsult.security.audit import Actor
from econsult.security.fields import FieldCipher
from econsult.security.mfa_errors import MfaFailed, PasskeyCloned
from econsult.security.policy import Action, require
from econsult.security.sessions import ActiveSession

WRONG_CODE = "That code is not right, or it has been used already. Try the newest code."
WRONG_RECOVERY = "That recovery code is not right, or it has been used already."
TOO_MANY = "Too many wrong codes. Try again later."
ISSUER = "econsult"
_PASSKEY_ID = re.compile(r"[0-9a-f]{32}")


class MfaDeps(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def fields(self) -> FieldCipher: ...
    @property
    def clock(self) -> Clock: ...


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
class PasskeyInfo:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    flagged: bool


@dataclass(frozen=True)
class MfaStatus:
    required: bool
    totp: bool
    passkeys: list[PasskeyInfo]
    recovery_codes_left: int


def _actor(auth: ActiveSession, client_addr: str) -> Actor:
    return Actor(id=auth.principal.id, email=auth.principal.email, client_addr=client_addr)


def _require_complete(auth: ActiveSession) -> None:
    if auth.mfa_pending:
        raise NotAuthenticated("Complete the second factor first.", code="mfa_required")
    require(auth.principal, Action.own_account)


def _require_pending(auth: ActiveSession) -> None:
    if not auth.mfa_pending:
        raise Conflict("This session has completed its login already.", code="mfa_not_pending")


async def _user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("Please log in.")
    return user


# --- status -----------------------------------------------------------------------------

async def status(deps: MfaDeps, auth: ActiveSession) -> MfaStatus:
    _require_complete(auth)
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
    _require_pending(auth)
    async with deps.db.read() as db:
        return await login_methods(db, await _user(db, auth.principal.id), deps.settings)


# --- throttling ---------------------------------------------------------------------------

def _window(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.login_window_minutes)


async def _check_throttle(deps: MfaDeps, auth: ActiveSession, client_addr: str,
                          method: str) -> None:
    now = deps.clock.now()
    async with deps.db.read() as db:
        known = await known_address(db, auth.principal.id, client_addr, now)
        wait = await throttle.mfa_retry_after(db, user_id=auth.principal.id, addr=client_addr,
                                              now=now, limit=deps.settings.login_max_failures,
                                              window=_window(deps.settings),
                                              known_address=known)
    if wait is not None:
        async with deps.db.write() as db:
            await audit.append(db, actor=_actor(auth, client_addr), action="auth.mfa", at=now,
                               outcome="throttled", object_type="user",
                               object_id=str(auth.principal.id), detail=f"method={method}")
        raise RateLimited(TOO_MANY, retry_after=wait)


async def _fail(deps: MfaDeps, auth: ActiveSession, client_addr: str, method: str,
                error: MfaFailed, *, outcome: str = "failed") -> MfaFailed:
    now = deps.clock.now()
    async with deps.db.write() as db:
        await throttle.record_mfa_failure(db, user_id=auth.principal.id, addr=client_addr,
                                          now=now)
        await audit.append(db, actor=_actor(auth, client_addr), action="auth.mfa", at=now,
                           outcome=outcome, object_type="user",
                           object_id=str(auth.principal.id), detail=f"method={method}")
    return error


async def _complete(db: AsyncSession, deps: MfaDeps, auth: ActiveSession, user: User,
                    factor: str, client_addr: str, now: datetime) -> LoginResult:
    """Inside the caller's transaction: the pending session ends, a complete one opens."""
    amr = ("pwd", factor)
    await sessions.revoke(db, auth.session_id, now=now)
    token, row = await sessions.create(db, user=user, now=now,
                                       policy=session_policy(deps.settings),
                                       client_addr=client_addr, amr=amr)
    await throttle.clear_mfa(db, user_id=user.id or 0, addr=client_addr)
    await audit.append(db, actor=_actor(auth, client_addr), action="auth.mfa", at=now,
                       object_type="user", object_id=str(user.id),
                       detail=f"amr={' '.join(amr)}")
    specialties = await specialties_of(db, user.id or 0)
    return LoginResult(token=token, csrf_token=row.csrf_token, user=public(user, specialties),
                       amr=amr)


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
        _require_complete(auth)
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
        await audit.append(db, actor=_actor(auth, client_addr), action="mfa.totp_enrol",
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
        _require_complete(auth)
    await _check_throttle(deps, auth, client_addr, "totp_confirm")
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
        raise await _fail(deps, auth, client_addr, "totp_confirm",
                          MfaFailed(WRONG_CODE, code="mfa_failed"))
    codes, hashes = await _new_codes()
    async with deps.db.write() as db:
        user = await _user(db, auth.principal.id)
        done = await db.execute(update(TotpCredential).where(
            col(TotpCredential.id) == row.id, col(TotpCredential.confirmed_at).is_(None))
            .values(confirmed_at=now, last_used_step=step))
        if getattr(done, "rowcount", 0) != 1:
            raise MfaFailed(WRONG_CODE, code="mfa_failed")
        await db.execute(delete(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.id) != row.id))
        await _replace_codes(db, auth.principal.id, hashes, now)
        await audit.append(db, actor=_actor(auth, client_addr), action="mfa.totp_enrol",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail="recovery_codes=10")
        login = (await _complete(db, deps, auth, user, "otp", client_addr, now)
                 if auth.mfa_pending else None)
    return Confirmed(recovery_codes=codes, login=login)


async def verify(deps: MfaDeps, auth: ActiveSession, *, code: str | None,
                 recovery_code: str | None, client_addr: str) -> LoginResult:
    """The login's second step with a TOTP code or a recovery code."""
    _require_pending(auth)
    if (code is None) == (recovery_code is None):
        raise InvalidInput("Send either code or recovery_code.", field="code")
    if recovery_code is not None:
        return await _verify_recovery(deps, auth, recovery_code, client_addr)
    assert code is not None
    await _check_throttle(deps, auth, client_addr, "totp")
    async with deps.db.read() as db:
        row = (await db.execute(select(TotpCredential).where(
            col(TotpCredential.user_id) == auth.principal.id,
            col(TotpCredential.confirmed_at).is_not(None)))).scalars().first()
    failed = MfaFailed(WRONG_CODE, code="mfa_failed")
    if row is None:
        raise await _fail(deps, auth, client_addr, "totp", failed)
    secret = deps.fields.open(TotpCredential.__tablename__, "secret", row.id, row.secret)
    now = deps.clock.now()
    step = totp.verify(secret, code, now=now, last_used_step=row.last_used_step)
    if step is None:
        raise await _fail(deps, auth, client_addr, "totp", failed)
    async with deps.db.write() as db:
        # Conditional: two requests racing with one code cannot both pass.
        used = await db.execute(update(TotpCredential).where(
            col(TotpCredential.id) == row.id,
            or_(col(TotpCredential.last_used_step).is_(None),
                col(TotpCredential.last_used_step) < step))
            .values(last_used_step=step))
        if getattr(used, "rowcount", 0) == 1:
            return await _complete(db, deps, auth, await _user(db, auth.principal.id), "otp",
                                   client_addr, now)
    raise await _fail(deps, auth, client_addr, "totp", failed)


async def _verify_recovery(deps: MfaDeps, auth: ActiveSession, code: str,
                           client_addr: str) -> LoginResult:
    await _check_throttle(deps, auth, client_addr, "recovery_code")
    async with deps.db.read() as db:
        rows = (await db.execute(select(col(RecoveryCode.id), col(RecoveryCode.code_hash))
                                 .where(col(RecoveryCode.user_id) == auth.principal.id)
                                 .order_by(col(RecoveryCode.id)))).all()
    failed = MfaFailed(WRONG_RECOVERY, code="mfa_failed")
    index = recovery_codes.find_match(code, [r[1] for r in rows])
    if index is None:
        raise await _fail(deps, auth, client_addr, "recovery_code", failed)
    now = deps.clock.now()
    async with deps.db.write() as db:
        gone = await db.execute(delete(RecoveryCode).where(
            col(RecoveryCode.id) == rows[index][0]))
        if getattr(gone, "rowcount", 0) == 1:
            left = len(rows) - 1
            result = await _complete(db, deps, auth, await _user(db, auth.principal.id),
                                     "rec", client_addr, now)
            await audit.append(db, actor=_actor(auth, client_addr), action="mfa.recovery_used",
                               at=now, object_type="user", object_id=str(auth.principal.id),
                               detail=f"left={left}")
            return result
    raise await _fail(deps, auth, client_addr, "recovery_code", failed)


async def regenerate_recovery_codes(deps: MfaDeps, auth: ActiveSession, *,
                                    client_addr: str) -> list[str]:
    _require_complete(auth)
    async with deps.db.read() as db:
        if not await factor_methods(db, auth.principal.id):
            raise InvalidInput("Set up an authenticator app or a passkey first.",
                               code="no_factor")
    codes, hashes = await _new_codes()
    now = deps.clock.now()
    async with deps.db.write() as db:
        await _replace_codes(db, auth.principal.id, hashes, now)
        await audit.append(db, actor=_actor(auth, client_addr), action="mfa.recovery_codes",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail="recovery_codes=10")
    return codes


# --- passkeys -------------------------------------------------------------------------------

def _site(settings: Settings) -> tuple[str, str]:
    """(rp_id, origin) from the configured public URL, never from request headers."""
    if not settings.public_url:
        raise InvalidInput("Passkeys need the site's address configured "
                           "(ECONSULT_PUBLIC_URL).", code="passkeys_unavailable")
    try:
        return passkeys.rp_id_for(settings.public_url), settings.public_url
    except ValueError as exc:
        raise InvalidInput(f"Passkeys are not available here: {exc}.",
                           code="passkeys_unavailable") from None


def _refs(rows: list[Passkey]) -> list[passkeys.PasskeyRef]:
    return [passkeys.PasskeyRef(p.credential_id, tuple(t for t in p.transports.split() if t))
            for p in rows]


async def _own_passkeys(db: AsyncSession, user_id: int) -> list[Passkey]:
    return list((await db.execute(select(Passkey).where(col(Passkey.user_id) == user_id)
                                  .order_by(col(Passkey.created_at)))).scalars().all())


async def _store_challenge(db: AsyncSession, session_id: int, purpose: str, challenge: bytes,
                           now: datetime) -> None:
    await db.execute(delete(MfaChallenge).where(col(MfaChallenge.session_id) == session_id))
    db.add(MfaChallenge(session_id=session_id, purpose=purpose, challenge=challenge,
                        expires_at=now + passkeys.TIMEOUT))


async def _pop_challenge(deps: MfaDeps, session_id: int, purpose: str) -> bytes:
    """The session's challenge for `purpose`, deleted whatever happens next."""
    now = deps.clock.now()
    async with deps.db.write() as db:
        row = await db.get(MfaChallenge, session_id)
        if row is not None:
            await db.execute(delete(MfaChallenge).where(
                col(MfaChallenge.session_id) == session_id))
    if row is None or row.purpose != purpose or row.expires_at <= now:
        raise MfaFailed("The passkey request expired. Try again.", code="passkey_failed")
    return bytes(row.challenge)


async def passkey_register_options(deps: MfaDeps, auth: ActiveSession) -> str:
    _require_complete(auth)
    rp_id, _ = _site(deps.settings)
    now = deps.clock.now()
    async with deps.db.write() as db:
        user = await _user(db, auth.principal.id)
        if user.webauthn_handle is None:
            user.webauthn_handle = passkeys.new_user_handle()
            db.add(user)
        handle = bytes(user.webauthn_handle)
        existing = _refs(await _own_passkeys(db, user.id or 0))
        options, challenge = passkeys.registration_options(
            rp_id=rp_id, user_handle=handle, user_name=user.email, display_name=user.name,
            existing=existing)
        await _store_challenge(db, auth.session_id, "register", challenge, now)
    return options


async def passkey_register_verify(deps: MfaDeps, auth: ActiveSession, *, credential_json: str,
                                  name: str, client_addr: str) -> PasskeyInfo:
    _require_complete(auth)
    rp_id, origin = _site(deps.settings)
    challenge = await _pop_challenge(deps, auth.session_id, "register")
    new = passkeys.verify_registration(credential_json, challenge=challenge, rp_id=rp_id,
                                       origin=origin)
    row_id = secrets.token_hex(16)
    sealed = deps.fields.seal(Passkey.__tablename__, "public_key", row_id,
                              new.public_key.hex())
    now = deps.clock.now()
    label = name.strip()[:100] or "Passkey"
    async with deps.db.write() as db:
        taken = await db.scalar(select(col(Passkey.id)).where(
            col(Passkey.credential_id) == new.credential_id))
        if taken is not None:
            raise MfaFailed("This passkey is registered already.", code="passkey_failed")
        db.add(Passkey(id=row_id, user_id=auth.principal.id, credential_id=new.credential_id,
                       public_key=sealed, sign_count=new.sign_count,
                       transports=" ".join(new.transports), aaguid=new.aaguid, name=label,
                       created_at=now))
        await audit.append(db, actor=_actor(auth, client_addr), action="mfa.passkey_add",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail=f"passkey={row_id}")
    return PasskeyInfo(row_id, label, now, None, False)


async def passkey_remove(deps: MfaDeps, auth: ActiveSession, *, passkey_id: str,
                         client_addr: str) -> None:
    _require_complete(auth)
    # Ids are 32 hex digits (secrets.token_hex); anything else is no passkey of theirs,
    # answered before it reaches the database (PostgreSQL refuses a NUL in text).
    if not _PASSKEY_ID.fullmatch(passkey_id):
        raise NotFound("No such passkey.")
    now = deps.clock.now()
    async with deps.db.write() as db:
        gone = await db.execute(delete(Passkey).where(
            col(Passkey.id) == passkey_id, col(Passkey.user_id) == auth.principal.id))
        if getattr(gone, "rowcount", 0) != 1:
            raise NotFound("No such passkey.")
        await audit.append(db, actor=_actor(auth, client_addr), action="mfa.passkey_remove",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail=f"passkey={passkey_id}")


async def passkey_login_options(deps: MfaDeps, auth: ActiveSession) -> str:
    _require_pending(auth)
    rp_id, _ = _site(deps.settings)
    now = deps.clock.now()
    async with deps.db.write() as db:
        own = _refs(await _own_passkeys(db, auth.principal.id))
        if not own:
            raise InvalidInput("You have no passkey yet: use your code.", code="no_passkey")
        options, challenge = passkeys.authentication_options(rp_id=rp_id, allowed=own)
        await _store_challenge(db, auth.session_id, "authenticate", challenge, now)
    return options


async def passkey_login_verify(deps: MfaDeps, auth: ActiveSession, *, credential_json: str,
                               client_addr: str) -> LoginResult:
    _require_pending(auth)
    rp_id, origin = _site(deps.settings)
    await _check_throttle(deps, auth, client_addr, "webauthn")
    challenge = await _pop_challenge(deps, auth.session_id, "authenticate")
    row: Passkey | None = None
    try:
        claimed = passkeys.credential_id_of(credential_json)
        async with deps.db.read() as db:
            row = (await db.execute(select(Passkey).where(
                col(Passkey.user_id) == auth.principal.id,
                col(Passkey.credential_id) == claimed))).scalars().first()
            user = await _user(db, auth.principal.id)
        if row is None:
            raise MfaFailed("The passkey could not be verified. Try again, or use another "
                            "method.", code="passkey_failed")
        public_key = bytes.fromhex(deps.fields.open(Passkey.__tablename__, "public_key",
                                                    row.id, row.public_key))
        count = passkeys.verify_authentication(
            credential_json, challenge=challenge, rp_id=rp_id, origin=origin,
            public_key=public_key, current_sign_count=row.sign_count,
            user_handle=bytes(user.webauthn_handle) if user.webauthn_handle else None)
    except PasskeyCloned as exc:
        if row is not None:
            async with deps.db.write() as db:
                await db.execute(update(Passkey).where(col(Passkey.id) == row.id)
                                 .values(flagged_at=deps.clock.now()))
        raise await _fail(deps, auth, client_addr, "webauthn", exc, outcome="cloned") from None
    except MfaFailed as exc:
        raise await _fail(deps, auth, client_addr, "webauthn", exc) from None
    assert row is not None
    now = deps.clock.now()
    async with deps.db.write() as db:
        moved = await db.execute(update(Passkey).where(
            col(Passkey.id) == row.id, col(Passkey.sign_count) == row.sign_count)
            .values(sign_count=count, last_used_at=now))
        if getattr(moved, "rowcount", 0) == 1:
            return await _complete(db, deps, auth, user, "hwk", client_addr, now)
    raise await _fail(deps, auth, client_addr, "webauthn",
                      MfaFailed("The passkey could not be verified. Try again.",
                                code="passkey_failed"))


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
