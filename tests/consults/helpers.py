"""Shared set-up for consult tests: rota shifts and a valid submission."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from econsult.db import Database
from econsult.models import RotaShift, User

FORM = {
    "specialty": "dermatology",
    "urgency": "routine",
    "question": "Pigmented lesion on the left shoulder, changed over 3 months. Biopsy?",
    "patient_name": "Jane Example",
    "patient_dob": "1970-05-04",
    "patient_health_number": "9876 543 210",
    "body_site": "left shoulder",
}


async def on_call(db: Database, user: User, specialty: str, start: datetime,
                  hours: int = 24 * 7, tier: str = "primary") -> None:
    async with db.write() as session:
        session.add(RotaShift(specialty=specialty, specialist_id=user.id or 0,
                              starts_at=start - timedelta(hours=1),
                              ends_at=start + timedelta(hours=hours), tier=tier,
                              created_at=start))


async def submit(client: httpx.AsyncClient, files: list[tuple[str, tuple[str, bytes, str]]]
                 | None = None, headers: dict[str, str] | None = None,
                 **overrides: str) -> httpx.Response:
    data = {**FORM, **overrides}
    data = {k: v for k, v in data.items() if v is not None}
    return await client.post("/api/v1/consults", data=data, files=files or
                             [("none", ("", b"", "application/octet-stream"))],
                             headers=headers or {})


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()
