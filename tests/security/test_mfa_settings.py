"""ECONSULT_MFA_REQUIRED: parsed strictly, every role by default, `none` for the demo,
which the login page then says."""

from __future__ import annotations

import argparse

import httpx
import pytest

from econsult.config import ROLES, ConfigError, Settings
from econsult.models import Role


def test_every_role_must_use_a_second_factor_by_default() -> None:
    assert Settings().mfa_required == frozenset(ROLES) == {r.value for r in Role}
    assert Settings.from_env({}).mfa_required == frozenset(ROLES)


@pytest.mark.parametrize(("raw", "roles"), [
    ("none", set()), ("NONE", set()), ("all", set(ROLES)), ("gp", {"gp"}),
    ("gp, specialist admin", {"gp", "specialist", "admin"}),
])
def test_the_setting_names_roles_or_none(raw: str, roles: set[str]) -> None:
    assert Settings.from_env({"ECONSULT_MFA_REQUIRED": raw}).mfa_required == roles


@pytest.mark.parametrize("raw", ["nobody", "gp,doctor", "none,gp", ",", "all gp"])
def test_a_mistyped_setting_stops_start_up(raw: str) -> None:
    with pytest.raises(ConfigError, match="ECONSULT_MFA_REQUIRED"):
        Settings.from_env({"ECONSULT_MFA_REQUIRED": raw})


async def test_with_mfa_off_the_login_page_says_so(anon: httpx.AsyncClient) -> None:
    page = await anon.get("/login")  # the test suite's settings turn MFA off
    assert page.status_code == 200 and 'id="mfa-off"' in page.text


def test_the_demo_turns_mfa_off_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from econsult.cli import demo
    from econsult.demo import seed

    seen: list[frozenset[str]] = []

    async def fake_prepare(settings: Settings, *, consults: int) -> list[str]:
        seen.append(settings.mfa_required)
        return []

    monkeypatch.setattr(seed, "prepare", fake_prepare)
    monkeypatch.delenv("ECONSULT_MFA_REQUIRED", raising=False)
    args = argparse.Namespace(consults=0, no_serve=True, host="127.0.0.1", port=0)
    assert demo.cmd_demo(args) == 0
    monkeypatch.setenv("ECONSULT_MFA_REQUIRED", "admin")
    assert demo.cmd_demo(args) == 0
    assert seen == [frozenset(), frozenset({"admin"})]


async def test_openapi_describes_the_mfa_endpoints_fully(anon: httpx.AsyncClient) -> None:
    paths = (await anon.get("/api/v1/openapi.json")).json()["paths"]
    mfa = {p: ops for p, ops in paths.items() if p.startswith("/auth/mfa/")}
    assert {"/auth/mfa/totp/enrol", "/auth/mfa/totp/confirm", "/auth/mfa/verify",
            "/auth/mfa/webauthn/register/options", "/auth/mfa/webauthn/register/verify",
            "/auth/mfa/webauthn/authenticate/options",
            "/auth/mfa/webauthn/authenticate/verify"} <= set(mfa)
    for path, ops in mfa.items():
        for method, op in ops.items():
            assert op["summary"], (path, method)
            assert any(str(code).startswith("4") for code in op["responses"]), (path, method)
            if method == "post":
                assert "requestBody" in op, (path, method)
    login = paths["/auth/login"]["post"]
    assert "mfa_required" in login["description"] and "429" in map(str, login["responses"])
