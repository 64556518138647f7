"""Events as the event bus carries them to live subscribers (WebSocket queues).

A ``BusEvent`` mirrors one ``consult_events`` row plus the groups that may see
it. Its ``data`` is restricted to queue fields (``QUEUE_FIELDS``) so patient
identifiers and clinical text cannot leak onto a socket by accident: anything
else is refused at construction, not filtered at send time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeGuard

from econsult.security.groups import (  # re-exported: the bus speaks in these names
    STAFF_GROUP,
    check_group,
    is_group,
    pool_group,
    specialty_group,
    user_group,
)

EVENT_VERSION = 1
__all__ = ["STAFF_GROUP", "BusEvent", "check_group", "pool_group", "specialty_group",
           "user_group"]

# Non-clinical fields a queue row, a thread header or a dashboard tile needs.
# Free-text fields (reroute reason, message body, survey comment) are left out on
# purpose: a GP can type a patient's name into any of them.
QUEUE_FIELDS: frozenset[str] = frozenset(
    {
        "state",
        "previous_state",
        "urgency",
        "specialty",
        "previous_specialty",
        "assigned_to",
        "previous_assigned_to",
        "actor",
        "kind",
        "message_id",
        "due_at",
        "ack_due_at",
        "at_risk",
        "breached",
        "escalated",
        "converted_to",
    }
)

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Scalar = str | int | float | bool | None


def _is_scalar(value: object) -> TypeGuard[Scalar]:
    # NaN and infinities have no JSON spelling; browsers' JSON.parse rejects them.
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def _freeze_value(key: str, value: object) -> Scalar | tuple[Scalar, ...]:
    if _is_scalar(value):
        return value
    if isinstance(value, list | tuple) and all(_is_scalar(v) for v in value):
        return tuple(value)
    raise TypeError(f"event data {key!r} must be a JSON scalar or a list of scalars")


@dataclass(frozen=True, kw_only=True, slots=True)
class BusEvent:
    """One consult event as published to subscribers (``version`` 1)."""

    id: int
    type: str
    consult_id: str
    at: datetime
    groups: frozenset[str]
    data: Mapping[str, object] = field(default_factory=dict, hash=False)
    version: int = EVENT_VERSION
    # The JSON a socket sends, made once however many sockets the event goes to.
    _wire: str | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.version != EVENT_VERSION:
            raise ValueError(f"unsupported event version {self.version!r}")
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id <= 0:
            raise ValueError(f"event id must be a positive int, got {self.id!r}")
        if not isinstance(self.type, str) or not _EVENT_TYPE.match(self.type):
            raise ValueError(f"bad event type {self.type!r}")
        if not isinstance(self.consult_id, str) or not _UUID.match(self.consult_id):
            raise ValueError(f"consult_id must be a lower-case UUID string: {self.consult_id!r}")
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise ValueError("event time must be a timezone-aware datetime")
        groups = frozenset(self.groups)
        bad = sorted(g for g in groups if not is_group(g))
        if bad:
            raise ValueError(f"unknown group names: {bad}")
        unknown = sorted(set(self.data) - QUEUE_FIELDS)
        if unknown:
            raise ValueError(f"event data keys not allowed on the bus: {unknown}")
        frozen = {k: _freeze_value(k, v) for k, v in self.data.items()}
        # Frozen dataclass: normalise through object.__setattr__ (the documented way).
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "data", MappingProxyType(frozen))

    def to_json(self) -> dict[str, Any]:
        """What the WebSocket sends: ``{id, type, consult_id, at, ...data}``."""
        out: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in self.data.items()}
        out.update(id=self.id, type=self.type, consult_id=self.consult_id,
                   at=self.at.isoformat())
        return out

    def wire_text(self) -> str:
        """``to_json()`` serialised, once per event."""
        if self._wire is None:
            object.__setattr__(self, "_wire", json.dumps(self.to_json(), separators=(",", ":")))
        assert self._wire is not None
        return self._wire

    def to_record(self) -> dict[str, Any]:
        """Lossless, JSON-serialisable form (with version and groups)."""
        return {
            "version": self.version,
            "id": self.id,
            "type": self.type,
            "consult_id": self.consult_id,
            "at": self.at.isoformat(),
            "groups": sorted(self.groups),
            "data": {k: list(v) if isinstance(v, tuple) else v for k, v in self.data.items()},
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BusEvent:
        """Inverse of ``to_record``; validates like the constructor."""
        missing = {"id", "type", "consult_id", "at", "groups"} - set(record)
        if missing:
            raise ValueError(f"event record lacks {sorted(missing)}")
        return cls(
            version=record.get("version", EVENT_VERSION),
            id=record["id"],
            type=record["type"],
            consult_id=record["consult_id"],
            at=datetime.fromisoformat(record["at"]),
            groups=frozenset(record["groups"]),
            data=dict(record.get("data") or {}),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_record(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def loads(cls, text: str | bytes) -> BusEvent:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("event JSON must be an object")
        return cls.from_record(record)
