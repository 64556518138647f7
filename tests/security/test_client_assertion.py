"""Client assertions at /oauth/token, from the attacker's side: every forgery, replay-shaped
or confused token must end in InvalidClient, and only a well-formed one signed by a
registered key gets through."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from econsult.errors import InvalidInput
from econsult.security.client_assertion import (
    LEEWAY,
    InvalidClient,
    VerifiedAssertion,
    unverified_client_id,
    verify_assertion,
)
from econsult.security.client_keys import PublicKeySet, parse_jwks

NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
CLIENT = "emr-oscar-clinic-7"
TOKEN_URL = "https://econsult.example.org/oauth/token"


@cache
def rsa_private() -> RSAKey:
    return RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=3072))


@cache
def ec_private() -> ECKey:
    return ECKey.import_key(ec.generate_private_key(ec.SECP384R1()))


@cache
def attacker_ec() -> ECKey:
    return ECKey.import_key(ec.generate_private_key(ec.SECP384R1()))


@cache
def attacker_rsa() -> RSAKey:
    return RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=3072))


@cache
def registered() -> PublicKeySet:
    entries = [{**rsa_private().as_dict(private=False), "kid": "rsa-2026"},
               {**ec_private().as_dict(private=False), "kid": "ec-2026"}]
    return parse_jwks(json.dumps({"keys": entries}))


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": TS + 240,
                            "iat": TS - 10, "jti": "4f1e0c0e-6a36-4c5e-9f3b-0d2f6d1f8a11"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: RSAKey | ECKey, alg: str, kid: str | None, body: dict[str, Any] | None = None,
         /, **header: Any) -> str:
    head = {"alg": alg, **header}
    if kid is not None:
        head["kid"] = kid
    return jwt.encode(head, body if body is not None else claims(), key, algorithms=[alg])


def rs384(**changes: Any) -> str:
    return sign(rsa_private(), "RS384", "rsa-2026", claims(**changes))


def es384(**changes: Any) -> str:
    return sign(ec_private(), "ES384", "ec-2026", claims(**changes))


def signed_raw(payload: str) -> str:
    """A correct ES384 signature over any payload text, JSON or not."""
    return jws.serialize_compact({"alg": "ES384", "kid": "ec-2026"}, payload, ec_private(),
                                 algorithms=["ES384"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(header: dict[str, Any], body: dict[str, Any] | str, signature: bytes) -> str:
    payload = body if isinstance(body, str) else json.dumps(body)
    return f"{b64(json.dumps(header).encode())}.{b64(payload.encode())}.{b64(signature)}"


def verify(token: str, **overrides: Any) -> VerifiedAssertion:
    arguments: dict[str, Any] = {"client_id": CLIENT, "keys": registered(),
                                 "token_url": TOKEN_URL, "now": NOW}
    arguments.update(overrides)
    return verify_assertion(token, **arguments)


def refused(token: str, **overrides: Any) -> str:
    with pytest.raises(InvalidClient) as info:
        verify(token, **overrides)
    error = info.value
    # Whatever went wrong, the wire sees the same RFC 6749 code and the same sentence.
    assert isinstance(error, InvalidInput)
    assert error.code == "invalid_client"
    assert error.message == InvalidClient.WIRE_MESSAGE == str(error)
    return error.reason


# --- what gets through ---------------------------------------------------------------

@pytest.mark.parametrize("make", [rs384, es384], ids=["RS384", "ES384"])
def test_a_valid_assertion_is_accepted(make: Any) -> None:
    verified = verify(make())
    assert verified.client_id == CLIENT
    assert verified.jti == "4f1e0c0e-6a36-4c5e-9f3b-0d2f6d1f8a11"
    # The replay record must outlive the last moment the assertion is still accepted.
    assert verified.expires_at == datetime.fromtimestamp(TS + 240, UTC) + LEEWAY
    assert verified.kid in {"rsa-2026", "ec-2026"}


def test_typ_may_be_absent_and_aud_may_be_a_list() -> None:
    token = sign(ec_private(), "ES384", "ec-2026", claims(aud=["https://other", TOKEN_URL]))
    assert verify(token).jti
    bare = jwt.encode({"alg": "ES384", "kid": "ec-2026"}, claims(), ec_private(),
                      algorithms=["ES384"], default_type=None)
    assert "typ" not in json.loads(base64.urlsafe_b64decode(bare.split(".")[0] + "=="))
    assert verify(bare).jti


def test_an_es256_assertion_verifies_only_against_a_p256_key() -> None:
    p256 = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    keys = parse_jwks(json.dumps({"keys": [{**p256.as_dict(private=False), "kid": "p256"}]}))
    assert verify(sign(p256, "ES256", "p256"), keys=keys).kid == "p256"
    assert "does not fit" in refused(sign(p256, "ES256", "ec-2026"))
    assert "not registered" in refused(sign(p256, "ES256", "p256"))


def test_the_module_does_not_remember_jtis_the_service_must() -> None:
    token = rs384()
    assert verify(token) == verify(token)  # same (client_id, jti): the service refuses the second


def test_an_assertion_a_little_past_exp_passes_within_the_leeway_only() -> None:
    assert verify(rs384(exp=TS - 20, iat=TS - 200)).jti
    assert "expired" in refused(rs384(exp=TS - 31, iat=TS - 200))


def test_exactly_five_minutes_is_allowed() -> None:
    assert verify(rs384(exp=TS + 300, iat=TS)).jti


# --- claims ----------------------------------------------------------------------------

def test_an_expired_assertion_is_refused() -> None:
    assert "expired" in refused(es384(exp=TS - 3600, iat=TS - 3700))


def test_exp_ten_minutes_ahead_is_too_long() -> None:
    assert "too far ahead" in refused(rs384(exp=TS + 600, iat=None))


def test_an_hour_long_assertion_with_a_fresh_exp_is_refused() -> None:
    assert "exp - iat" in refused(rs384(iat=TS - 3600, exp=TS + 60))


@pytest.mark.parametrize(("changes", "words"), [
    ({"iat": TS + 120}, "iat in the future"),
    ({"nbf": TS + 120}, "nbf"),
    ({"exp": None}, "exp missing"),
    ({"exp": str(TS + 60)}, "not a number"),
    ({"exp": True}, "not a number"),
    ({"exp": 10**30}, "out of range"),
    ({"iat": "yesterday"}, "not a number"),
])
def test_bad_times_are_refused(changes: dict[str, Any], words: str) -> None:
    assert words in refused(rs384(**changes))


@pytest.mark.parametrize("jti", [None, "", 42, ["a"], "x" * 256])
def test_a_missing_or_bad_jti_is_refused(jti: object) -> None:
    assert "jti" in refused(rs384(jti=jti))


def test_a_255_character_jti_is_fine() -> None:
    assert len(verify(rs384(jti="j" * 255)).jti) == 255


@pytest.mark.parametrize("aud", ["https://econsult.example.org/fhir",
                                 TOKEN_URL + "/", [], ["https://other"], None, 7,
                                 [TOKEN_URL, 7]])
def test_the_wrong_audience_is_refused(aud: object) -> None:
    assert "aud" in refused(rs384(aud=aud))


def test_iss_and_sub_must_agree() -> None:
    assert "iss and sub" in refused(rs384(sub="someone-else"))
    assert "iss and sub" in refused(rs384(iss="someone-else"))
    assert "iss and sub" in refused(rs384(sub=None))


def test_another_clients_id_is_refused() -> None:
    # A real client signs an assertion naming a different client, hoping keys get mixed up.
    assert "iss and sub" in refused(rs384(iss="emr-other", sub="emr-other"))
    # And this client's valid assertion is no good for another client's verification.
    assert "iss and sub" in refused(rs384(), client_id="emr-other")


# --- keys, algorithms and headers --------------------------------------------------------

def test_a_registered_kid_with_an_unregistered_key_is_refused() -> None:
    assert "signature" in refused(sign(attacker_ec(), "ES384", "ec-2026"))
    assert "signature" in refused(sign(attacker_rsa(), "RS384", "rsa-2026"))


def test_an_unknown_or_missing_kid_is_refused() -> None:
    assert "not registered" in refused(sign(attacker_ec(), "ES384", "attacker"))
    assert "kid missing" in refused(sign(ec_private(), "ES384", None))
    assert "kid missing" in refused(hand_built({"alg": "ES384", "kid": 7}, claims(), b"sig"))


@pytest.mark.parametrize("signature", [b"", b"\x00"])
def test_alg_none_is_refused(signature: bytes) -> None:
    token = hand_built({"alg": "none", "kid": "rsa-2026", "typ": "JWT"}, claims(), signature)
    reason = refused(token)
    assert "not allowed" in reason or "compact JWS" in reason


@pytest.mark.parametrize("alg", ["NONE", "None", "HS384", "RS512", "PS384", "ES512", 7, None])
def test_other_algorithms_are_refused(alg: object) -> None:
    token = hand_built({"alg": alg, "kid": "rsa-2026"}, claims(), b"sig")
    assert "not allowed" in refused(token)


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_hmac_keyed_with_the_public_key_is_refused(encoding: serialization.Encoding) -> None:
    # Algorithm confusion: a verifier that lets the header pick HS256 and hands it the
    # registered "key" would accept an HMAC keyed with the (public!) key's bytes.
    secret = rsa_private().public_key.public_bytes(
        encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384)):
        header = b64(json.dumps({"alg": alg, "kid": "rsa-2026", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims()).encode())
        mac = hmac.new(secret, f"{header}.{body}".encode(), digest).digest()
        assert "not allowed" in refused(f"{header}.{body}.{b64(mac)}")


def test_rs256_by_the_registered_key_is_refused() -> None:
    assert "not allowed" in refused(sign(rsa_private(), "RS256", "rsa-2026"))


def test_an_algorithm_that_does_not_fit_the_named_key_is_refused() -> None:
    # ES384 signature under the RSA key's kid, and RS384 under the EC key's kid.
    assert "does not fit" in refused(sign(ec_private(), "ES384", "rsa-2026"))
    assert "does not fit" in refused(sign(rsa_private(), "RS384", "ec-2026"))


def test_a_jwk_header_carrying_the_attackers_key_is_refused() -> None:
    own = {**attacker_ec().as_dict(private=False), "kid": "attacker"}
    assert "carries" in refused(sign(attacker_ec(), "ES384", "attacker", jwk=own))
    assert "carries" in refused(sign(attacker_ec(), "ES384", "ec-2026", jwk=own))
    # Even a registered key's own signature is refused with key-bearing headers.
    assert "carries" in refused(sign(ec_private(), "ES384", "ec-2026", jwk=own))


@pytest.mark.parametrize(("name", "value"), [
    ("jku", "https://attacker.example/jwks.json"),
    ("x5u", "https://attacker.example/cert.pem"),
    ("x5c", ["MIIB"]),
])
def test_key_locating_headers_are_refused(name: str, value: object) -> None:
    assert "points at a key" in refused(sign(rsa_private(), "RS384", "rsa-2026",
                                             **{name: value}))


def test_crit_and_b64_headers_are_refused() -> None:
    token = hand_built({"alg": "RS384", "kid": "rsa-2026", "crit": ["exp"], "exp": 1},
                       claims(), b"sig")
    assert "crit" in refused(token)
    # RFC 7797 unencoded payload, correctly signed by the registered key: what the signature
    # covers is no longer what the claims parser reads.
    unencoded = jws.serialize_compact({"alg": "ES384", "kid": "ec-2026", "b64": False,
                                       "crit": ["b64"]}, "abc", ec_private(),
                                      algorithms=["ES384"])
    assert "b64" in refused(unencoded)


@pytest.mark.parametrize("typ", ["JOSE", "at+jwt", "dpop+jwt", "ＪＷＴ"])
def test_a_typ_other_than_jwt_is_refused(typ: str) -> None:
    assert "typ" in refused(sign(rsa_private(), "RS384", "rsa-2026", typ=typ))
    assert "typ" in refused(hand_built({"alg": "RS384", "kid": "rsa-2026", "typ": [typ]},
                                       claims(), b"sig"))


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = rs384().split(".")
    longer = b64(json.dumps(claims(exp=TS + 290, jti="fresh")).encode())
    assert "signature" in refused(f"{header}.{longer}.{signature}")


def test_a_tampered_header_or_signature_is_refused() -> None:
    header, body, signature = es384().split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    flipped[10] ^= 1
    assert "signature" in refused(f"{header}.{body}.{b64(bytes(flipped))}")
    assert "signature" in refused(f"{header}.{body}.{signature[:-4]}")
    other_header = b64(json.dumps({"alg": "ES384", "kid": "ec-2026"}).encode())
    assert "signature" in refused(f"{other_header}.{body}.{signature}")


def test_repeated_claims_are_refused_not_resolved() -> None:
    # Signed by the real key: the client (or a library bug) says iss twice; parsers differ
    # on which one wins, so neither does.
    body = json.dumps(claims(iss="emr-other"))[:-1] + f', "iss": "{CLIENT}"}}'
    assert "payload" in refused(signed_raw(body))


@pytest.mark.parametrize("token", ["", "a", "a.b", "a.b.c.d.e", "a..c", ".b.c", "a.b.",
                                   "é.b.c", "a.b.c\n", " a.b.c", "a" * 9000 + ".b.c",
                                   "eyJ9.eyJ9.AA", "W10.W10.AA", "bnVsbA.bnVsbA.AA"])
def test_garbage_is_refused(token: str) -> None:
    refused(token)


def test_a_non_object_payload_is_refused() -> None:
    assert "payload" in refused(signed_raw("[1, 2]"))
    assert "payload" in refused(signed_raw('{"exp": NaN}'))


def test_programming_errors_are_not_dressed_up_as_client_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(rs384(), now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        verify(rs384(), token_url="")


def test_unverified_client_id_is_only_a_lookup_hint() -> None:
    assert unverified_client_id(sign(attacker_ec(), "ES384", "x", claims(iss="anyone"))) == "anyone"
    for bad in ("garbage", sign(ec_private(), "ES384", "ec-2026", claims(iss=None)),
                sign(ec_private(), "ES384", "ec-2026", claims(iss=["a"]))):
        with pytest.raises(InvalidClient):
            unverified_client_id(bad)


# --- nothing but InvalidClient, whatever arrives ------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)
_headers = st.fixed_dictionaries(
    {}, optional={"alg": st.sampled_from(["RS384", "ES384", "ES256", "none", "HS256"]) | _json,
                  "kid": st.sampled_from(["rsa-2026", "ec-2026"]) | _json,
                  "typ": st.just("JWT") | _json, "jwk": _json, "crit": _json, "b64": _json},
)
_claims = st.fixed_dictionaries(
    {}, optional={"iss": st.just(CLIENT) | _json, "sub": st.just(CLIENT) | _json,
                  "aud": st.just(TOKEN_URL) | _json, "jti": _json,
                  "exp": st.integers(TS - 600, TS + 600) | _json, "iat": _json, "nbf": _json},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_only_ever_raises_invalid_client(token: str) -> None:
    with pytest.raises(InvalidClient):
        verify(token)
    with pytest.raises(InvalidClient):
        unverified_client_id(token)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_headers, _claims | _json, st.binary(max_size=520))
def test_structured_junk_only_ever_raises_invalid_client(
    header: dict[str, Any], body: Any, signature: bytes
) -> None:
    token = hand_built(header, json.dumps(body), signature)
    with pytest.raises(InvalidClient):
        verify(token)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_claims)
def test_validly_signed_junk_claims_never_raise_anything_else(body: dict[str, Any]) -> None:
    token = signed_raw(json.dumps(body))
    try:
        verify(token)
    except InvalidClient:
        return
    # Only a complete, correct claim set may pass.
    assert body["iss"] == body["sub"] == CLIENT and isinstance(body["jti"], str)
