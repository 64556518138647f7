"""Real `econsult serve` processes on a throwaway PostgreSQL database.

Everything here goes through the command line and HTTP, as an operator would: `econsult
migrate`, the demo accounts, `econsult serve` (with --workers, or several independent
processes), then the JSON API, the WebSocket and SQL on the database the servers share.
Runs only when ECONSULT_TEST_DATABASE_URL names a PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from econsult.config import Settings
from econsult.db import Database
from econsult.demo.seed import DEMO_PASSWORD, seed_users
from econsult.routing.rota import Tier
from econsult.security.keyring import new_key
from tests.conftest import free_port
from tests.factories import FORM, post_shift, put_urgent_targets

PG_URL = os.environ.get("ECONSULT_TEST_DATABASE_URL", "")
START_TIMEOUT = 90.0
GP, DERM1, DERM2, STAFF = (f"{n}@demo.econsult.org" for n in ("gp", "derm1", "derm2", "staff"))


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A throwaway database, created through the admin URL and dropped afterwards."""
    if not PG_URL:
        pytest.skip("ECONSULT_TEST_DATABASE_URL is not set: scale-out needs PostgreSQL")
    base = PG_URL.rsplit("/", 1)[0]
    name = f"econsult_scale_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_dsn(base + "/postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{base}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def server_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of every server process: migrated, with the demo accounts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env.update(ECONSULT_DATABASE_URL=database_url, ECONSULT_DATA_DIR=str(tmp_path / "data"),
               ECONSULT_MASTER_KEY=base64.b64encode(new_key()).decode(),
               ECONSULT_IMAGE_POOL="thread", ECONSULT_IMAGE_WORKERS="1",
               ECONSULT_MFA_REQUIRED="none")
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "econsult", "migrate"],
                                   env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db = Database.from_settings(Settings.from_env(env))
    try:
        await seed_users(db)
    finally:
        await db.dispose()
    return env


@dataclass
class Server:
    """One `econsult serve` process (and its uvicorn workers) in its own session."""

    port: int
    workers: int
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> set[int]:
        """The processes that accept connections: the workers, or the server itself."""
        if self.workers == 1:
            return {self.proc.pid}
        return _descendants(self.proc.pid)

    def owner_of(self, client_port: int) -> int | None:
        """Which worker process holds the server end of the connection from client_port."""
        inode = _socket_inode(self.port, client_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
        return None

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would: no lifespan shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        # Workers of a killed master may linger in the group; end them too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
def start_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[StartServer]:
    servers: list[Server] = []

    async def start(workers: int = 1) -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "econsult", "serve", "--host", "127.0.0.1", "--port",
                 str(port), "--workers", str(workers)],
                env=server_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(port=port, workers=workers, log=log, proc=proc)
        servers.append(server)
        await _wait_ready(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log.read_text()[-3000:]}")
        started = server.log.read_text().count("Application startup complete")
        if started >= server.workers and len(server.worker_pids()) >= server.workers:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
        await asyncio.sleep(0.2)
    raise AssertionError(f"server not ready in {START_TIMEOUT}s:\n{server.log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Login:
    cookies: httpx.Cookies
    csrf: str

    def client(self, server: Server) -> httpx.AsyncClient:
        """A new client, so a new TCP connection, which any worker may accept."""
        return httpx.AsyncClient(base_url=server.base_url, cookies=self.cookies,
                                 headers={"X-CSRF-Token": self.csrf}, timeout=20)


async def login(server: Server, email: str) -> Login:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as client:
        response = await client.post("/api/v1/auth/login",
                                     json={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        return Login(cookies=client.cookies, csrf=response.json()["csrf_token"])


async def on_call(server: Server, staff: Login, *, ack_within: str | None = None) -> None:
    """derm1 primary and derm2 backup for dermatology, from an hour ago to three ahead;
    optionally a short acknowledge window for urgent consults."""
    now = datetime.now(UTC)
    async with staff.client(server) as client:
        if ack_within is not None:
            await put_urgent_targets(client, "dermatology", acknowledge_within=ack_within)
        for email, tier in ((DERM1, Tier.PRIMARY), (DERM2, Tier.BACKUP)):
            await post_shift(client, "dermatology", email, tier, now - timedelta(hours=1),
                             now + timedelta(hours=3))


async def submit(client: httpx.AsyncClient, urgency: str = "urgent") -> httpx.Response:
    response = await client.post("/api/v1/consults", data={**FORM, "urgency": urgency},
                                 files=[("none", ("", b"", "application/octet-stream"))])
    assert response.status_code == 201, response.text
    return response


def client_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


async def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def event_counts(database_url: str, consult_ids: list[str]) -> dict[str, dict[str, int]]:
    rows = await query(database_url, "SELECT consult_id, type, count(*) AS n FROM consult_events"
                       " WHERE consult_id = ANY($1::varchar[]) GROUP BY consult_id, type",
                       consult_ids)
    counts: dict[str, dict[str, int]] = {cid: {} for cid in consult_ids}
    for row in rows:
        counts[row["consult_id"]][row["type"]] = row["n"]
    return counts


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
                found.update(children)
                pending.extend(children)
    return {p for p in found if _is_worker(p)}


def _is_worker(pid: int) -> bool:
    # multiprocessing's resource tracker is a child too, but serves no requests.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return b"resource_tracker" not in f.read()
    return False


def _socket_inode(server_port: int, client_port: int) -> int | None:
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1].endswith(local) and parts[2].endswith(remote) and parts[9] != "0":
                    return int(parts[9])
    return None
