"""The registry of data protected by the keyring, for rotation and retirement.

Each subsystem that encrypts something lists it here explicitly (no registration
by import side effect)."""

from __future__ import annotations

from econsult.keys import Protected

PROTECTED: list[Protected] = []
