"""Verify the signed JWT an API client presents at POST /oauth/token (SMART Backend Services,
the client-confidential-asymmetric profile: RFC 7523 private_key_jwt).

REPLAY IS THE CALLER'S JOB. This module keeps no state, so it cannot see that the same
assertion arrives twice. The token service MUST, in the same transaction that issues the
access token, insert (client_id, jti) into a table with a UNIQUE constraint on that pair,
keep the row until at least `VerifiedAssertion.expires_at`, and answer invalid_client when
the insert hits the constraint. Insert-and-catch, not select-then-insert: two copies of
one assertion sent at once must not both win. After `expires_at` this module refuses the
assertion by itself, so rows older than that may be deleted.

Every refusal is an InvalidClient: `.message` is the same text for every cause (it goes on
the wire; an OAuth error must not tell an attacker which check they failed), `.reason`
says what was wrong, for the log.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from econsult.errors import InvalidInput
from econsult.security.client_keys import PublicKeySet

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = timedelta(minutes=5)  # SMART: exp no more than five minutes in the future
LEEWAY = timedelta(seconds=30)
MAX_JTI_LENGTH = 255
MAX_CLIENT_ID_LENGTH = 255
# An RS384 assertion signed with an 8192-bit key, generous claims, and room to spare.
MAX_ASSERTION_BYTES = 8 * 1024

# Algorithms this server verifies, each bound to one kind of registered key (see
# client_keys): RS384 and ES384 are SMART's; ES256 only for P-256 keys. "none", HS*
# (which would let a public key double as an HMAC secret) and RS256 are refused.
ALLOWED_ALGORITHMS = frozenset({"RS384", "ES384", "ES256"})
# Headers that point at or carry a key. Trusting any of them lets the signer choose the
# key that verifies its own signature; a registered client has no jku to match (SMART
# requires a jku to equal the JWKS URL registered, and we register keys, not URLs).
_KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")
# crit: we implement no extension, so RFC 7515 says refuse. b64 (RFC 7797) changes what
# the signature covers.
_EXTENSION_HEADERS = ("crit", "b64")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidClient(InvalidInput):
    """Client authentication failed (RFC 6749 section 5.2 `invalid_client`)."""

    code = "invalid_client"
    WIRE_MESSAGE = "Client authentication failed."

    def __init__(self, reason: str) -> None:
        super().__init__(self.WIRE_MESSAGE, code=self.code)
        self.reason = reason

    def __repr__(self) -> str:
        return f"InvalidClient(reason={self.reason!r})"


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    client_id: str
    kid: str
    jti: str
    # The assertion's exp plus the leeway: the last moment this module would accept it.
    # Keep (client_id, jti) at least until then.
    expires_at: datetime


class _Registry(JWSRegistry):
    # 8192-bit RSA signatures are 1366 base64url characters; joserfc's default is 1024.
    max_signature_length = 1400


def unverified_client_id(token: str) -> str:
    """The `iss` of an assertion, NOT verified: only to find whose keys to verify it with.

    SMART lets the client omit client_id from the token request, so the service looks the
    client up by this value, then calls verify_assertion, which checks it properly.
    """
    claims = _claims(_extract(token))
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not 0 < len(issuer) <= MAX_CLIENT_ID_LENGTH:
        raise InvalidClient("iss missing or not a client id")
    return issuer


def verify_assertion(
    token: str,
    *,
    client_id: str,
    keys: PublicKeySet,
    token_url: str,
    now: datetime,
    max_lifetime: timedelta = MAX_LIFETIME,
    leeway: timedelta = LEEWAY,
) -> VerifiedAssertion:
    """Check signature, header and claims of a client assertion; see the module doc for the
    replay check the caller owes."""
    # Programming errors, not client errors: they must not look like a bad assertion.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not client_id or not token_url:
        raise ValueError("client_id and token_url are required")
    if max_lifetime <= timedelta(0) or leeway < timedelta(0):
        raise ValueError("max_lifetime must be positive and leeway not negative")

    obj = _extract(token)
    header = obj.headers()
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise InvalidClient(f"alg {_show(alg)} not allowed")
    if any(name in header for name in _KEY_HEADERS):
        raise InvalidClient("header carries or points at a key (jwk/jku/x5u/x5c)")
    if any(name in header for name in _EXTENSION_HEADERS):
        raise InvalidClient("crit or b64 header not supported")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or not typ.isascii() or typ.upper() != "JWT"):
        raise InvalidClient(f"typ {_show(typ)} is not JWT")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidClient("kid missing")
    key = keys.get(kid)
    if key is None:
        raise InvalidClient(f"kid {_show(kid)} is not registered for this client")
    if key.alg != alg:
        raise InvalidClient(f"alg {alg} does not fit key {_show(kid)} ({key.alg})")
    try:
        valid = jws.validate_compact(obj, key.key, registry=_Registry(algorithms=[key.alg],
                                                                      strict_check_header=False))
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidClient(f"signature does not verify with key {_show(kid)}")

    claims = _claims(obj)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("iss and sub must both be the client id")
    _check_audience(claims.get("aud"), token_url)
    expires = _check_times(claims, now.timestamp(), max_lifetime.total_seconds(),
                           leeway.total_seconds())
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidClient(f"jti missing or longer than {MAX_JTI_LENGTH} characters")
    return VerifiedAssertion(
        client_id=client_id,
        kid=kid,
        jti=jti,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def _extract(token: object) -> jws.CompactSignature:
    if not isinstance(token, str):
        raise InvalidClient("assertion is not text")
    if len(token) > MAX_ASSERTION_BYTES:
        raise InvalidClient("assertion too large")
    # Three non-empty base64url segments: no detached payload, no JWE, no stray bytes.
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidClient("assertion is not a compact JWS")
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=_Registry())
    except (JoseError, ValueError, TypeError, RecursionError):
        raise InvalidClient("assertion is not a decodable JWS") from None
    if not isinstance(obj.headers(), dict):
        raise InvalidClient("header is not a JSON object")
    return obj


def _claims(obj: jws.CompactSignature) -> dict[str, Any]:
    try:
        claims = json.loads(obj.payload, object_pairs_hook=_unique_members,
                            parse_constant=_no_constant)
    except (ValueError, TypeError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON, repeated claims and 5000-digit numbers.
        raise InvalidClient("payload is not a JSON object") from None
    if not isinstance(claims, dict):
        raise InvalidClient("payload is not a JSON object")
    return claims


def _check_audience(aud: object, token_url: str) -> None:
    # RFC 7523: aud identifies the token endpoint. Exact match: no normalisation games.
    audiences = aud if isinstance(aud, list) else [aud]
    if not all(isinstance(a, str) for a in audiences) or token_url not in audiences:
        raise InvalidClient("aud is not this token endpoint")


def _check_times(claims: dict[str, Any], now: float, lifetime: float, leeway: float) -> float:
    """Check exp (required), nbf and iat (optional); return exp + leeway."""
    exp = _numeric(claims, "exp")
    if exp is None:
        raise InvalidClient("exp missing")
    if now >= exp + leeway:
        raise InvalidClient("assertion expired")
    if exp - now > lifetime + leeway:
        raise InvalidClient("exp too far ahead: assertions may live five minutes")
    nbf = _numeric(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise InvalidClient("assertion not valid yet (nbf)")
    iat = _numeric(claims, "iat")
    if iat is not None:
        if iat > now + leeway:
            raise InvalidClient("iat in the future")
        # An old iat with a fresh exp is a long-lived assertion in disguise.
        if exp - iat > lifetime + leeway:
            raise InvalidClient("exp - iat longer than the allowed lifetime")
    return exp + leeway


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 section 2) or None when absent."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int in Python, and "true" is not a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClient(f"{name} is not a number")
    number = float(value) if abs(value) < 1e15 else math.inf
    if not math.isfinite(number):
        raise InvalidClient(f"{name} is out of range")
    return number


class _RepeatedMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"iss": "a", "iss": "b"} means different things to different parsers; refuse it.
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _RepeatedMember(name)
        result[name] = value
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _show(value: object) -> str:
    """An attacker-chosen value, made safe and short for a log line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
