"""Fixtures for the reliability suite: real `econsult serve` processes on 127.0.0.1, each
with its own data directory, migrated and seeded with the demo accounts and rota (no
historical consults). Every server started is killed at teardown, whatever happened.

Running them without make:
    .venv/bin/pytest tests/reliability -m "not slow"   # short versions (also in `make test`)
    .venv/bin/pytest tests/reliability -m slow -s      # 50 kills and the 60 s load run
RELIABILITY_SEED=N replays the kill timings of a run (its seed is printed with -s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from econsult.config import Settings
from econsult.demo import seed as demo
from tests.reliability.live import LiveServer

MakeServer = Callable[..., Awaitable[LiveServer]]


async def prepare_data_dir(data_dir: Path) -> Settings:
    """What `econsult demo --no-serve --consults 0` does: migrate (creating the key file),
    then the demo accounts and weekly rota. In-process, so the password hashes use the
    test suite's cheap argon2 parameters and logins stay fast."""
    settings = Settings.from_env({"ECONSULT_DATA_DIR": str(data_dir)})
    await demo.prepare(settings, consults=0)
    return settings


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[MakeServer]:
    servers: list[LiveServer] = []

    async def make(name: str = "data", *, seed: bool = True,
                   env: dict[str, str] | None = None) -> LiveServer:
        data_dir = tmp_path / name
        if seed:
            await prepare_data_dir(data_dir)
        server = LiveServer(data_dir, tmp_path / f"{name}-server.log", env=env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
