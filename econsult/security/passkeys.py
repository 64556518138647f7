"""WebAuthn passkeys as a second factor, over py_webauthn.

Typed helpers for the two ceremonies. Each `*_options` call returns the JSON for
``navigator.credentials.create/get`` and the challenge, which the caller keeps
server-side (in the pending session, with an expiry of `TIMEOUT`) and hands to the
matching `verify_*` exactly once: popped before verifying, whatever the outcome, so
a response can never be replayed against it.

`rp_id` and `origin` come from the site's configured public URL (`rp_id_for`), never
from request headers, which the client controls.

Anything the library (or cbor2, or cryptography beneath it) raises on a hostile or
broken response becomes `MfaFailed` with a sentence a person can act on; the
library's reason is kept as ``__cause__`` for the log only.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from econsult.security.mfa_errors import MfaFailed, PasskeyCloned

RP_NAME = "econsult"
TIMEOUT = timedelta(minutes=3)
CHALLENGE_BYTES = 32
USER_HANDLE_BYTES = 32
# WebAuthn Level 3 §7.1 step 19: longer credential ids must be refused.
MAX_CREDENTIAL_ID_BYTES = 1023
# A real response is a few kilobytes; refuse anything far larger before parsing it.
MAX_RESPONSE_CHARS = 64 * 1024
# Every authenticator in use offers one of these; the list is given on both sides so
# the options offered and the keys accepted cannot drift apart.
_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]

_REGISTRATION_FAILED = "The passkey could not be registered. Try again, or use another method."
_AUTHENTICATION_FAILED = "The passkey could not be verified. Try again, or use another method."
_CLONED = ("This passkey's use counter went backwards, which can mean it was copied, so it "
           "was not accepted. Use another method and tell your administrator.")


@dataclass(frozen=True)
class PasskeyRef:
    """A stored passkey as the options need it: its id and how the browser reaches it."""

    credential_id: bytes
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewPasskey:
    """What to store after a registration. `public_key` is a COSE key: public, but
    stored with integrity (a swapped key would let another authenticator in)."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str


def new_user_handle() -> bytes:
    """The WebAuthn user id for one account: random, never the email or the row id (it
    is stored on the authenticator and returned to whoever uses it). Made once per
    user and reused for every passkey, so re-registering replaces, not duplicates."""
    return secrets.token_bytes(USER_HANDLE_BYTES)


def rp_id_for(public_url: str) -> str:
    """The relying-party id for the site at `public_url`: its host name.

    Browsers refuse IP addresses as RP ids and allow plain http only on localhost, so
    a configuration that cannot work says so here, at start-up, not in a browser."""
    parts = urlsplit(public_url)
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{public_url!r} is not an http(s) URL")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError("passkeys need a host name, not an IP address (use localhost locally)")
    local = host == "localhost" or host.endswith(".localhost")
    if parts.scheme == "http" and not local:
        raise ValueError("passkeys need https except on localhost")
    return host


def registration_options(
    *, rp_id: str, user_handle: bytes, user_name: str, display_name: str,
    existing: Sequence[PasskeyRef] = (),
) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create`` and their challenge.

    `existing` (the user's passkeys) become excludeCredentials, so an authenticator
    that already holds one says so instead of making a second."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=_milliseconds(TIMEOUT),
        # Attestation would identify the make of authenticator, which we have no use
        # for and which browsers ask the person about; "none" asks nothing.
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
        supported_pub_key_algs=_ALGORITHMS,
    )
    return options_to_json(options), challenge


def verify_registration(
    credential_json: str, *, challenge: bytes, rp_id: str, origin: str
) -> NewPasskey:
    """Check a ``navigator.credentials.create`` response against the challenge issued."""
    _check_size(credential_json, _REGISTRATION_FAILED)
    with _refusing(_REGISTRATION_FAILED):
        credential = parse_registration_credential_json(credential_json)
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_presence=True,
            supported_pub_key_algs=_ALGORITHMS,
        )
        cross_origin = parse_client_data_json(credential.response.client_data_json).cross_origin
        # The library checks the key's algorithm but not that the key is usable (an EC
        # point off its curve passes); a key that could never verify is refused now
        # rather than stored and failing at every login.
        decoded_public_key_to_cryptography(
            decode_credential_public_key(verified.credential_public_key))
    if cross_origin or len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise MfaFailed(_REGISTRATION_FAILED, code="passkey_failed")
    transports = tuple(t.value for t in credential.response.transports or ())
    return NewPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        aaguid=verified.aaguid,
    )


def authentication_options(*, rp_id: str, allowed: Sequence[PasskeyRef]) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get`` limited to this user's passkeys.

    The password has already named the user, so an empty list (which would let the
    browser offer any passkey for the site) is a caller's mistake, not a choice."""
    if not allowed:
        raise ValueError("allowed must name the user's passkeys")
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=_milliseconds(TIMEOUT),
        allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), challenge


def credential_id_of(credential_json: str) -> bytes:
    """The credential id a ``navigator.credentials.get`` response claims, to look up
    the stored public key with. Unverified: look it up among the pending user's own
    passkeys only, then `verify_authentication` proves possession."""
    _check_size(credential_json, _AUTHENTICATION_FAILED)
    with _refusing(_AUTHENTICATION_FAILED):
        return parse_authentication_credential_json(credential_json).raw_id


def verify_authentication(
    credential_json: str, *, challenge: bytes, rp_id: str, origin: str, public_key: bytes,
    current_sign_count: int, user_handle: bytes | None = None,
) -> int:
    """Check a ``navigator.credentials.get`` response; returns the sign count to store.

    The counter rule (WebAuthn §7.2 step 21) is applied here rather than by the
    library, after the signature: a count that did not advance is then known to come
    from the real key, and is answered with `PasskeyCloned`, not a generic failure.
    Authenticators that keep no counter (most synced passkeys) report 0 every time,
    which is allowed while the stored count is 0 too."""
    _check_size(credential_json, _AUTHENTICATION_FAILED)
    with _refusing(_AUTHENTICATION_FAILED):
        credential = parse_authentication_credential_json(credential_json)
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            # 0 turns the library's own counter check off; ours follows.
            credential_current_sign_count=0,
        )
        cross_origin = parse_client_data_json(credential.response.client_data_json).cross_origin
    returned_handle = credential.response.user_handle
    wrong_user = (user_handle is not None and returned_handle is not None
                  and not hmac.compare_digest(user_handle, returned_handle))
    if cross_origin or wrong_user:
        raise MfaFailed(_AUTHENTICATION_FAILED, code="passkey_failed")
    new_count = verified.new_sign_count
    if (new_count > 0 or current_sign_count > 0) and new_count <= current_sign_count:
        raise PasskeyCloned(_CLONED)
    return new_count


def _descriptors(passkeys: Sequence[PasskeyRef]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=p.credential_id, transports=_transports(p.transports))
        for p in passkeys
    ]


def _transports(names: Sequence[str]) -> list[AuthenticatorTransport] | None:
    # A name this library version does not know is left out rather than failing the
    # ceremony: transports are only a hint to the browser.
    known = {t.value: t for t in AuthenticatorTransport}
    found = [known[n] for n in names if n in known]
    return found or None


def _milliseconds(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _check_size(credential_json: str, message: str) -> None:
    if len(credential_json) > MAX_RESPONSE_CHARS:
        raise MfaFailed(message, code="passkey_failed")


@contextmanager
def _refusing(message: str) -> Iterator[None]:
    """Turn whatever verification raises into MfaFailed.

    Deliberately broad: on hostile input the library raises its own errors, but also
    ValueError, KeyError, TypeError from cbor2, base64 and cryptography, and which
    ones changes between versions. Any of them means "not verified"."""
    try:
        yield
    except MfaFailed:
        raise
    except Exception as exc:
        raise MfaFailed(message, code="passkey_failed") from exc
