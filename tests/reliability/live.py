"""A real `econsult serve` in its own process group on 127.0.0.1, the `econsult` command
run as a user would, and logged-in API clients."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from econsult.demo.seed import DEMO_PASSWORD
from tests.conftest import free_port

ECONSULT = [sys.executable, "-m", "econsult"]
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def econsult_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env["ECONSULT_DATA_DIR"] = str(data_dir)
    env["ECONSULT_MFA_REQUIRED"] = "none"  # these clients log in with passwords alone
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


async def run_cli(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                  timeout: float = 180.0) -> tuple[int, str, str]:
    """`econsult ARGS` in a child process, without blocking the event loop (so load
    running in this loop carries on meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        *ECONSULT, *args, env=econsult_env(data_dir, env), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"econsult {' '.join(args)} ran over {timeout} s") from None
    return int(proc.returncode or 0), out.decode(), err.decode()


class LiveServer:
    """One data directory served by successive `econsult serve` processes on one port."""

    def __init__(self, data_dir: Path, log_path: Path, *, env: dict[str, str] | None = None
                 ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.env = econsult_env(data_dir, env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 45.0) -> None:
        assert self.proc is None, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts + 1} at {time.time():.3f} ===\n".encode())
            log.flush()
            # Its own session, so a kill reaches the image worker processes too.
            self.proc = subprocess.Popen(
                [*ECONSULT, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    self.proc = None
                    raise AssertionError(f"server exited with {code}:\n{self.log_tail()}")
                try:
                    if (await probe.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        self.stop()
        raise AssertionError(f"server not ready within {timeout} s:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL to the server and everything it started: no shutdown code runs."""
        assert self.proc is not None, "not running"
        self._killpg(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it takes longer than `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._killpg(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._killpg(signal.SIGKILL)  # stragglers in its group (image workers)
        self.proc = None

    def _killpg(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # the group id is the server's pid
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


async def login(base_url: str, email: str, password: str = DEMO_PASSWORD) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=TIMEOUT)
    try:
        response = await client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, f"login {email}: {response.text}"
    except BaseException:
        await client.aclose()
        raise
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


@asynccontextmanager
async def logged_in(base_url: str, email: str) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(base_url, email)
    try:
        yield client
    finally:
        await client.aclose()
