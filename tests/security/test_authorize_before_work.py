"""Authorize before work, from the attacker's side: anyone with an account posting big
photos to a consult that is not theirs (or to no consult at all) is refused before a
single photo reaches the image workers, and before the body is read."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from starlette.applications import Starlette

from econsult.http.state import app_state
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit


@pytest.fixture
def worker_calls(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call that reaches the image pool, by name."""
    calls: list[str] = []
    workers = app_state(app).workers
    for name in ("process", "check", "run"):
        real = getattr(workers, name)

        def spy(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(workers, name, spy)
    return calls


def big_photo() -> bytes:
    buffer = io.BytesIO()
    noise = Image.effect_noise((3000, 2000), 64).convert("RGB")
    noise.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


class Counting:
    """A request body that counts how much of it the server read."""

    def __init__(self, body: bytes) -> None:
        self.body, self.read = body, 0

    async def stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), 64 * 1024):
            chunk = self.body[start:start + 64 * 1024]
            self.read += len(chunk)
            yield chunk


def multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
                 f'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode() + photo
                 + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
async def foreign_consult(personas: Personas, client_for: ClientFor, rota: None) -> str:
    gp = await client_for(personas.gp)
    return str(ok(await submit(gp), 201)["id"])


@pytest.mark.parametrize("target", ["random", "foreign"])
async def test_a_stranger_posting_a_big_photo_is_refused_before_any_image_work(
    target: str, personas: Personas, client_for: ClientFor, foreign_consult: str,
    worker_calls: list[str],
) -> None:
    consult_id = str(uuid.uuid4()) if target == "random" else foreign_consult
    photo = big_photo()
    assert len(photo) > 2_000_000
    body, content_type = multipart({"body": "look at this", "kind": "message"}, photo)
    for stranger in (personas.other_gp, personas.cardio):
        client = await client_for(stranger)
        sent = Counting(body)
        started = time.perf_counter()
        response = await client.post(f"/api/v1/consults/{consult_id}/messages",
                                     content=sent.stream(),
                                     headers={"content-type": content_type})
        elapsed = time.perf_counter() - started
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        assert worker_calls == []
        # Refused on the headers: at most the first chunk was pulled, not 2 MB.
        assert sent.read <= 64 * 1024, sent.read
        assert elapsed < 2.0


async def test_a_caller_who_may_not_submit_is_refused_before_the_body(
    personas: Personas, client_for: ClientFor, worker_calls: list[str],
) -> None:
    body, content_type = multipart({"specialty": "dermatology"}, big_photo())
    for role in (personas.staff, personas.admin, personas.derm):
        client = await client_for(role)
        sent = Counting(body)
        response = await client.post("/api/v1/consults", content=sent.stream(),
                                     headers={"content-type": content_type})
        assert response.status_code in (403, 404), response.text
        assert sent.read <= 64 * 1024 and worker_calls == []


async def test_a_caller_who_may_not_check_photos_is_refused_before_the_body(
    personas: Personas, client_for: ClientFor, worker_calls: list[str],
) -> None:
    body, content_type = multipart({}, big_photo())
    client = await client_for(personas.staff)
    sent = Counting(body)
    response = await client.post("/api/v1/images/check", content=sent.stream(),
                                 headers={"content-type": content_type})
    assert response.status_code == 403, response.text
    assert sent.read <= 64 * 1024 and worker_calls == []


async def test_the_consults_own_people_still_get_their_photos_processed(
    personas: Personas, client_for: ClientFor, foreign_consult: str,
    worker_calls: list[str], app: Starlette,
) -> None:
    """The same request from the consult's GP does reach the workers (the spy works)."""
    small = io.BytesIO()
    Image.effect_noise((320, 240), 64).convert("RGB").save(small, "JPEG")
    body, content_type = multipart({"body": "a photo", "kind": "message"}, small.getvalue())
    gp = await client_for(personas.gp)
    response = await gp.post(f"/api/v1/consults/{foreign_consult}/messages", content=body,
                             headers={"content-type": content_type})
    assert response.status_code == 201, response.text
    assert "process" in worker_calls
