"""Access tokens: unguessable, stored only as a hash, short-lived."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from econsult.security.access_tokens import (
    ACCESS_TOKEN_LIFETIME,
    hash_token,
    hashes_equal,
    is_well_formed,
    new_token,
)


def test_a_token_is_256_random_bits_in_url_safe_text() -> None:
    token, _ = new_token()
    assert is_well_formed(token)
    raw = base64.urlsafe_b64decode(token + "=")
    assert len(raw) == 32
    assert token == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_tokens_do_not_repeat() -> None:
    tokens = {new_token()[0] for _ in range(1000)}
    assert len(tokens) == 1000


def test_only_the_hash_is_stored_and_it_finds_the_token() -> None:
    token, stored = new_token()
    assert stored == hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored and len(stored) == 64
    assert hash_token(token[:-1] + ("A" if token[-1] != "A" else "B")) != stored


def test_the_lifetime_is_smarts_five_minutes() -> None:
    assert ACCESS_TOKEN_LIFETIME == timedelta(minutes=5)


def test_comparison() -> None:
    _, stored = new_token()
    assert hashes_equal(stored, stored)
    assert not hashes_equal(stored, stored[:-1] + ("0" if stored[-1] != "0" else "1"))
    assert not hashes_equal(stored, "")
    assert not hashes_equal("é", "e")


@given(st.text(max_size=100))
def test_anything_a_client_sends_can_be_hashed_and_shape_checked(text: str) -> None:
    assert len(hash_token(text)) == 64
    if is_well_formed(text):
        assert len(text) == 43


def test_malformed_tokens_are_spotted_before_a_lookup() -> None:
    token, _ = new_token()
    for bad in ("", token[:-1], token + "A", token[:-1] + "=", token[:-1] + "+", " " + token[1:],
                token[:-1] + "\n"):
        assert not is_well_formed(bad)
