"""Single-use recovery codes: the way back in when the authenticator is lost.

Codes are 12 characters of Crockford's base32 (60 bits from `secrets`), shown as
``xxxx-xxxx-xxxx``. The alphabet has no I, L, O or U, so what a person reads
unambiguously; when they type I or L for 1, or O for 0, it is read as meant.

Stored as a salted SHA-256, not argon2, by choice. A slow hash protects secrets a
person chose; these are random, and their 60 bits are what resists an offline
search of a stolen table: at ten billion SHA-256 a second, one GPU needs about
3.6 years to cover the space of a single code, and a code found is useless without
the account's password.
argon2 would buy little on top and cost a great deal: checking one attempt means
hashing it against every remaining code (each has its own salt), ten argon2 runs at
64 MiB each per attempt, a denial-of-service lever on a two-core server. No key
either: a keyed hash would tie every stored code to a KEK, and key rotation could
not re-hash them (the codes themselves are never kept).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, shown in lower case
LENGTH = 12
GROUP = 4
DEFAULT_COUNT = 10
_SALT_BYTES = 16
_SCHEME = "s256"
_DOMAIN = b"econsult-recovery-code\x00"

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_LOOK_ALIKES = str.maketrans({"i": "1", "l": "1", "o": "0"})
_CANONICAL = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")
_MAX_INPUT = 64


def generate(n: int = DEFAULT_COUNT) -> list[str]:
    """`n` distinct codes, formatted for display; hand each to `hash_code` to store."""
    if n < 1:
        raise ValueError("n must be at least 1")
    canonical: set[str] = set()
    codes: list[str] = []
    # A repeat is astronomically unlikely, but find_match returns one index, so
    # distinctness is guaranteed rather than assumed.
    while len(codes) < n:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if raw not in canonical:
            canonical.add(raw)
            codes.append(_display(raw))
    return codes


def _display(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(code: str) -> str | None:
    """The canonical 12 characters of what was typed, or None if it cannot be a code:
    case, spaces and any kind of dash ignored, I and L read as 1, O as 0."""
    if len(code) > _MAX_INPUT:
        return None
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", code)).lower()
    cleaned = cleaned.translate(_LOOK_ALIKES)
    return cleaned if _CANONICAL.fullmatch(cleaned) else None


def hash_code(code: str) -> str:
    """``s256$<salt>$<digest>`` for the database; the code itself is never stored."""
    canonical = normalise(code)
    if canonical is None:
        raise ValueError("not a recovery code")
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{_SCHEME}${_b64(salt)}${_b64(_digest(salt, canonical))}"


def matches(code: str, hashed: str) -> bool:
    canonical = normalise(code)
    return canonical is not None and _matches_canonical(canonical, hashed)


def find_match(code: str, hashes: Sequence[str]) -> int | None:
    """The index of the stored hash `code` matches, or None.

    Every hash is checked whatever happens, so the time taken does not tell which
    position matched or whether one did. The caller deletes the matched hash in the
    same transaction that completes the login (``DELETE ... WHERE id = :id`` and
    require one row), which is what makes each code work once. A malformed code
    returns at once: that reveals only what the caller typed."""
    canonical = normalise(code)
    if canonical is None:
        return None
    found: int | None = None
    for index, hashed in enumerate(hashes):
        if _matches_canonical(canonical, hashed) and found is None:
            found = index
    return found


def _matches_canonical(canonical: str, hashed: str) -> bool:
    parsed = _parse(hashed)
    if parsed is None:
        # A damaged stored hash matches nothing: failing closed locks one code out,
        # failing open would let anything in.
        return False
    salt, digest = parsed
    return hmac.compare_digest(_digest(salt, canonical), digest)


def _digest(salt: bytes, canonical: str) -> bytes:
    return hashlib.sha256(_DOMAIN + salt + canonical.encode("ascii")).digest()


def _parse(hashed: str) -> tuple[bytes, bytes] | None:
    scheme, _, rest = hashed.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if scheme != _SCHEME:
        return None
    try:
        salt, digest = _unb64(salt_text), _unb64(digest_text)
    except (binascii.Error, ValueError):
        return None
    if len(salt) != _SALT_BYTES or len(digest) != hashlib.sha256().digest_size:
        return None
    return salt, digest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
