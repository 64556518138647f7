"""Shared pieces of the benchmarks: percentiles, result rows, a real `econsult serve`
on 127.0.0.1, a raw keep-alive HTTP client and the phone photos.

The server is the configuration `econsult serve` runs (uvloop + httptools, one
process, SQLite in a fresh data directory seeded by `econsult demo --no-serve
--consults 0`), started as a subprocess so its CPU and memory are its own.
"""

from __future__ import annotations

import asyncio
import io
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from econsult.demo.seed import DEMO_PASSWORD
from econsult.turnaround.stats import nearest_rank

ROOT = Path(__file__).resolve().parents[1]
ECONSULT = Path(sys.executable).with_name("econsult")
PHONES = Path("/work/shared/testdata/images/phones")
HOST = "127.0.0.1"
CORES = os.cpu_count() or 1


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the project's definition); NaN for no values."""
    value = nearest_rank(sorted(values), p)
    return float("nan") if value is None else float(value)


def ms_summary(seconds: list[float]) -> dict[str, float]:
    return {"n": len(seconds), "p50_ms": pct(seconds, 0.5) * 1000,
            "p95_ms": pct(seconds, 0.95) * 1000, "p99_ms": pct(seconds, 0.99) * 1000,
            "max_ms": max(seconds, default=float("nan")) * 1000}


@dataclass
class Figure:
    """One line of the table: a measured value, the raw limit it is compared with, and
    the target on their ratio (ratio = value / raw, whatever the unit)."""

    bench: str
    name: str
    value: float
    unit: str
    raw: float | None = None
    target: str = ""
    ok: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.raw if self.raw else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_nofile(want: int = 4096) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def machine() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), "0")
    return {"nproc": run("nproc").strip(), "lscpu": run("lscpu").splitlines()[:10],
            "mem_gib": round(int(mem) / 1024 / 1024, 1), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


def seed_data_dir(path: Path) -> None:
    """`econsult demo --no-serve --consults 0`: schema, catalogue, demo accounts, rota."""
    env = {**os.environ, "ECONSULT_DATA_DIR": str(path)}
    subprocess.run([str(ECONSULT), "demo", "--no-serve", "--consults", "0"], env=env,
                   check=True, capture_output=True, timeout=120)


class Server:
    """`econsult serve` on a free port of 127.0.0.1 over a fresh, seeded data directory.
    Killed (process group) on exit, whatever happened."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._tmp = None if data_dir else tempfile.mkdtemp(prefix="econsult-bench-")
        self.data_dir = data_dir or Path(str(self._tmp))
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def db_path(self) -> Path:
        return self.data_dir / "econsult.db"

    def __enter__(self) -> Server:
        if self._tmp:
            seed_data_dir(self.data_dir)
        # The benchmark clients log in with the demo passwords alone.
        env = {**os.environ, "ECONSULT_DATA_DIR": str(self.data_dir),
               "ECONSULT_MFA_REQUIRED": "none"}
        self.proc = start([str(ECONSULT), "serve", "--host", HOST, "--port", str(self.port),
                           "--log-level", "warning"], env=env)
        try:
            wait_http(f"{self.base}/healthz", self.proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A server subprocess in its own process group; stderr to an unlinked temp file (a
    pipe nobody reads could fill up and stall the server)."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                            start_new_session=True)
    _STDERR[proc.pid] = err
    return proc


_STDERR: dict[int, IO[bytes]] = {}


def _stderr_of(proc: subprocess.Popen[bytes]) -> str:
    err = _STDERR.get(proc.pid)
    if err is None:
        return ""
    err.seek(0)
    return err.read().decode(errors="replace")[-2000:]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_stderr_of(proc)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    err = _STDERR.pop(proc.pid, None)
    if err is not None:
        err.close()
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


FORM = {
    "specialty": "dermatology",
    "urgency": "routine",
    "question": "Pigmented lesion on the left shoulder, changed over 3 months. Biopsy?",
    "patient_name": "Jane Example",
    "patient_dob": "1970-05-04",
    "patient_health_number": "9876 543 210",
    "body_site": "left shoulder",
}
GPS = ("gp@demo.econsult.org", "gp2@demo.econsult.org", "gp3@demo.econsult.org")


async def client_for(base: str, email: str, timeout: float = 120.0) -> Any:
    """A logged-in httpx.AsyncClient (cookie, CSRF token and Origin header set)."""
    import httpx

    client = httpx.AsyncClient(base_url=base, headers={"Origin": base}, timeout=timeout)
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


async def submit_consult(client: Any, photos: Sequence[tuple[str, bytes]] = ()) -> Any:
    """POST /api/v1/consults (multipart, with these photos); the httpx response."""
    files = [("images", (name, data, "application/octet-stream")) for name, data in photos]
    data = {**FORM, "image_labels": ["overview"] * len(photos)} if photos else FORM
    return await client.post("/api/v1/consults", data=data, files=files or
                             [("none", ("", b"", "application/octet-stream"))])


async def login(base: str, email: str) -> tuple[str, str]:
    """(session cookie header value, CSRF token) for a demo account."""
    import httpx

    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as client:
        r = await client.post("/api/v1/auth/login",
                              json={"email": email, "password": DEMO_PASSWORD})
        r.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        return cookie, str(r.json()["csrf_token"])


class RawHTTP:
    """A keep-alive HTTP/1.1 GET client on asyncio streams: cheap enough per request
    that the load generator is not what the measurement hits first."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                          f"{self.extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _hammer(port: int, path: str, headers: dict[str, str], conns: int,
                  seconds: float) -> dict[str, Any]:
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors: dict[int, int] = {}

    async def one() -> None:
        client = RawHTTP(port, headers)
        try:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                status, _ = await client.get(path)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            await client.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "errors": errors, **ms_summary(latencies)}


def hammer(port: int, path: str, headers: dict[str, str], conns: int,
           seconds: float) -> dict[str, Any]:
    """Closed-loop load: `conns` keep-alive connections, each sending its next GET when
    the previous answer arrives, for `seconds`. Run it in its own process."""
    import uvloop

    return uvloop.run(_hammer(port, path, headers, conns, seconds))


async def _probe(port: int, path: str, headers: dict[str, str], seconds: float,
                 interval: float) -> list[float]:
    client = RawHTTP(port, headers)
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            status, body = await client.get(path)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"probe {path} answered {status}: {body[:200]!r}")
            await asyncio.sleep(interval)
    finally:
        await client.close()
    return latencies


def probe(port: int, path: str, headers: dict[str, str], seconds: float,
          interval: float = 0.05) -> list[float]:
    """One request every `interval` s on one keep-alive connection (a user clicking
    around while others upload); its latencies. Run it in its own process."""
    import uvloop

    return uvloop.run(_probe(port, path, headers, seconds, interval))


def generated_jpeg(width: int = 4032, height: int = 3024) -> bytes:
    """A 12 MP camera-like JPEG: smooth gradients with sensor-like noise, q92, 4:2:0,
    EXIF orientation 6 (portrait shot held sideways, as phones write it)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 90 * np.sin(x / 700 + c) * np.cos(y / 500 - c)
                     for c in (0.0, 1.3, 2.6)], axis=-1)
    noise = rng.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


_PHOTOS: dict[str, bytes] = {}


def phone_photos() -> dict[str, bytes]:
    """name -> bytes of the three 12 MP photos the benchmarks use."""
    if not _PHOTOS:
        for name in ("pug.heic", "xiaomi.heic"):
            _PHOTOS[name] = (PHONES / name).read_bytes()
        _PHOTOS["generated-12mp.jpg"] = generated_jpeg()
    return _PHOTOS
