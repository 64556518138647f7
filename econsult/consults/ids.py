"""Consult, message and image ids are random UUIDs in their canonical text form."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    """True only for the canonical lower-case form, so one id has one spelling."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
