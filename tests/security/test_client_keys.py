"""Registering an API client's JWKS: what an admin (or an attacker posing as a vendor) can paste."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey

from econsult.errors import InvalidInput
from econsult.security.client_keys import MAX_JWKS_BYTES, PublicKeySet, parse_jwks


@cache
def rsa_key(bits: int = 3072) -> RSAKey:
    return RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def weak_rsa_jwk(kid: str, *, bits: int = 2048, exponent: int = 65537) -> dict[str, Any]:
    # Built by hand: joserfc warns about (and so, under filterwarnings=error, will not
    # import) the weak keys an attacker would paste.
    numbers = rsa.generate_private_key(public_exponent=exponent, key_size=bits).public_key()
    n, e = numbers.public_numbers().n, numbers.public_numbers().e
    return {"kty": "RSA", "kid": kid, "n": b64url(n), "e": b64url(e)}


def b64url(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@cache
def ec_key(curve: str = "P-384") -> ECKey:
    curves: dict[str, ec.EllipticCurve] = {
        "P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()
    }
    return ECKey.import_key(ec.generate_private_key(curves[curve]))


def public(key: RSAKey | ECKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, **extra}


def jwks(*keys: dict[str, Any]) -> str:
    return json.dumps({"keys": list(keys)})


def refused(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_jwks(text)
    assert info.value.code == "invalid_jwks"
    assert info.value.field == "jwks"
    return info.value.message


def test_rsa_and_ec_public_keys_are_accepted_and_typed() -> None:
    keys = parse_jwks(jwks(public(rsa_key(), "rsa-1"), public(ec_key(), "ec-1"),
                           public(ec_key("P-256"), "ec-2")))
    assert keys.kids == ("ec-1", "ec-2", "rsa-1")
    rsa_entry, ec_entry = keys.get("rsa-1"), keys.get("ec-1")
    assert rsa_entry is not None and ec_entry is not None
    assert (rsa_entry.kty, rsa_entry.alg, rsa_entry.bits) == ("RSA", "RS384", 3072)
    assert (ec_entry.kty, ec_entry.alg, ec_entry.bits) == ("EC", "ES384", 384)
    assert keys.get("ec-2") is not None and keys.get("ec-2").alg == "ES256"  # type: ignore[union-attr]
    assert keys.get("nope") is None
    assert not any(ck.key.is_private for ck in keys)


def test_canonical_json_round_trips_and_ignores_order_and_extras() -> None:
    a = public(rsa_key(), "rsa-1", x5t="ignored-hint")
    b = public(ec_key(), "ec-1", use="sig", key_ops=["verify"])
    one = parse_jwks(jwks(a, b))
    two = parse_jwks(json.dumps({"keys": [b, a]}, indent=4))
    assert one.to_json() == two.to_json()
    assert parse_jwks(one.to_json()) == one
    stored = json.loads(one.to_json())
    assert "x5t" not in stored["keys"][1] and "key_ops" not in stored["keys"][0]
    assert isinstance(one, PublicKeySet) and len(one) == 2


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_a_private_rsa_key_is_refused_with_a_rotate_hint(member: str) -> None:
    private = {**rsa_key().as_dict(private=True), "kid": "leaked"}
    only_one = {k: v for k, v in private.items() if k in {"kty", "n", "e", "kid", member}}
    message = refused(jwks(only_one))
    assert member in message and "compromised" in message


def test_a_private_ec_key_is_refused() -> None:
    message = refused(jwks({**ec_key().as_dict(private=True), "kid": "leaked"}))
    assert "private key material (d)" in message


def test_a_symmetric_key_is_refused() -> None:
    message = refused(jwks({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}))
    assert "symmetric" in message


def test_an_oct_looking_key_without_k_is_still_refused() -> None:
    assert "symmetric" in refused(jwks({"kty": "oct", "kid": "x"}))


@pytest.mark.parametrize("bits", [1024, 2040])
def test_small_rsa_keys_are_refused(bits: int) -> None:
    message = refused(jwks(weak_rsa_jwk("small", bits=bits)))
    assert f"{bits}-bit" in message and "2048" in message


def test_a_2048_bit_rsa_key_is_the_minimum() -> None:
    assert parse_jwks(jwks(weak_rsa_jwk("ok"))).kids == ("ok",)


def test_a_small_rsa_exponent_is_refused() -> None:
    assert "exponent" in refused(jwks(weak_rsa_jwk("e3", exponent=3)))


def test_an_rsa_modulus_that_is_not_base64url_is_refused() -> None:
    entry = weak_rsa_jwk("k")
    entry["n"] = "+/" + entry["n"]
    assert "base64url" in refused(jwks(entry))


def test_a_huge_rsa_key_is_refused() -> None:
    entry = weak_rsa_jwk("k")
    entry["n"] = b64url(2**9000 + 1)
    assert "at most 8192" in refused(jwks(entry))


@pytest.mark.parametrize(("kty", "crv"), [("OKP", "Ed25519"), ("EC", "P-521"), ("EC", "secp256k1"),
                                          ("RSA-PSS", None), (None, None)])
def test_unknown_key_types_and_curves_are_refused(kty: str | None, crv: str | None) -> None:
    if kty == "EC" and crv == "P-521":
        entry = public(ec_key("P-521"), "k")
    else:
        entry = {"kid": "k", "x": "AAAA", "y": "AAAA"}
        if kty is not None:
            entry["kty"] = kty
        if crv is not None:
            entry["crv"] = crv
    message = refused(jwks(entry))
    assert "accepted" in message


def test_a_point_off_the_curve_is_refused() -> None:
    entry = public(ec_key(), "bad")
    entry["y"] = entry["x"]
    assert "curve" in refused(jwks(entry))


def test_missing_members_are_named() -> None:
    entry = public(rsa_key(), "r")
    del entry["n"]
    assert '"n"' in refused(jwks(entry))


def test_duplicate_kids_are_refused() -> None:
    assert "share the kid" in refused(jwks(public(rsa_key(), "same"), public(ec_key(), "same")))


@pytest.mark.parametrize("kid", [None, "", "   ", 7, "x" * 129, "tab\there"])
def test_missing_or_bad_kids_are_refused(kid: object) -> None:
    entry = public(ec_key(), "placeholder")
    if kid is None:
        del entry["kid"]
    else:
        entry["kid"] = kid
    assert "kid" in refused(jwks(entry))


def test_more_than_ten_keys_are_refused() -> None:
    entries = [public(ec_key(), f"k{i}") for i in range(11)]
    assert "at most 10" in refused(jwks(*entries))
    assert len(parse_jwks(jwks(*entries[:10]))) == 10


def test_a_document_over_64_kib_is_refused_before_parsing() -> None:
    text = jwks(public(ec_key(), "k"))[:-1] + ', "padding": "' + "x" * MAX_JWKS_BYTES + '"}'
    assert "64 KiB" in refused(text)


@pytest.mark.parametrize("text", ["", "not json", "[]", "{}", '{"keys": []}', '{"keys": {}}',
                                  '{"keys": [1]}', "[" * 50_000, '{"keys": [NaN]}'])
def test_malformed_documents_are_refused(text: str) -> None:
    refused(text)


def test_a_single_jwk_gets_a_wrapping_hint() -> None:
    assert "wrap it" in refused(json.dumps(public(ec_key(), "k")))


def test_a_repeated_member_is_refused_not_resolved() -> None:
    entry = json.dumps(public(ec_key(), "k"))
    text = '{"keys": [' + entry[:-1] + ', "kid": "other"}]}'
    assert "repeats the member 'kid'" in refused(text)


@pytest.mark.parametrize(("extra", "words"), [
    ({"use": "enc"}, '"sig"'),
    ({"key_ops": ["encrypt"]}, "verify"),
    ({"key_ops": "verify"}, "verify"),
    ({"alg": "RS256"}, "RS384"),
    ({"alg": "HS256"}, "RS384"),
])
def test_keys_declared_for_another_purpose_are_refused(extra: dict[str, Any], words: str) -> None:
    assert words in refused(jwks(public(rsa_key(), "k", **extra)))


def test_an_ec_key_declaring_the_wrong_curve_algorithm_is_refused() -> None:
    assert "ES256" in refused(jwks(public(ec_key("P-256"), "k", alg="ES384")))


def test_non_string_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_jwks(b'{"keys": []}')  # type: ignore[arg-type]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)
_member = st.sampled_from(["kty", "kid", "crv", "x", "y", "n", "e", "d", "k", "use", "alg",
                           "key_ops"])
_jwk_like = st.dictionaries(_member, st.sampled_from(["RSA", "EC", "oct", "P-384", "AQAB"])
                            | _json, max_size=8)


@given(st.text(max_size=200) | st.builds(lambda keys: json.dumps({"keys": keys}),
                                         st.lists(_jwk_like, max_size=3)))
def test_anything_pasted_is_parsed_or_refused_with_invalid_input(text: str) -> None:
    try:
        keys = parse_jwks(text)
    except InvalidInput as error:
        assert error.code == "invalid_jwks"
        return
    assert parse_jwks(keys.to_json()) == keys
