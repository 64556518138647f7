"""Envelope encryption of image blobs: a random data key per blob, wrapped by a KEK.

Blob layout (all integers big-endian):

    magic       6 bytes   b"ECIMG\\x00"
    version     1 byte    1
    kek_id     16 bytes   ASCII hex id of the KEK that wrapped the data key
    wrapped_len 2 bytes
    wrapped     wrapped_len bytes   Keyring.wrap output (its own nonce + key + tag)
    nonce      12 bytes
    body        rest      AES-256-GCM ciphertext + 16-byte tag

Both the wrapped key and the body are authenticated with associated data naming the
image id and kind ("original" | "thumbnail", or "attachment" for a PDF attachment,
sealed the same way under its own id), so a blob copied onto another image's key, a
thumbnail served as the original, or an image served as an attachment, fails to open.
The body's associated data also covers the magic and version. The KEK id and wrapped
key are deliberately *not* in the body's associated data: key rotation replaces them
(rewrap_blob_header) without touching the body, and they are authenticated by the key wrap itself.

The header holds only ids, random bytes and ciphertext: no image magic, no plaintext.
"""

from __future__ import annotations

import os
import uuid
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from econsult.security.keyring import (
    KEK_ID_LENGTH,
    KEY_BYTES,
    NONCE_BYTES,
    IntegrityError,
    Keyring,
    KeyringError,
)

MAGIC = b"ECIMG\x00"
VERSION = 1
Kind = Literal["original", "thumbnail", "attachment"]
KINDS: tuple[str, ...] = ("original", "thumbnail")  # the blobs of one image
ATTACHMENT_KIND: Kind = "attachment"  # the one blob of a PDF attachment
_SEALED_KINDS = (*KINDS, ATTACHMENT_KIND)
_TAG_BYTES = 16
_PREFIX = len(MAGIC) + 1 + KEK_ID_LENGTH + 2


class ImageIntegrityError(IntegrityError):
    """The blob cannot be opened: altered, swapped, truncated, or sealed under an unknown KEK."""


def seal_image(keyring: Keyring, image_id: uuid.UUID, kind: Kind, plaintext: bytes) -> bytes:
    context = _context(image_id, kind)
    data_key = os.urandom(KEY_BYTES)
    kek_id, wrapped = keyring.wrap(data_key, context)
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(data_key).encrypt(nonce, plaintext, _body_aad(context))
    return _header(kek_id, wrapped) + nonce + body


def open_image(keyring: Keyring, image_id: uuid.UUID, kind: Kind, blob: bytes) -> bytes:
    context = _context(image_id, kind)
    kek_id, wrapped, nonce, body = _parse(blob)
    try:
        data_key = keyring.unwrap(kek_id, wrapped, context)
    except KeyringError as exc:
        raise _unwrap_error(image_id, kind, kek_id, exc) from None
    try:
        return AESGCM(data_key).decrypt(nonce, body, _body_aad(context))
    except InvalidTag:
        raise ImageIntegrityError(
            f"image {image_id} ({kind}) failed its integrity check: "
            "the file was altered or belongs to another image"
        ) from None


def blob_kek_id(blob: bytes) -> str:
    """The id of the KEK wrapping this blob's data key (for rotation and `keys retire`)."""
    return _parse(blob)[0]


def rewrap_blob_header(keyring: Keyring, image_id: uuid.UUID, kind: Kind, blob: bytes) -> bytes:
    """Re-wrap the data key under the active KEK; the body bytes are kept as they are.

    Returns `blob` unchanged (the same object) when it is already under the active KEK,
    so callers can skip the write with an `is` check.
    """
    kek_id, wrapped, _, _ = _parse(blob)
    if kek_id == keyring.active_id:
        return blob
    context = _context(image_id, kind)
    try:
        new_id, new_wrapped = keyring.rewrap(kek_id, wrapped, context)
    except KeyringError as exc:
        raise _unwrap_error(image_id, kind, kek_id, exc) from None
    return _header(new_id, new_wrapped) + blob[_PREFIX + len(wrapped) :]


def _context(image_id: uuid.UUID, kind: str) -> bytes:
    if kind not in _SEALED_KINDS:
        raise ValueError(f"kind must be one of {_SEALED_KINDS}, got {kind!r}")
    return b"econsult-image\x00" + image_id.bytes + b"\x00" + kind.encode("ascii")


def _body_aad(context: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + context


def _header(kek_id: str, wrapped: bytes) -> bytes:
    encoded_id = kek_id.encode("ascii")
    if len(encoded_id) != KEK_ID_LENGTH or len(wrapped) > 0xFFFF:
        raise ValueError("malformed KEK id or wrapped key")
    return MAGIC + bytes([VERSION]) + encoded_id + len(wrapped).to_bytes(2, "big") + wrapped


def _parse(blob: bytes) -> tuple[str, bytes, bytes, bytes]:
    if len(blob) < _PREFIX or not blob.startswith(MAGIC):
        raise ImageIntegrityError("not an encrypted econsult image (bad header)")
    if blob[len(MAGIC)] != VERSION:
        raise ImageIntegrityError(f"unsupported image blob version {blob[len(MAGIC)]}")
    id_start = len(MAGIC) + 1
    try:
        kek_id = blob[id_start : id_start + KEK_ID_LENGTH].decode("ascii")
    except UnicodeDecodeError:
        raise ImageIntegrityError("image blob header has a malformed KEK id") from None
    wrapped_len = int.from_bytes(blob[_PREFIX - 2 : _PREFIX], "big")
    nonce_start = _PREFIX + wrapped_len
    if len(blob) < nonce_start + NONCE_BYTES + _TAG_BYTES:
        raise ImageIntegrityError("image blob is truncated")
    body_start = nonce_start + NONCE_BYTES
    return kek_id, blob[_PREFIX:nonce_start], blob[nonce_start:body_start], blob[body_start:]


def _unwrap_error(
    image_id: uuid.UUID, kind: str, kek_id: str, exc: KeyringError
) -> ImageIntegrityError:
    if isinstance(exc, IntegrityError):
        return ImageIntegrityError(
            f"image {image_id} ({kind}): its data key failed to unwrap: "
            "the file belongs to another image or was altered"
        )
    return ImageIntegrityError(
        f"image {image_id} ({kind}) is sealed under KEK {kek_id}, which is not in the keyring"
    )
