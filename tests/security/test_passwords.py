"""Password rules and argon2id hashing, including the upgrade of old hashes at login.

The test app hashes with cheap parameters (tests.factories.CHEAP_PASSWORDS); the
production parameters are those of a default `Passwords()`.
"""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import select, update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import User
from econsult.security.passwords import PasswordRejected, Passwords, validate_password
from tests.factories import CHEAP_PASSWORDS, PASSWORD, Personas


@pytest.fixture(scope="module")
def production() -> Passwords:
    """Hashing as production does it (the default parameters)."""
    return Passwords()


# --- rules ---------------------------------------------------------------------


def test_length_limits() -> None:
    validate_password("blue-kettle7")  # exactly 12
    with pytest.raises(PasswordRejected, match="at least 12"):
        validate_password("blue-kettl7")  # 11
    long_ok = ("correct horse battery staple " * 5)[:128]
    validate_password(long_ok)
    with pytest.raises(PasswordRejected, match="at most 128"):
        validate_password(long_ok + "x")


@pytest.mark.parametrize("password", [
    "justinbieber",  # on the list as it is
    "JustinBieber",  # case does not help
    "qwertyuiop12",  # common + trailing digits
    "iloveyou2024!",  # common + digits + punctuation
    "Password123456",
])
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="too common"):
        validate_password(password)


def test_password_containing_the_email_local_part_is_refused() -> None:
    with pytest.raises(PasswordRejected, match="email"):
        validate_password("Gail.Parker-rocks-2026", email="gail.parker@example.org")
    # a very short local part is too weak a signal to refuse on
    validate_password("bo-and-the-tide-2026", email="bo@example.org")
    validate_password("a-long-unrelated-phrase", email="gail.parker@example.org")


def test_too_few_distinct_characters_refused() -> None:
    with pytest.raises(PasswordRejected, match="different characters"):
        validate_password("abcabcabcabcabc")


# --- hashing -------------------------------------------------------------------


def test_production_hash_is_argon2id_at_a_serious_cost(production: Passwords) -> None:
    hashed = production.hash("blue-kettle-morning")
    assert hashed.startswith("$argon2id$v=19$")
    params = extract_parameters(hashed)
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024  # OWASP's floor for argon2id is 19 MiB
    assert params.time_cost >= 2
    assert production.verify(hashed, "blue-kettle-morning")
    assert not production.needs_rehash(hashed)


def test_hash_format_and_verify() -> None:
    hashed = CHEAP_PASSWORDS.hash("blue-kettle-morning")
    assert hashed.startswith("$argon2id$")
    assert "blue-kettle-morning" not in hashed
    assert CHEAP_PASSWORDS.hash("blue-kettle-morning") != hashed  # salted
    assert CHEAP_PASSWORDS.verify(hashed, "blue-kettle-morning") is True
    assert CHEAP_PASSWORDS.verify(hashed, "blue-kettle-mornin") is False
    assert CHEAP_PASSWORDS.verify(hashed, "") is False
    assert CHEAP_PASSWORDS.verify("not-a-hash", "blue-kettle-morning") is False
    assert CHEAP_PASSWORDS.verify("", "blue-kettle-morning") is False


def test_verify_with_no_hash_is_false_even_for_the_dummy_password() -> None:
    # The dummy hash equalises timing for unknown emails; it must never let anyone in.
    assert CHEAP_PASSWORDS.verify(None, "timing-equaliser") is False
    assert CHEAP_PASSWORDS.verify(None, "econsult-timing-equaliser-not-a-password") is False


def test_needs_rehash_for_weaker_parameters(production: Passwords) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    assert production.needs_rehash(weak) is True
    assert production.needs_rehash(production.hash(PASSWORD)) is False
    # the session-wide cheap hasher judges against its own parameters
    assert CHEAP_PASSWORDS.needs_rehash(CHEAP_PASSWORDS.hash(PASSWORD)) is False
    weaker_than_cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    assert CHEAP_PASSWORDS.needs_rehash(weaker_than_cheap) is True


async def test_login_upgrades_an_old_hash(anon: httpx.AsyncClient, personas: Personas,
                                          db: Database, production: Passwords,
                                          app: Starlette,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_state(app).passwords, "_hasher", production._hasher)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == personas.gp.id)
                              .values(password_hash=weak))
    r = await anon.post("/api/v1/auth/login", json={"email": "gp@example.org",
                                                    "password": PASSWORD})
    assert r.status_code == 200
    async with db.read() as session:
        stored = (await session.execute(select(col(User.password_hash))
                                        .where(col(User.id) == personas.gp.id))).scalar_one()
    assert stored != weak
    assert extract_parameters(stored) == extract_parameters(production.hash("x"))
    assert CHEAP_PASSWORDS.verify(stored, PASSWORD)
    assert not CHEAP_PASSWORDS.needs_rehash(stored)


async def test_failed_login_does_not_touch_an_old_hash(anon: httpx.AsyncClient,
                                                       personas: Personas, db: Database) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == personas.gp.id)
                              .values(password_hash=weak))
    r = await anon.post("/api/v1/auth/login", json={"email": "gp@example.org",
                                                    "password": "wrong-password-guess"})
    assert r.status_code == 401
    async with db.read() as session:
        stored = (await session.execute(select(col(User.password_hash))
                                        .where(col(User.id) == personas.gp.id))).scalar_one()
    assert stored == weak
