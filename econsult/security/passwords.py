"""Password hashing (argon2id) and the password rules.

The common-password list is Django's (BSD licence, see common-passwords.LICENSE):
20,000 passwords seen in breaches.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128



class PasswordRejected(ValueError):
    """The new password breaks a rule; the message says which."""


@cache
def _common_passwords() -> frozenset[str]:
    data = resources.files("econsult.security").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


_TRAILING_NOISE = re.compile(r"[\d\W_]+$")


def validate_password(password: str, *, email: str = "", name: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    common = _common_passwords()
    # "qwertyuiop123!" is as guessable as "qwertyuiop".
    if lowered in common or _TRAILING_NOISE.sub("", lowered) in common:
        raise PasswordRejected("That password is too common; choose a less predictable one.")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        raise PasswordRejected("The password must not contain your email address.")
    if len(set(lowered)) < 4:
        raise PasswordRejected("Use more different characters.")


class Passwords:
    """Hashing and checking passwords with one argon2 hasher (made by the application
    state, never at import). argon2-cffi's defaults follow RFC 9106's second
    recommended profile (argon2id, 64 MiB, t=3); changing them makes `needs_rehash`
    upgrade old hashes at the next successful login."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant-cost check; an absent hash is checked against a dummy, so that "no
        such user" costs as much time as "wrong password"."""
        if self._dummy is None:
            self._dummy = self._hasher.hash("econsult-timing-equaliser-not-a-password")
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
