"""The keyring, field encryption and the column types that guard stored values."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import create_async_engine

from econsult.models.types import SealedBytes, UTCDateTime
from econsult.security.fields import FieldCipher
from econsult.security.keyring import (
    IntegrityError,
    Kek,
    Keyring,
    KeyringError,
    ensure_key_file,
    load_key_file,
    load_keyring,
    new_key,
    parse_master_key,
    save_key_file,
    token_kek_id,
)


def ring() -> Keyring:
    return Keyring(Kek.from_bytes(new_key()))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


# --- sealing -----------------------------------------------------------------


def test_seal_open_round_trip_and_token_names_the_kek() -> None:
    keyring = ring()
    token = keyring.seal(b"PHN 9876 543 210", b"consults/patient/1")
    assert b"9876" not in token
    assert token_kek_id(token) == keyring.active_id
    assert keyring.open(token, b"consults/patient/1") == b"PHN 9876 543 210"
    assert keyring.seal(b"same", b"a") != keyring.seal(b"same", b"a")  # fresh nonce each time


def test_associated_data_mismatch_fails() -> None:
    keyring = ring()
    token = keyring.seal(b"secret", b"row 1")
    with pytest.raises(IntegrityError):
        keyring.open(token, b"row 2")


@pytest.mark.parametrize("position", [0, 1, 17, 20, -1])
def test_any_altered_byte_fails(position: int) -> None:
    keyring = ring()
    token = bytearray(keyring.seal(b"secret clinical text", b"aad"))
    token[position] ^= 0x01
    with pytest.raises(KeyringError):  # IntegrityError, or an unknown KEK id for the header
        keyring.open(bytes(token), b"aad")


def test_truncated_or_foreign_token_fails() -> None:
    keyring = ring()
    token = keyring.seal(b"secret", b"aad")
    for bad in (token[:20], b"", b"\x02" + token[1:]):
        with pytest.raises(IntegrityError):
            keyring.open(bad, b"aad")


def test_wrong_keyring_cannot_open() -> None:
    token = ring().seal(b"secret", b"aad")
    with pytest.raises(KeyringError, match="not in the keyring"):
        ring().open(token, b"aad")
    # Same id forged onto a different key still fails authentication.
    original = ring()
    token = original.seal(b"secret", b"aad")
    impostor = Keyring(Kek(id=original.active_id, key=new_key()))
    with pytest.raises(IntegrityError):
        impostor.open(token, b"aad")


def test_wrap_unwrap_and_rewrap_under_a_new_active_kek() -> None:
    old = Kek.from_bytes(new_key())
    before = Keyring(old)
    data_key = new_key()
    kek_id, wrapped = before.wrap(data_key, b"image-1/original")
    assert kek_id == old.id
    new = Kek.from_bytes(new_key())
    after = Keyring(new, [old])
    new_id, rewrapped = after.rewrap(kek_id, wrapped, b"image-1/original")
    assert new_id == new.id != old.id
    assert after.unwrap(new_id, rewrapped, b"image-1/original") == data_key
    assert Keyring(new).unwrap(new_id, rewrapped, b"image-1/original") == data_key
    with pytest.raises(IntegrityError):
        after.unwrap(new_id, rewrapped, b"image-1/thumbnail")
    # A sealed field from before rotation still opens with the rotated keyring.
    token = before.seal(b"text", b"aad")
    assert after.open(token, b"aad") == b"text"


def test_kek_ids_come_from_the_key_and_repr_hides_key_bytes() -> None:
    key = new_key()
    kek = Kek.from_bytes(key)
    assert kek.id == Kek.from_bytes(key).id and len(kek.id) == 16
    keyring = Keyring(kek)
    for text in (repr(kek), str(kek), repr(keyring), repr([kek])):
        assert key.hex() not in text and b64(key) not in text
        assert repr(key) not in text
    with pytest.raises(KeyringError, match="32 bytes"):
        Kek.from_bytes(b"short")


# --- where keys live -----------------------------------------------------------


def test_key_file_is_created_0600_and_reloads_with_the_same_ids(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "keys.json"
    old_umask = os.umask(0o022)
    try:
        assert ensure_key_file(path) is True
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = load_key_file(path)
    assert ensure_key_file(path) is False  # never overwrites an existing key
    assert load_key_file(path).ids == first.ids
    rotated = Keyring(Kek.from_bytes(new_key()), [first.active])
    save_key_file(path, rotated)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_key_file(path)
    assert again.active_id == rotated.active_id
    assert sorted(again.ids) == sorted(rotated.ids)
    token = first.seal(b"x", b"y")
    assert again.open(token, b"y") == b"x"


def test_key_file_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    ensure_key_file(path)
    before = path.read_bytes()

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        save_key_file(path, ring())
    assert path.read_bytes() == before  # the old file is intact, never half written
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no stray key copy
    monkeypatch.undo()
    save_key_file(path, ring())
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temp file left


def test_malformed_or_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="econsult migrate"):
        load_key_file(tmp_path / "missing.json")
    bad = tmp_path / "keys.json"
    bad.write_text("{not json")
    with pytest.raises(KeyringError, match="malformed"):
        load_key_file(bad)
    bad.write_text(json.dumps({"version": 1, "active": "0000000000000000",
                               "keys": [b64(new_key())]}))
    with pytest.raises(KeyringError, match="active"):
        load_key_file(bad)


def test_master_key_parsing() -> None:
    k1, k2 = new_key(), new_key()
    single = parse_master_key(b64(k1))
    assert single.active_id == Kek.from_bytes(k1).id and single.ids == [single.active_id]
    both = parse_master_key(f" {b64(k1)} , {b64(k2)} ,")
    assert both.active_id == Kek.from_bytes(k1).id
    assert set(both.ids) == {Kek.from_bytes(k1).id, Kek.from_bytes(k2).id}
    token = parse_master_key(b64(k2)).seal(b"old", b"aad")
    assert both.open(token, b"aad") == b"old"


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!!", "base64"),
    (base64.b64encode(b"sixteen byte key").decode(), "32 bytes"),
    (" , ", "empty"),
])
def test_bad_master_key_is_refused(value: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as info:
        parse_master_key(value)
    assert value.strip(" ,") == "" or value not in str(info.value)  # never echoes the key


def test_master_key_overrides_the_key_file(tmp_path: Path) -> None:
    key = new_key()
    keyring = load_keyring(b64(key), tmp_path / "absent.json")
    assert keyring.active_id == Kek.from_bytes(key).id
    with pytest.raises(KeyringError):
        load_keyring(None, tmp_path / "absent.json")


# --- field encryption ----------------------------------------------------------


def test_field_cipher_is_bound_to_table_column_and_row() -> None:
    cipher = FieldCipher(ring())
    token = cipher.seal("consults", "patient_name", 7, "Jane Doe")
    assert cipher.open("consults", "patient_name", 7, token) == "Jane Doe"
    for table, column, row in [("consults", "patient_name", 8),
                               ("consults", "question", 7),
                               ("messages", "patient_name", 7)]:
        with pytest.raises(IntegrityError):
            cipher.open(table, column, row, token)
    assert cipher.seal_optional("t", "c", 1, None) is None
    assert cipher.open_optional("t", "c", 1, None) is None
    sealed = cipher.seal_optional("t", "c", 1, "é ü")
    assert cipher.open_optional("t", "c", 1, sealed) == "é ü"


def test_open_many_equals_open_one_by_one_across_keys() -> None:
    old = Kek.from_bytes(new_key())
    before = FieldCipher(Keyring(old))
    cipher = FieldCipher(Keyring(Kek.from_bytes(new_key()), [old]))
    items = [(1, before.seal("consults", "patient_name", 1, "Ann")),
             (2, cipher.seal("consults", "patient_name", 2, "Bo Ü")),
             ("x3", before.seal("consults", "patient_name", "x3", "Cy"))]
    assert cipher.open_many("consults", "patient_name", items) == ["Ann", "Bo Ü", "Cy"]
    assert cipher.open_many("consults", "patient_name", []) == []
    # A value moved to another row, or sealed under a key the ring lacks, fails.
    with pytest.raises(IntegrityError):
        cipher.open_many("consults", "patient_name", [(2, items[0][1])])
    with pytest.raises(IntegrityError):
        cipher.open_many("consults", "question", items[:1])
    with pytest.raises(KeyringError):
        FieldCipher(Keyring(Kek.from_bytes(new_key()))).open_many(
            "consults", "patient_name", items[:1])


def test_reseal_moves_a_value_to_the_active_kek() -> None:
    old = Kek.from_bytes(new_key())
    token = FieldCipher(Keyring(old)).seal("consults", "question", "abc", "itchy rash")
    rotated = FieldCipher(Keyring(Kek.from_bytes(new_key()), [old]))
    resealed = rotated.reseal("consults", "question", "abc", token)
    assert token_kek_id(resealed) == rotated.keyring.active_id
    assert rotated.reseal("consults", "question", "abc", resealed) is resealed  # no-op
    only_new = FieldCipher(Keyring(rotated.keyring.active))
    assert only_new.open("consults", "question", "abc", resealed) == "itchy rash"
    with pytest.raises(IntegrityError):
        rotated.reseal("consults", "question", "other-row", token)


# --- column types --------------------------------------------------------------

_meta = MetaData()
_sealed = Table("sealed_probe", _meta, Column("id", Integer, primary_key=True),
                Column("secret", SealedBytes(), nullable=True),
                Column("at", UTCDateTime(), nullable=True))


async def test_sealed_bytes_column_refuses_plain_text(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_meta.create_all)
        token = ring().seal(b"Jane Doe", b"aad")
        async with engine.begin() as conn:
            await conn.execute(insert(_sealed).values(id=1, secret=token))
            await conn.execute(insert(_sealed).values(id=2, secret=None))
        for plain in ("Jane Doe", b"Jane Doe"):
            with pytest.raises(StatementError) as info:
                async with engine.begin() as conn:
                    await conn.execute(insert(_sealed).values(id=3, secret=plain))
            assert isinstance(info.value.orig, TypeError)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(_sealed.c.id, _sealed.c.secret)
                                       .order_by(_sealed.c.id))).all()
        assert [(r.id, r.secret) for r in rows] == [(1, token), (2, None)]
        assert isinstance(rows[0].secret, bytes)
    finally:
        await engine.dispose()


async def test_utc_datetime_column_refuses_naive_and_returns_aware_utc(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}")
    vancouver = timezone(timedelta(hours=-8))
    local = datetime(2026, 3, 2, 9, 0, tzinfo=vancouver)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_meta.create_all)
            await conn.execute(insert(_sealed).values(id=1, at=local))
        with pytest.raises(StatementError) as info:
            async with engine.begin() as conn:
                await conn.execute(insert(_sealed).values(id=2, at=datetime(2026, 3, 2, 9)))
        assert "naive" in str(info.value.orig)
        async with engine.connect() as conn:
            stored = (await conn.execute(select(_sealed.c.at))).scalar_one()
        assert stored == local
        assert stored.tzinfo is UTC and stored.hour == 17
    finally:
        await engine.dispose()


def test_utc_datetime_reads_sqlite_text_as_utc() -> None:
    read = UTCDateTime().result_processor(sqlite.dialect(), None)
    assert read("2026-03-02 17:00:00.000000") == datetime(2026, 3, 2, 17, tzinfo=UTC)
    assert read("2026-03-02 17:00:00.000000").tzinfo is UTC
    assert read("2026-03-02 17:00:00.5") == datetime(2026, 3, 2, 17, 0, 0, 500000, tzinfo=UTC)
    # Text that already carries an offset (written by hand) is converted, not relabelled.
    assert read("2026-03-02T09:00:00-08:00") == datetime(2026, 3, 2, 17, tzinfo=UTC)
    assert read(None) is None
    with pytest.raises(ValueError):
        read("yesterday")


# SQLAlchemy leaves the PostgreSQL dialect's constructor untyped.
PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def test_utc_datetime_bind_per_dialect() -> None:
    col = UTCDateTime()
    aware = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert col.process_bind_param(aware, sqlite.dialect()) == datetime(2026, 1, 1, 10)
    pg = col.process_bind_param(aware, PG)
    assert pg is not None and pg.tzinfo is UTC and pg.hour == 10
    assert col.process_bind_param(None, sqlite.dialect()) is None
    back = col.process_result_value(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
                                    PG)
    assert back is not None and back.tzinfo is UTC and back.hour == 10
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2026, 1, 1), PG)


def test_ensure_key_file_never_replaces_a_key_made_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    ensure_key_file(path)
    theirs = path.read_bytes()
    # Another `migrate` created the file between our existence check and our write.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert ensure_key_file(path) is False
    assert path.read_bytes() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]
