"""Envelope encryption of image blobs."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.images import (
    ImageIntegrityError,
    blob_kek_id,
    open_image,
    rewrap_blob_header,
    seal_image,
)
from econsult.images.envelope import MAGIC
from econsult.security.keyring import IntegrityError, Kek, Keyring, new_key

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"pixels" * 500 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"chunks" * 500


def _keyring() -> Keyring:
    return Keyring(Kek.from_bytes(new_key()))


@pytest.fixture
def keyring() -> Keyring:
    return _keyring()


def _header_len(blob: bytes | bytearray) -> int:
    wrapped_len = int.from_bytes(blob[23:25], "big")
    return 25 + wrapped_len + 12


def test_round_trip(keyring: Keyring) -> None:
    image_id = uuid.uuid4()
    blob = seal_image(keyring, image_id, "original", JPEG)
    assert blob.startswith(MAGIC)
    assert open_image(keyring, image_id, "original", blob) == JPEG
    assert blob_kek_id(blob) == keyring.active_id


@given(st.binary(max_size=4096))
@settings(max_examples=50)
def test_round_trip_any_bytes(data: bytes) -> None:
    keyring, image_id = _keyring(), uuid.uuid4()
    blob = seal_image(keyring, image_id, "thumbnail", data)
    assert open_image(keyring, image_id, "thumbnail", blob) == data


def test_each_seal_uses_a_fresh_key_and_nonce(keyring: Keyring) -> None:
    image_id = uuid.uuid4()
    a, b = (seal_image(keyring, image_id, "original", JPEG) for _ in range(2))
    assert a != b and a[-64:] != b[-64:]


@pytest.mark.parametrize("plaintext", [JPEG, PNG])
def test_header_and_body_hold_no_plaintext_or_magic(keyring: Keyring, plaintext: bytes) -> None:
    blob = seal_image(keyring, uuid.uuid4(), "original", plaintext)
    header = blob[: _header_len(blob)]
    for needle in (b"\xff\xd8\xff", b"\x89PNG", b"JFIF", b"pixels", b"chunks"):
        assert needle not in header
    assert b"pixels" not in blob and b"chunks" not in blob
    assert len(blob) == _header_len(blob) + len(plaintext) + 16


def test_swapped_image_id_fails(keyring: Keyring) -> None:
    blob = seal_image(keyring, uuid.uuid4(), "original", JPEG)
    with pytest.raises(ImageIntegrityError, match="another image"):
        open_image(keyring, uuid.uuid4(), "original", blob)


def test_swapped_kind_fails(keyring: Keyring) -> None:
    image_id = uuid.uuid4()
    blob = seal_image(keyring, image_id, "thumbnail", JPEG)
    with pytest.raises(ImageIntegrityError):
        open_image(keyring, image_id, "original", blob)


def test_unknown_kind_is_a_programming_error(keyring: Keyring) -> None:
    with pytest.raises(ValueError):
        seal_image(keyring, uuid.uuid4(), "preview", JPEG)  # type: ignore[arg-type]  # on purpose


@pytest.mark.parametrize("where", ["wrapped_key", "nonce", "body", "tag"])
def test_any_altered_byte_fails(keyring: Keyring, where: str) -> None:
    image_id = uuid.uuid4()
    blob = bytearray(seal_image(keyring, image_id, "original", JPEG))
    header = _header_len(blob)
    index = {"wrapped_key": 30, "nonce": header - 5, "body": header + 100, "tag": len(blob) - 1}
    blob[index[where]] ^= 0x01
    with pytest.raises(ImageIntegrityError):
        open_image(keyring, image_id, "original", bytes(blob))


@pytest.mark.parametrize("cut", [0, 5, 24, 60, -1])
def test_truncated_or_foreign_blobs_fail(keyring: Keyring, cut: int) -> None:
    image_id = uuid.uuid4()
    blob = seal_image(keyring, image_id, "original", JPEG)
    with pytest.raises(ImageIntegrityError):
        open_image(keyring, image_id, "original", blob[:cut])
    with pytest.raises(ImageIntegrityError):
        open_image(keyring, image_id, "original", JPEG)


def test_wrong_keyring_fails_naming_the_kek(keyring: Keyring) -> None:
    image_id = uuid.uuid4()
    blob = seal_image(keyring, image_id, "original", JPEG)
    with pytest.raises(ImageIntegrityError, match=keyring.active_id) as info:
        open_image(_keyring(), image_id, "original", blob)
    assert isinstance(info.value, IntegrityError)


def test_rewrap_moves_to_the_active_kek_without_touching_the_body(keyring: Keyring) -> None:
    image_id = uuid.uuid4()
    blob = seal_image(keyring, image_id, "original", JPEG)
    rotated = Keyring(Kek.from_bytes(new_key()), [keyring.active])
    rewrapped = rewrap_blob_header(rotated, image_id, "original", blob)
    assert blob_kek_id(rewrapped) == rotated.active_id != keyring.active_id
    assert rewrapped[-(len(JPEG) + 16 + 12) :] == blob[-(len(JPEG) + 16 + 12) :]
    assert open_image(rotated, image_id, "original", rewrapped) == JPEG
    # Once the old KEK is retired only the rewrapped blob opens.
    retired = Keyring(rotated.active)
    assert open_image(retired, image_id, "original", rewrapped) == JPEG
    with pytest.raises(ImageIntegrityError):
        open_image(retired, image_id, "original", blob)
    # Already current: returned as is, so callers can skip the write.
    assert rewrap_blob_header(rotated, image_id, "original", rewrapped) is rewrapped


def test_rewrap_refuses_a_swapped_blob(keyring: Keyring) -> None:
    blob = seal_image(keyring, uuid.uuid4(), "original", JPEG)
    rotated = Keyring(Kek.from_bytes(new_key()), [keyring.active])
    with pytest.raises(ImageIntegrityError):
        rewrap_blob_header(rotated, uuid.uuid4(), "original", blob)
