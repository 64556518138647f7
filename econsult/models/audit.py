"""The audit log: append-only, each row chained to the one before by a hash."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_id: int | None = Field(default=None, index=True)
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=32)
    object_id: str = Field(default="", max_length=64, index=True)
    client_addr: str = Field(default="", max_length=64)
    outcome: str = Field(default="ok", max_length=16)
    # Codes and ids only; never patient data or clinical text.
    detail: str = Field(default="", max_length=500)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    # HMAC of `hash` under a key derived from the KEK named in `mac_kek` (the keyring
    # lives outside the database, so its owner cannot forge a row). Empty on rows
    # written before the chain was keyed, until `econsult migrate` keys them.
    mac: str = Field(default="", max_length=64)
    mac_kek: str = Field(default="", max_length=32)


class AuditHead(SQLModel, table=True):
    """The newest row's id and hash, updated in the same transaction as each append,
    so that deleting rows from the end of the chain is detected too."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0)
    last_hash: str = Field(max_length=64)
    # HMAC of (last_id, last_hash): a head rewound to an earlier row needs a new one.
    mac: str = Field(default="", max_length=64)
    mac_kek: str = Field(default="", max_length=32)


class KekRecord(SQLModel, table=True):
    """What the database knows about key-encryption keys: ids and dates, never keys."""

    __tablename__ = "keks"

    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = utc_field()
    activated_at: datetime | None = utc_field(nullable=True)
    retired_at: datetime | None = utc_field(nullable=True)
