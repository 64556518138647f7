"""The registry of data protected by the keyring, for rotation and retirement.

Each subsystem that encrypts something lists it here explicitly (no registration
by import side effect). Fields come first: they are small and quick, and a damaged
image (which `econsult images verify` would name) must not keep them from being
re-sealed."""

from __future__ import annotations

from econsult.keys import Protected
from econsult.maintenance import count_fields, count_images, rekey_fields, rekey_images

PROTECTED: list[Protected] = [
    Protected(name="fields", rekey=rekey_fields, count=count_fields),
    Protected(name="images", rekey=rekey_images, count=count_images),
]
