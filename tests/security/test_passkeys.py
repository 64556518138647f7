"""Passkeys from the attacker's side, through py_webauthn for real.

A software authenticator (soft_authenticator.py) signs genuine responses; each test
bends one thing an attacker controls and expects the one domain error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from econsult.errors import InvalidInput
from econsult.security import passkeys
from econsult.security.mfa_errors import MfaFailed, PasskeyCloned
from econsult.security.passkeys import NewPasskey, PasskeyRef
from tests.security.soft_authenticator import (
    SOFT_AAGUID,
    SoftAuthenticator,
    SoftCredential,
    b64url,
    tamper,
    unb64url,
)

ORIGIN = "https://econsult.example.org"
RP_ID = "econsult.example.org"
REGISTRATION_FAILED = "The passkey could not be registered. Try again, or use another method."
AUTHENTICATION_FAILED = "The passkey could not be verified. Try again, or use another method."


@dataclass
class Enrolled:
    authenticator: SoftAuthenticator
    credential: SoftCredential
    passkey: NewPasskey
    user_handle: bytes


def register(authenticator: SoftAuthenticator | None = None) -> Enrolled:
    authenticator = authenticator or SoftAuthenticator(origin=ORIGIN)
    handle = passkeys.new_user_handle()
    options, challenge = passkeys.registration_options(
        rp_id=RP_ID, user_handle=handle, user_name="dr.lee@clinic.example",
        display_name="Dr Lee")
    response, credential = authenticator.create(options)
    passkey = passkeys.verify_registration(
        response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN)
    return Enrolled(authenticator, credential, passkey, handle)


def login_options(enrolled: Enrolled) -> tuple[str, bytes]:
    ref = PasskeyRef(enrolled.passkey.credential_id, enrolled.passkey.transports)
    return passkeys.authentication_options(rp_id=RP_ID, allowed=[ref])


def verify_login(enrolled: Enrolled, response: str, challenge: bytes, *,
                 sign_count: int | None = None) -> int:
    return passkeys.verify_authentication(
        response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
        public_key=enrolled.passkey.public_key,
        current_sign_count=enrolled.passkey.sign_count if sign_count is None else sign_count,
        user_handle=enrolled.user_handle)


def refused_registration(response: str, challenge: bytes, *, origin: str = ORIGIN,
                         rp_id: str = RP_ID) -> MfaFailed:
    with pytest.raises(MfaFailed) as caught:
        passkeys.verify_registration(response, challenge=challenge, rp_id=rp_id, origin=origin)
    assert caught.value.message == REGISTRATION_FAILED and caught.value.code == "passkey_failed"
    return caught.value


def refused_login(enrolled: Enrolled, response: str, challenge: bytes, *,
                  sign_count: int | None = None) -> None:
    with pytest.raises(MfaFailed) as caught:
        verify_login(enrolled, response, challenge, sign_count=sign_count)
    assert type(caught.value) is MfaFailed
    assert caught.value.message == AUTHENTICATION_FAILED and caught.value.code == "passkey_failed"


# --- relying party -----------------------------------------------------------------


@pytest.mark.parametrize(("url", "rp_id"), [
    ("https://econsult.example.org", "econsult.example.org"),
    ("https://EConsult.Example.org:8443/", "econsult.example.org"),
    ("http://localhost:8000", "localhost"),
    ("http://econsult.localhost:8000", "econsult.localhost"),
])
def test_rp_id_is_the_sites_host(url: str, rp_id: str) -> None:
    assert passkeys.rp_id_for(url) == rp_id


@pytest.mark.parametrize("url", [
    "http://econsult.example.org", "https://127.0.0.1:8000", "http://[::1]:8000",
    "ftp://econsult.example.org", "econsult.example.org", "",
])
def test_rp_id_refuses_what_browsers_refuse(url: str) -> None:
    with pytest.raises(ValueError):
        passkeys.rp_id_for(url)


# --- registration ------------------------------------------------------------------


def test_registration_options() -> None:
    existing = (PasskeyRef(b"\x01" * 16, ("usb", "nfc")), PasskeyRef(b"\x02" * 16, ("smoke",)))
    handle = passkeys.new_user_handle()
    options_json, challenge = passkeys.registration_options(
        rp_id=RP_ID, user_handle=handle, user_name="dr.lee@clinic.example",
        display_name="Dr Lee", existing=existing)
    options = json.loads(options_json)
    assert options["rp"] == {"id": RP_ID, "name": "econsult"}
    assert options["user"] == {"id": b64url(handle), "name": "dr.lee@clinic.example",
                               "displayName": "Dr Lee"}
    assert unb64url(options["challenge"]) == challenge and len(challenge) >= 16
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert {p["alg"] for p in options["pubKeyCredParams"]} == {-7, -8, -257}
    assert options["excludeCredentials"] == [
        {"id": b64url(b"\x01" * 16), "type": "public-key", "transports": ["usb", "nfc"]},
        {"id": b64url(b"\x02" * 16), "type": "public-key"},  # unknown transport dropped
    ]


def test_each_ceremony_gets_a_fresh_challenge_and_each_user_a_random_handle() -> None:
    challenges = {passkeys.registration_options(rp_id=RP_ID, user_handle=b"h" * 32,
                                                user_name="u", display_name="U")[1]
                  for _ in range(20)}
    assert len(challenges) == 20
    assert len({passkeys.new_user_handle() for _ in range(20)}) == 20


def test_valid_registration() -> None:
    enrolled = register()
    assert enrolled.passkey.credential_id == enrolled.credential.credential_id
    assert enrolled.passkey.sign_count == 1
    assert enrolled.passkey.transports == ("usb", "nfc")
    assert enrolled.passkey.aaguid == "5eb1e2d3-c4b5-a697-8877-665544332211"
    assert SOFT_AAGUID.hex() == enrolled.passkey.aaguid.replace("-", "")
    assert enrolled.credential.user_handle == enrolled.user_handle


def _create(**kw: Any) -> tuple[str, bytes]:
    options, challenge = passkeys.registration_options(
        rp_id=RP_ID, user_handle=b"h" * 32, user_name="u", display_name="U")
    response, _ = SoftAuthenticator(origin=ORIGIN).create(options, **kw)
    return response, challenge


def test_registration_on_another_origin_refused() -> None:
    response, challenge = _create(origin="https://econsult.example.org.evil.example")
    error = refused_registration(response, challenge)
    assert "evil" not in str(error)  # the library's reason stays out of the message
    assert error.__cause__ is not None


def test_registration_for_another_rp_id_refused() -> None:
    response, challenge = _create(rp_id="evil.example")
    refused_registration(response, challenge)


def test_registration_answering_another_challenge_refused() -> None:
    stale, _ = _create()
    _, current = passkeys.registration_options(
        rp_id=RP_ID, user_handle=b"h" * 32, user_name="u", display_name="U")
    refused_registration(stale, current)


def test_an_assertion_offered_as_a_registration_refused() -> None:
    response, challenge = _create(client_data_type="webauthn.get")
    refused_registration(response, challenge)


def test_registration_in_a_cross_origin_frame_refused() -> None:
    response, challenge = _create(cross_origin=True)
    refused_registration(response, challenge)


def test_registration_with_a_key_off_its_curve_refused() -> None:
    bogus = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: b"\x00" * 32, -3: b"\x00" * 32})
    response, challenge = _create(cose_key=bogus)
    refused_registration(response, challenge)


def test_registration_with_an_unoffered_algorithm_refused() -> None:
    es512 = cbor2.dumps({1: 2, 3: -36, -1: 1, -2: b"\x01" * 32, -3: b"\x01" * 32})
    response, challenge = _create(cose_key=es512)
    refused_registration(response, challenge)


def test_tampered_registration_client_data_refused() -> None:
    response, challenge = _create()
    forged = tamper(response, "clientDataJSON",
                    lambda b: b.replace(b'"webauthn.create"', b'"webauthn.create.x"'))
    refused_registration(forged, challenge)


@pytest.mark.parametrize("garbage", [
    "", "not json", "[]", "{}", "null", json.dumps({"id": "a", "rawId": "a", "type": "public-key",
                                                    "response": {"clientDataJSON": "!!",
                                                                 "attestationObject": "!!"}}),
    "x" * (passkeys.MAX_RESPONSE_CHARS + 1),
])
def test_malformed_registration_refused(garbage: str) -> None:
    refused_registration(garbage, b"c" * 32)


def test_attestation_object_garbage_refused() -> None:
    response, challenge = _create()
    for change in (lambda b: b[:40], lambda b: b"\xff" + b[1:], lambda b: cbor2.dumps([1, 2])):
        refused_registration(tamper(response, "attestationObject", change), challenge)


# --- login -------------------------------------------------------------------------


def test_valid_login_returns_the_new_sign_count() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    allowed = json.loads(options)["allowCredentials"]
    assert allowed == [{"id": b64url(enrolled.passkey.credential_id), "type": "public-key",
                        "transports": ["usb", "nfc"]}]
    response = enrolled.authenticator.get(options)
    assert passkeys.credential_id_of(response) == enrolled.passkey.credential_id
    assert verify_login(enrolled, response, challenge) == 2


def test_synced_passkey_without_a_counter_logs_in_every_time() -> None:
    enrolled = register(SoftAuthenticator(origin=ORIGIN, counter_step=0))
    assert enrolled.passkey.sign_count == 0
    for _ in range(3):
        options, challenge = login_options(enrolled)
        assert verify_login(enrolled, enrolled.authenticator.get(options), challenge) == 0


def test_login_options_need_the_users_passkeys() -> None:
    with pytest.raises(ValueError):
        passkeys.authentication_options(rp_id=RP_ID, allowed=[])


def test_login_on_another_origin_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options, origin="https://phish.example")
    refused_login(enrolled, response, challenge)


def test_login_for_another_rp_id_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options, rp_id="phish.example")
    refused_login(enrolled, response, challenge)


def test_replayed_login_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    captured = enrolled.authenticator.get(options)
    assert verify_login(enrolled, captured, challenge) == 2
    # The next login issues a new challenge; the captured response answers the old one.
    _, next_challenge = login_options(enrolled)
    refused_login(enrolled, captured, next_challenge, sign_count=2)


def test_a_registration_response_offered_as_a_login_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    registration, _ = enrolled.authenticator.create(
        json.dumps({"rp": {"id": RP_ID}, "user": {"id": b64url(b"u")},
                    "challenge": b64url(challenge)}))
    refused_login(enrolled, registration, challenge)


def test_signature_by_another_key_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options, signing_key=ec.generate_private_key(
        ec.SECP256R1()))
    refused_login(enrolled, response, challenge)


def test_another_users_passkey_refused() -> None:
    victim, attacker = register(), register()
    options, challenge = login_options(victim)
    # The attacker's own, valid passkey, presented under the victim's stored key.
    response = attacker.authenticator.get(options, attacker.credential)
    refused_login(victim, response, challenge)


def test_user_handle_of_another_account_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options, user_handle=b"x" * 32)
    refused_login(enrolled, response, challenge)


@pytest.mark.parametrize(("stored", "returned"), [(5, 3), (5, 5), (5, 0), (1, 1)])
def test_sign_count_that_did_not_advance_is_a_clone(stored: int, returned: int) -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options, sign_count=returned)
    with pytest.raises(PasskeyCloned) as caught:
        verify_login(enrolled, response, challenge, sign_count=stored)
    assert caught.value.code == "passkey_cloned" and "copied" in caught.value.message


def test_counter_is_judged_only_after_the_signature() -> None:
    # A forged response with a low counter is a failed login, not a clone alarm an
    # attacker could raise against someone else's passkey.
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(
        options, sign_count=0, signing_key=ec.generate_private_key(ec.SECP256R1()))
    refused_login(enrolled, response, challenge, sign_count=5)


def test_tampered_client_data_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options)
    # Still the right type, challenge and origin: only the signature can tell.
    forged = tamper(response, "clientDataJSON", lambda b: b[:-1] + b',"extra":1}')
    refused_login(enrolled, forged, challenge)


def test_tampered_authenticator_data_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options)
    raised_counter = tamper(response, "authenticatorData",
                            lambda b: b[:33] + (10**6).to_bytes(4, "big"))
    refused_login(enrolled, raised_counter, challenge)


def test_login_in_a_cross_origin_frame_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    refused_login(enrolled, enrolled.authenticator.get(options, cross_origin=True), challenge)


def test_id_and_raw_id_that_disagree_refused() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    doc = json.loads(enrolled.authenticator.get(options))
    doc["id"] = b64url(b"someone else")
    refused_login(enrolled, json.dumps(doc), challenge)


@pytest.mark.parametrize("garbage", [
    "", "not json", "{}", '{"id": "a", "rawId": "a", "type": "public-key", "response": {}}',
    "x" * (passkeys.MAX_RESPONSE_CHARS + 1),
])
def test_malformed_login_refused(garbage: str) -> None:
    enrolled = register()
    _, challenge = login_options(enrolled)
    refused_login(enrolled, garbage, challenge)
    with pytest.raises(MfaFailed):
        passkeys.credential_id_of(garbage)


def test_a_damaged_stored_key_refuses_rather_than_crashes() -> None:
    enrolled = register()
    options, challenge = login_options(enrolled)
    response = enrolled.authenticator.get(options)
    with pytest.raises(MfaFailed):
        passkeys.verify_authentication(
            response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
            public_key=enrolled.passkey.public_key[:20], current_sign_count=1)


def test_failures_are_invalid_input_for_the_web_layer() -> None:
    assert issubclass(MfaFailed, InvalidInput) and issubclass(PasskeyCloned, MfaFailed)
