"""A software WebAuthn authenticator (EC P-256, "none" attestation) for unit tests.

It builds what a browser and a security key would send back for the options the
server produced: clientDataJSON, authenticator data, a CBOR attestation object, and
ECDSA assertions over authenticatorData || SHA-256(clientDataJSON). Every field an
attacker controls can be overridden, so tests can play the attacker without
mocking the library under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
# An arbitrary non-zero AAGUID, so tests can see it carried through.
SOFT_AAGUID = bytes.fromhex("5eb1e2d3c4b5a6978877665544332211")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cose_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    numbers = key.public_key().public_numbers()
    # COSE_Key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y (RFC 9053).
    return cbor2.dumps({1: 2, 3: -7, -1: 1,
                        -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftCredential:
    """One credential held by the authenticator: its id, private key and counter."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """Answers options JSON as ``navigator.credentials`` would on `origin`.

    `counter_step` is how much the signature counter moves per use; 0 behaves like
    a synced passkey, which keeps no counter."""

    origin: str
    counter_step: int = 1
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None,
               challenge: bytes | None = None, client_data_type: str = "webauthn.create",
               cross_origin: bool = False, transports: tuple[str, ...] = ("usb", "nfc"),
               cose_key: bytes | None = None) -> tuple[str, SoftCredential]:
        """A registration response for `options_json`, and the credential made."""
        options = json.loads(options_json)
        rp = rp_id if rp_id is not None else options["rp"]["id"]
        credential = SoftCredential(
            credential_id=secrets.token_bytes(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
        )
        credential.sign_count += self.counter_step
        client_data = self._client_data(
            client_data_type, challenge or unb64url(options["challenge"]), origin, cross_origin)
        public_key = cose_key or _cose_public_key(credential.private_key)
        attested = (SOFT_AAGUID + struct.pack(">H", len(credential.credential_id))
                    + credential.credential_id + public_key)
        auth_data = self._auth_data(rp, UP | UV | AT, credential.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(credential)
        response = {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": list(transports),
            },
            "clientExtensionResults": {},
        }
        return json.dumps(response), credential

    def get(self, options_json: str, credential: SoftCredential | None = None, *,
            origin: str | None = None, rp_id: str | None = None, challenge: bytes | None = None,
            signing_key: ec.EllipticCurvePrivateKey | None = None,
            sign_count: int | None = None, cross_origin: bool = False,
            user_handle: bytes | None = None) -> str:
        """An assertion for `options_json` by `credential` (default: the first one
        the options allow that this authenticator holds)."""
        options = json.loads(options_json)
        chosen = credential or self._allowed(options)
        if sign_count is None:
            chosen.sign_count += self.counter_step
            sign_count = chosen.sign_count
        client_data = self._client_data(
            "webauthn.get", challenge or unb64url(options["challenge"]), origin, cross_origin)
        auth_data = self._auth_data(rp_id if rp_id is not None else options["rpId"],
                                    UP | UV, sign_count)
        key = signing_key or chosen.private_key
        signature = key.sign(auth_data + hashlib.sha256(client_data).digest(),
                             ec.ECDSA(hashes.SHA256()))
        response = {
            "id": b64url(chosen.credential_id),
            "rawId": b64url(chosen.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle or chosen.user_handle),
            },
            "clientExtensionResults": {},
        }
        return json.dumps(response)

    def _allowed(self, options: dict[str, Any]) -> SoftCredential:
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials", [])}
        for credential in self.credentials:
            if credential.credential_id in allowed:
                return credential
        raise LookupError("this authenticator holds none of the allowed credentials")

    def _client_data(self, kind: str, challenge: bytes, origin: str | None,
                     cross_origin: bool) -> bytes:
        return json.dumps({
            "type": kind,
            "challenge": b64url(challenge),
            "origin": origin if origin is not None else self.origin,
            "crossOrigin": cross_origin,
        }, separators=(",", ":")).encode()

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(
            ">I", sign_count)


def tamper(response_json: str, part: str, change: Any) -> str:
    """`response_json` with one base64url field of its response rewritten by
    `change` (bytes -> bytes), keeping everything else, signature included."""
    doc = json.loads(response_json)
    doc["response"][part] = b64url(change(unb64url(doc["response"][part])))
    return json.dumps(doc)
