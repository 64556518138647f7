"""Key rotation re-seals TOTP seeds (and passkey public keys) too: after `keys rotate`
and `keys retire` of the old KEK, the authenticator app still logs in."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy import select

from econsult.clock import ManualClock
from econsult.config import ROLES, Settings
from econsult.http.state import app_state
from econsult.models import TotpCredential
from econsult.ops import keys
from econsult.security.keyring import ensure_key_file, load_key_file, token_kek_id
from tests.factories import make_personas
from tests.images.test_rotation import running
from tests.security.test_mfa_login import _client, enrol, password_step


async def test_the_app_still_works_after_rotation_and_retirement(
        settings: Settings, clock: ManualClock) -> None:
    settings = settings.with_(master_key=None, mfa_required=frozenset(ROLES))
    ensure_key_file(settings.key_file)
    old = load_key_file(settings.key_file).active_id
    async with running(settings, clock) as app:
        personas = await make_personas(app_state(app).db, clock)
        async with _client(app) as client:
            secret, _ = await enrol(client, personas.gp.email, clock)
    new, counts = await keys.rotate(settings)
    assert counts["fields"] == 1  # the seed (no consults here)
    await keys.retire(settings, old)  # refuses if anything is still under the old KEK
    async with running(settings, clock) as app:
        async with app_state(app).db.read() as db:
            row = (await db.execute(select(TotpCredential))).scalars().one()
        assert token_kek_id(row.secret) == new
        async with _client(app) as client:
            await password_step(client, personas.gp.email)
            clock.advance(timedelta(seconds=30))
            ok = await client.post("/api/v1/auth/mfa/verify",
                                   json={"code": pyotp.TOTP(secret).at(clock.now())})
            assert ok.status_code == 200, ok.text
