"""Registering API clients: `econsult clients add | list | revoke`, and /admin/clients,
which only an admin reaches; a bad key set or a non-GP is refused with a reason."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from econsult.cli import main
from econsult.config import Settings
from tests.conftest import ClientFor
from tests.factories import Personas
from tests.fhir.helpers import ec_key, public_jwks


def test_the_command_line_adds_lists_and_revokes(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ECONSULT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ECONSULT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ECONSULT_MASTER_KEY", settings.master_key or "")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase-42\n"))
    assert main(["user", "add", "--email", "gp@clinic.example", "--name", "Dr Ann Gee",
                 "--role", "gp", "--password-stdin"]) == 0
    jwks = tmp_path / "emr.jwks.json"
    jwks.write_text(public_jwks(ec_key()))
    capsys.readouterr()
    assert main(["clients", "add", "--name", "Clinic EMR", "--jwks-file", str(jwks),
                 "--gp", "gp@clinic.example", "--scope", "system/*.rs",
                 "system/ServiceRequest.c"]) == 0
    out = capsys.readouterr().out
    client_id = out.split("client_id: ")[1].split()[0]
    assert "scopes:   system/*.rs system/ServiceRequest.c" in out
    assert f"key {ec_key().kid} (ES384)" in out
    assert main(["clients", "list"]) == 0
    listed = capsys.readouterr().out
    assert client_id in listed and "[active]" in listed and "gps=gp@clinic.example" in listed
    assert main(["clients", "revoke", client_id]) == 0
    assert main(["clients", "list"]) == 0
    assert "[revoked" in capsys.readouterr().out
    # Refusals name the problem and change nothing.
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [ec_key().as_dict(private=True)]}))
    assert main(["clients", "add", "--name", "Leaky", "--jwks-file", str(private),
                 "--gp", "gp@clinic.example", "--scope", "system/*.rs"]) == 1
    assert "private key material" in capsys.readouterr().err
    assert main(["clients", "add", "--name", "X", "--jwks-file", str(jwks),
                 "--gp", "nobody@clinic.example", "--scope", "system/*.rs"]) == 1
    assert "No account for nobody@clinic.example" in capsys.readouterr().err
    assert main(["clients", "add", "--name", "X", "--jwks-file", str(jwks),
                 "--gp", "gp@clinic.example", "--scope", "patient/*.read"]) == 1
    assert "system/ scopes only" in capsys.readouterr().err


async def test_the_admin_page_registers_and_revokes(
        personas: Personas, client_for: ClientFor) -> None:
    admin = await client_for(personas.admin)
    page = await admin.get("/admin/clients")
    assert page.status_code == 200 and 'href="/admin/clients"' in page.text
    csrf = admin.headers["X-CSRF-Token"]
    form = {"csrf_token": csrf, "name": "Clinic EMR", "jwks": public_jwks(ec_key()),
            "gps": personas.gp.email, "scopes": "system/*.rs system/ServiceRequest.c"}
    added = await admin.post("/admin/clients", data=form)
    assert added.status_code == 303, added.text
    listed = await admin.get(added.headers["location"])
    assert "Registered Clinic EMR" in listed.text and personas.gp.email in listed.text
    client_id = listed.text.split("client_id ")[1].split(")")[0]
    refused = await admin.post("/admin/clients", data={**form, "gps": personas.derm.email})
    assert refused.status_code == 400 and "is not a GP" in refused.text
    revoked = await admin.post(f"/admin/clients/{client_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert "Revoked Clinic EMR" in (await admin.get(revoked.headers["location"])).text


@pytest.mark.parametrize("who", ["gp", "derm", "staff"])
async def test_only_admins_reach_the_clients_page(personas: Personas, client_for: ClientFor,
                                                  who: str, anon: httpx.AsyncClient) -> None:
    client = await client_for(getattr(personas, who))
    assert (await client.get("/admin/clients")).status_code == 404
    assert 'href="/admin/clients"' not in (await client.get("/consults")).text
    posted = await client.post("/admin/clients", data={
        "csrf_token": client.headers["X-CSRF-Token"], "name": "x", "jwks": "{}",
        "gps": personas.gp.email, "scopes": "system/*.rs"})
    assert posted.status_code == 404
    assert (await anon.get("/admin/clients")).status_code == 303
