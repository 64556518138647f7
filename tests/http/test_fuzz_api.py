"""Fuzz the whole JSON API from its own OpenAPI description with schemathesis: every
operation, as each role (gp, specialist, staff, admin, delegate, and nobody), with a
valid session and CSRF header, valid and invalid inputs alike. Zero 5xx.

Bounded (FUZZ_SECONDS in all, examples spread over the operations) so it runs in
`make test`; ECONSULT_FUZZ_EXAMPLES raises the number of examples for a longer hunt.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis import GenerationMode

from econsult.app import create_app
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import User
from tests.conftest import free_port
from tests.factories import (
    FORM,
    dermatology_on_call,
    make_delegate,
    make_personas,
    session_for,
)

EXAMPLES = int(os.environ.get("ECONSULT_FUZZ_EXAMPLES", "5"))
# The whole run stops generating after this (CI is a shared machine).
FUZZ_SECONDS = int(os.environ.get("ECONSULT_FUZZ_SECONDS", "110"))
# Logging out would end the session the rest of the run fuzzes with; logging in is
# fuzzed anonymously.
AS_NOBODY_ONLY = {"POST /auth/login"}
SKIPPED = {"POST /auth/logout"}
STATUS: dict[str, int] = {}


@dataclass(frozen=True)
class Caller:
    role: str
    cookies: dict[str, str]
    headers: dict[str, str]


class LiveApp:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _callers(settings: Settings) -> list[Caller]:
    db = Database.from_settings(settings)
    clock = SystemClock()
    try:
        personas = await make_personas(db, clock)
        delegate = await make_delegate(db, clock, email="delegate@example.org",
                                       name="Dee Legate", gps=(personas.gp,))
        await dermatology_on_call(db, personas, datetime.now(UTC), hours=24)
        people: dict[str, User] = {"gp": personas.gp, "specialist": personas.derm,
                                   "staff": personas.staff, "admin": personas.admin,
                                   "delegate": delegate}
        callers = []
        for role, user in people.items():
            token, csrf = await session_for(db, user, clock, settings)
            callers.append(Caller(role, {settings.session_cookie_name: token},
                                  {"X-CSRF-Token": csrf}))
        return [*callers, Caller("nobody", {}, {})]
    finally:
        await db.dispose()


def _fuzz(operation: Any, mode: GenerationMode, base: str, caller: Caller,
          failures: list[str], path_parameters: dict[str, Any] | None = None) -> int:
    """EXAMPLES requests to `operation` as `caller`; a 5xx is recorded, not raised (no
    shrinking: the curl command says what was sent). Returns how many were sent."""
    label = f"{operation.method.upper()} {operation.path}"
    sent = 0

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                         derandomize=True, phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode,
                                      path_parameters=path_parameters))
    def run(case: schemathesis.Case[Any]) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=base, headers=caller.headers, cookies=caller.cookies,
                             timeout=60)
        STATUS[f"{caller.role} {response.status_code}"] = STATUS.get(
            f"{caller.role} {response.status_code}", 0) + 1
        if response.status_code >= 500:
            failures.append(f"{caller.role}: {label} -> {response.status_code} "
                            f"{response.text[:200]!r}\n  {case.as_curl_command()}")

    run()
    return sent


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[LiveApp, list[Caller]]]:
    callers = asyncio.run(_callers(settings))
    with LiveApp(settings.with_(session_idle_minutes=60)) as app:
        yield app, callers


def _known_ids(app: LiveApp, gp: Caller) -> dict[str, str]:
    """A real consult with a photo, so that fuzzing also reaches past the 404s."""
    photo = io.BytesIO()
    Image.effect_noise((320, 240), 64).convert("RGB").save(photo, "JPEG")
    response = httpx.post(f"{app.url}/api/v1/consults", data=FORM,
                          files=[("images", ("a.jpg", photo.getvalue(), "image/jpeg"))],
                          headers=gp.headers, cookies=gp.cookies, timeout=60)
    assert response.status_code == 201, response.text
    found = response.json()
    return {"consult": found["id"], "image": found["images"][0]["id"]}


def _path_parameters(operation: Any, known: dict[str, str]) -> dict[str, Any] | None:
    """The real ids for this operation's path, or None if it has none to fill."""
    path = operation.path
    if "{id}" not in path and "{specialty}" not in path and "{slug}" not in path:
        return None
    fixed: dict[str, Any] = {}
    if "{id}" in path:
        if path.startswith("/consults/"):
            fixed["id"] = known["consult"]
        elif path.startswith("/images/"):
            fixed["id"] = known["image"]
        else:
            return None  # rota rows: random integers are the interesting part
    if "{specialty}" in path:
        fixed["specialty"] = "dermatology"
    if "{slug}" in path:
        fixed["slug"] = "dermatology"
    return fixed


def test_no_input_from_any_role_reaches_a_500(live: tuple[LiveApp, list[Caller]]) -> None:
    app, callers = live
    schema = schemathesis.openapi.from_url(f"{app.url}/api/v1/openapi.json")
    base = f"{app.url}/api/v1"
    known = _known_ids(app, callers[0])
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 30
    stop_at = time.monotonic() + FUZZ_SECONDS
    failures: list[str] = []
    calls, rounds_done = 0, 0
    # Rounds, so that a slow machine still covers every operation before time is up:
    # valid inputs, then valid inputs on real ids, then invalid inputs.
    rounds: list[tuple[GenerationMode, bool]] = [
        (GenerationMode.POSITIVE, False), (GenerationMode.POSITIVE, True),
        (GenerationMode.NEGATIVE, False), (GenerationMode.NEGATIVE, True)]
    for mode, real_ids in rounds:
        for operation in operations:
            label = f"{operation.method.upper()} {operation.path}"
            fixed = _path_parameters(operation, known) if real_ids else None
            if label in SKIPPED or (real_ids and fixed is None):
                continue
            for caller in callers:
                if label in AS_NOBODY_ONLY and caller.role != "nobody":
                    continue
                if time.monotonic() > stop_at:
                    break
                try:
                    calls += _fuzz(operation, mode, base, caller, failures, fixed)
                except Exception as exc:  # a schema the generator cannot satisfy, say
                    failures.append(f"{caller.role}: {label} ({mode.value}) could not be "
                                    f"fuzzed: {exc!r}")
        if time.monotonic() <= stop_at:
            rounds_done += 1
    print(sorted(STATUS.items()))
    print(f"schemathesis: {calls} requests over {len(operations)} operations, "
          f"{len(callers)} callers, {rounds_done} of {len(rounds)} rounds")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
    assert rounds_done >= 1, "not even one round in time: the machine is too slow"
