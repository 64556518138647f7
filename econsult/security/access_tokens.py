"""Opaque bearer tokens for API clients at /fhir.

A token is 256 random bits, base64url, handed out once; the database keeps only its
SHA-256. A fast unsalted hash is right here, unlike for passwords: nobody can guess a
256-bit value, so there is nothing for a slow hash to slow down, and a deterministic
hash lets the token be found by an indexed lookup. A stolen table then holds nothing a
client could present.

Short-lived (SMART recommends five minutes, `expires_in: 300`) and not refreshable: a
backend client signs a new assertion instead, so a leaked token is worth minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

ACCESS_TOKEN_LIFETIME = timedelta(minutes=5)
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of base64url without padding.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store. Return the token to the client, never log it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 hex of the token: the lookup key of the token table."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_well_formed(token: str) -> bool:
    """Cheap shape check before any lookup: anything else is not one of ours."""
    return bool(_TOKEN_SHAPE.fullmatch(token))


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison, for when a stored hash is compared in Python rather than
    found by the database (which compares a hash, not the secret, so leaks nothing useful)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))
