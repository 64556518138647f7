"""Passkeys (WebAuthn) as a second factor: registering one from a complete session,
removing one, and the login's second step with one. The relying party is the
configured public address, never a request header; each ceremony's challenge is
kept per session and used once; a sign count that goes backwards flags the
passkey as cloned."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts.login import (
    LoginResult,
)
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
from econsult.config import Settings
from econsult.errors import InvalidInput, NotFound
from econsult.models import MfaChallenge, Passkey
from econsult.security import audit, passkeys
from econsult.security.mfa_errors import MfaFailed, PasskeyCloned
from econsult.security.sessions import ActiveSession

_PASSKEY_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class PasskeyInfo:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    flagged: bool


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
    require_complete(auth)
    rp_id, _ = _site(deps.settings)
    now = deps.clock.now()
    async with deps.db.write() as db:
        user = await active_user(db, auth.principal.id)
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
    require_complete(auth)
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
        await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.passkey_add",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail=f"passkey={row_id}")
    return PasskeyInfo(row_id, label, now, None, False)


async def passkey_remove(deps: MfaDeps, auth: ActiveSession, *, passkey_id: str,
                         client_addr: str) -> None:
    require_complete(auth)
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
        await audit.append(db, actor=actor_of(auth, client_addr), action="mfa.passkey_remove",
                           at=now, object_type="user", object_id=str(auth.principal.id),
                           detail=f"passkey={passkey_id}")


async def passkey_login_options(deps: MfaDeps, auth: ActiveSession) -> str:
    require_pending(auth)
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
    require_pending(auth)
    rp_id, origin = _site(deps.settings)
    await check_throttle(deps, auth, client_addr, "webauthn")
    challenge = await _pop_challenge(deps, auth.session_id, "authenticate")
    row: Passkey | None = None
    try:
        claimed = passkeys.credential_id_of(credential_json)
        async with deps.db.read() as db:
            row = (await db.execute(select(Passkey).where(
                col(Passkey.user_id) == auth.principal.id,
                col(Passkey.credential_id) == claimed))).scalars().first()
            user = await active_user(db, auth.principal.id)
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
        raise await record_failure(deps, auth, client_addr, "webauthn", exc,
                                   outcome="cloned") from None
    except MfaFailed as exc:
        raise await record_failure(deps, auth, client_addr, "webauthn", exc) from None
    assert row is not None
    now = deps.clock.now()
    async with deps.db.write() as db:
        moved = await db.execute(update(Passkey).where(
            col(Passkey.id) == row.id, col(Passkey.sign_count) == row.sign_count)
            .values(sign_count=count, last_used_at=now))
        if getattr(moved, "rowcount", 0) == 1:
            return await complete_login(db, deps, auth, user, "hwk", client_addr, now)
    raise await record_failure(deps, auth, client_addr, "webauthn",
                      MfaFailed("The passkey could not be verified. Try again.",
                                code="passkey_failed"))


