"""docs/fhir.md, run: every `sh` block of the walk-through, in order, in one bash,
against a real uvicorn (the create-then-read round trip over a real socket), with the
on-call dermatologist answering in between; what the shell reads back validates
against the FHIR R4 models."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import Role, User
from tests.conftest import free_port
from tests.e2e.conftest import Server, in_thread
from tests.factories import make_personas, make_user, put_on_call, session_for
from tests.fhir.helpers import photo, validate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "fhir.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
TOOLS = ("curl", "openssl", "jq", "xxd", "base64")


class Shell:
    """One bash that keeps its variables between blocks; each run waits for a marker."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run("set -euo pipefail")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, script: str, timeout: float = 60) -> str:
        marker = f"__done_{uuid.uuid4().hex}__"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{script}\necho {marker}\n")
        self.proc.stdin.flush()
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("block timed out:\n" + "".join(seen)) from None
            if line is None:
                raise AssertionError(f"the shell stopped (a command failed):\n{script}\n---\n"
                                     + "".join(seen))
            if line.rstrip("\n").endswith(marker):  # after output that ends without a newline
                seen.append(line.rstrip("\n")[:-len(marker)])
                return "".join(seen)
            seen.append(line)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


async def _seed(settings: Settings) -> tuple[User, User]:
    db = Database.from_settings(settings)
    try:
        clock = SystemClock()
        personas = await make_personas(db, clock)
        gp = await make_user(db, clock, email="gp@clinic.example", name="Dr Ann Gee",
                             role=Role.gp)
        await put_on_call(db, personas.derm, "dermatology", datetime.now(UTC), hours=2)
        return gp, personas.derm
    finally:
        await db.dispose()


async def _cookie(settings: Settings, user: User) -> tuple[str, str]:
    db = Database.from_settings(settings)
    try:
        return await session_for(db, user, SystemClock(), settings)
    finally:
        await db.dispose()


def test_the_walkthrough_runs_as_written(settings: Settings, tmp_path: Path) -> None:
    missing = [tool for tool in TOOLS if not any(
        (Path(p) / tool).exists() for p in os.environ.get("PATH", "").split(os.pathsep))]
    if missing:
        pytest.skip(f"the walk-through needs {', '.join(missing)}")
    gp, derm = in_thread(lambda: asyncio.run(_seed(settings)))
    live = Server(settings, free_port())
    live.start()
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path), "BASE": live.url, "LC_ALL": "C.UTF-8",
           "ECONSULT_DATA_DIR": str(settings.data_dir),
           "ECONSULT_DATABASE_URL": settings.database_url,
           "ECONSULT_MASTER_KEY": settings.master_key or ""}
    (tmp_path / "lesion.jpg").write_bytes(photo(7))
    shell = Shell(tmp_path, env)
    try:
        blocks = SH_BLOCK.findall(DOCS.read_text())
        assert len(blocks) == 7, "docs/fhir.md: update this test with the walk-through"
        keys, register, get_token, find_gp, send, poll, answer = blocks
        shell.run(keys)
        assert json.loads((tmp_path / "emr-jwks.json").read_text())["keys"][0]["alg"] == "RS384"
        assert "added API client" in shell.run(register, timeout=120)
        shell.run(get_token)
        shell.run(find_gp)
        assert shell.run('echo "$GP_ROLE"').strip() == str(gp.id)
        created = shell.run(send)
        assert re.search(r"^201 Created ServiceRequest/", created, re.M), created
        consult = shell.run('echo "$CONSULT"').strip()
        for path in (f"ServiceRequest/{consult}", f"Task/{consult}", f"Patient/{consult}",
                     f"Communication?based-on=ServiceRequest/{consult}",
                     f"DocumentReference?related=ServiceRequest/{consult}"):
            validate(json.loads(shell.run(f'fhir "$BASE/fhir/{path}"')))

        # Routed like a web submission: the dermatologist on call has it, and answers.
        token, csrf = in_thread(lambda: asyncio.run(_cookie(settings, derm)))
        with httpx.Client(base_url=live.url, headers={"X-CSRF-Token": csrf},
                          cookies={settings.session_cookie_name: token}) as web:
            queue_ = web.get("/api/v1/consults").json()["consults"]
            assert [c["id"] for c in queue_] == [consult]
            assert web.post(f"/api/v1/consults/{consult}/acknowledge").status_code == 200
            assert web.post(f"/api/v1/consults/{consult}/messages", json={
                "kind": "answer", "minutes": 8,
                "body": "Regular network on dermoscopy: benign. Re-photograph in 3 months."},
            ).status_code == 201

        assert "task completed" in shell.run(poll)
        out = shell.run(answer)
        assert "Regular network on dermoscopy: benign." in out and "%PDF-" in out
        validate(json.loads(shell.run(f'fhir "$BASE/fhir/Task/{consult}"')))
    finally:
        shell.close()
        live.stop()
