"""The public keys an API client (an EMR) registers to sign its SMART client assertions.

An admin pastes the client's JWKS once; every later token request is checked against
it. Refusing a bad set here, with a message the admin can act on, beats a client that
can never authenticate for a reason nobody sees. Only public signing keys are kept:
private key material in the paste means the client's key has leaked and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key
from joserfc.jwk import thumbprint as rfc7638_thumbprint
from joserfc.util import urlsafe_b64decode

from econsult.errors import InvalidInput

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 10
MAX_KID_LENGTH = 128
MIN_RSA_BITS = 2048
# A bigger modulus buys nothing a client needs and costs us on every verification.
MAX_RSA_BITS = 8192
# NIST SP 800-56B: 65537 <= e < 2**256, e odd. Small exponents only help attacks.
_MIN_RSA_EXPONENT = 65537
_MAX_RSA_EXPONENT = 2**256

# The one algorithm each kind of key may sign with. SMART Backend Services names RS384
# and ES384; ES256 is the only algorithm defined for P-256, so a P-256 key (which we
# accept) would be useless without it. RS256 adds nothing: any RSA key can sign RS384.
# Binding the algorithm to the key is what defeats algorithm confusion.
_RSA_ALG = "RS384"
_EC_ALGS = {"P-384": "ES384", "P-256": "ES256"}

# RFC 7517/7518 members that only a private or symmetric key carries.
_SECRET_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_REQUIRED = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}

KeyType = Literal["RSA", "EC"]


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One registered public key. `alg` is the only algorithm it may verify."""

    kid: str
    kty: KeyType
    alg: str
    bits: int
    thumbprint: str  # RFC 7638, for admins comparing keys with the EMR vendor
    jwk: tuple[tuple[str, str], ...]  # canonical public members, sorted
    key: RSAKey | ECKey = field(compare=False, repr=False)

    def as_jwk(self) -> dict[str, str]:
        return dict(self.jwk)


@dataclass(frozen=True, slots=True)
class PublicKeySet:
    """A client's verified public keys, by kid. Store `to_json()`; read back with parse_jwks."""

    keys: tuple[ClientKey, ...]

    def get(self, kid: str) -> ClientKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)

    def __iter__(self) -> Iterator[ClientKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def to_json(self) -> str:
        """Canonical JSON: keys sorted by kid, members sorted, no whitespace, so the same
        set is always stored as the same text (and diffs in the audit log mean something)."""
        document = {"keys": [key.as_jwk() for key in self.keys]}
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def parse_jwks(text: str) -> PublicKeySet:
    """Parse and vet a JWKS document; raise InvalidInput(field="jwks") naming the problem."""
    if not isinstance(text, str):
        raise _refuse("The key set must be JSON text.")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_JWKS_BYTES:
        raise _refuse(f"The key set is larger than {MAX_JWKS_BYTES // 1024} KiB; "
                      "register only the client's current signing keys.")
    document = _load_json(text)
    if not isinstance(document, dict):
        raise _refuse('The key set must be a JSON object of the form {"keys": [...]}.')
    if "keys" not in document:
        if "kty" in document:
            raise _refuse('This is a single key, not a key set: wrap it as {"keys": [ ... ]}.')
        raise _refuse('The key set has no "keys" member.')
    entries = document["keys"]
    if not isinstance(entries, list) or not entries:
        raise _refuse('"keys" must be a non-empty list of keys.')
    if len(entries) > MAX_KEYS:
        raise _refuse(f"The key set has {len(entries)} keys; at most {MAX_KEYS} are accepted. "
                      "Remove keys the client no longer signs with.")
    keys: list[ClientKey] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        key = _parse_key(entry, position)
        if key.kid in seen:
            raise _refuse(f"Two keys share the kid {_show(key.kid)}; each key needs its own kid "
                          "so a signature names exactly one key.")
        seen.add(key.kid)
        keys.append(key)
    return PublicKeySet(tuple(sorted(keys, key=lambda k: k.kid)))


def _parse_key(entry: object, position: int) -> ClientKey:
    if not isinstance(entry, dict):
        raise _refuse(f"Key {position} is not a JSON object.")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        raise _refuse(f'Key {position} has no "kid"; give every key a key id, which the '
                      "client puts in the header of each assertion it signs.")
    if len(kid) > MAX_KID_LENGTH or not kid.isprintable():
        raise _refuse(f"Key {position} has a kid longer than {MAX_KID_LENGTH} characters "
                      "or with control characters.")
    name = f"Key {_show(kid)}"
    kty = entry.get("kty")
    if kty == "oct":
        raise _refuse(f"{name} is a symmetric (oct) key. API clients authenticate with an "
                      "asymmetric key pair: register the public half of an RSA or EC key.")
    leaked = [m for m in _SECRET_MEMBERS if m in entry]
    if leaked:
        raise _refuse(f"{name} contains private key material ({', '.join(leaked)}). Register "
                      "only the public key, and have the client replace this key pair: its "
                      "private key has been shared and must be treated as compromised.")
    if not isinstance(kty, str) or kty not in _REQUIRED:
        raise _refuse(f"{name} has key type {_show(kty)}; only RSA and EC keys are accepted.")
    for member in _REQUIRED[kty]:
        if not isinstance(entry.get(member), str):
            raise _refuse(f'{name} is missing "{member}".')
    if kty == "EC" and entry["crv"] not in _EC_ALGS:
        raise _refuse(f"{name} uses curve {_show(entry['crv'])}; only P-384 and P-256 are "
                      "accepted.")
    alg = _RSA_ALG if kty == "RSA" else _EC_ALGS[entry["crv"]]
    _check_intent(entry, name, alg)
    if kty == "RSA":
        _check_rsa_size(entry["n"], name)
    members: dict[str, Any] = {m: entry[m] for m in _REQUIRED[kty]}
    # With "alg" set, joserfc itself also refuses any other algorithm for this key.
    members.update(kty=kty, kid=kid, alg=alg, use="sig")
    try:
        key = import_key(members)
    except (JoseError, ValueError, TypeError) as exc:
        raise _refuse(f"{name} is not a valid {kty} public key (for EC: the point must lie "
                      "on the curve).") from exc
    if not isinstance(key, RSAKey | ECKey) or key.is_private:
        raise _refuse(f"{name} is not a public {kty} key.")
    bits = _check_strength(key, name)
    public = {m: v for m, v in key.as_dict(private=False).items() if isinstance(v, str)}
    public.update(kid=kid, alg=alg, use="sig")
    return ClientKey(
        kid=kid,
        kty="RSA" if kty == "RSA" else "EC",
        alg=alg,
        bits=bits,
        thumbprint=rfc7638_thumbprint(dict(public)),  # uses only the RFC 7638 required members
        jwk=tuple(sorted(public.items())),
        key=key,
    )


def _check_intent(entry: dict[str, Any], name: str, alg: str) -> None:
    """What the key says it is for must include verifying our algorithm."""
    if "use" in entry and entry["use"] != "sig":
        raise _refuse(f'{name} has "use": {_show(entry["use"])}; a client signing key needs "sig".')
    if "key_ops" in entry:
        ops = entry["key_ops"]
        if not isinstance(ops, list) or "verify" not in ops:
            raise _refuse(f'{name} has "key_ops" without "verify"; a public signing key '
                          'needs "key_ops": ["verify"] or no key_ops at all.')
    if "alg" in entry and entry["alg"] != alg:
        raise _refuse(f"{name} declares alg {_show(entry['alg'])}, but a key of this type signs "
                      f"{alg} here (SMART Backend Services: RS384 for RSA, ES384 for P-384, "
                      "ES256 for P-256).")


def _check_strength(key: RSAKey | ECKey, name: str) -> int:
    if isinstance(key, ECKey):
        return int(key.curve_key_size)
    public = key.raw_value
    assert isinstance(public, RSAPublicKey)
    exponent = public.public_numbers().e
    if exponent < _MIN_RSA_EXPONENT or exponent >= _MAX_RSA_EXPONENT or exponent % 2 == 0:
        raise _refuse(f"{name} has an unusual RSA public exponent; use 65537 (AQAB).")
    return int(public.key_size)


def _check_rsa_size(modulus: str, name: str) -> None:
    # Before import: joserfc would only warn about a small key, and a huge one is work.
    try:
        bits = int.from_bytes(urlsafe_b64decode(modulus.encode("ascii"))).bit_length()
    except (ValueError, UnicodeEncodeError):
        raise _refuse(f'{name} has an "n" that is not base64url.') from None
    if bits < MIN_RSA_BITS:
        raise _refuse(f"{name} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are "
                      "required (3072 recommended).")
    if bits > MAX_RSA_BITS:
        raise _refuse(f"{name} is a {bits}-bit RSA key; at most {MAX_RSA_BITS} bits are accepted.")


def _load_json(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateMember as exc:
        # Two parsers can pick different values for a repeated member; refuse the ambiguity.
        raise _refuse(f"The key set repeats the member {str(exc)!r} in one object.") from None
    except (ValueError, RecursionError):
        raise _refuse("The key set is not valid JSON.") from None


class _DuplicateMember(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateMember(name[:40])
        result[name] = value
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_jwks", field="jwks")
