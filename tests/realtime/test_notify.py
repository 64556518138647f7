"""Email notifications against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from econsult.accounts import delegates
from econsult.clock import ManualClock
from econsult.consults.escalation import process_due
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import Role
from econsult.realtime.notify import Notifier
from econsult.security.audit import Actor
from econsult.security.policy import Principal
from tests.conftest import ClientFor, free_port
from tests.factories import FORM, Personas, make_delegate, ok, put_on_call, submit


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def _notifier(app: Starlette, port: int, **kw: Any) -> Notifier:
    ctx = app_state(app)
    settings = ctx.settings.with_(smtp_url=f"smtp://127.0.0.1:{port}",
                                 public_url="https://econsult.example.org")
    notifier = Notifier(settings, ctx.db, ctx.bus, **kw)
    await notifier.start()
    return notifier


@pytest.fixture
async def notifier(app: Starlette, smtp: tuple[Inbox, int]) -> AsyncIterator[Notifier]:
    notifier = await _notifier(app, smtp[1], backoff=0.05)
    yield notifier
    await notifier.stop()


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll `check` (SMTP delivery runs in a thread; nothing to await) until it holds."""
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def _wait_for(inbox: Inbox, count: int, timeout: float = 5.0) -> None:
    await _eventually(lambda: len(inbox.messages) >= count,
                      f"{count} emails (got {len(inbox.messages)})", timeout)


def _text(message: Message) -> str:
    return message["Subject"] + "\n" + _body(message)


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _no_patient_data(text: str) -> None:
    for secret in (FORM["patient_name"], FORM["question"][:20], FORM["patient_health_number"],
                   FORM["patient_dob"], FORM["body_site"], "Any bleeding"):
        assert secret not in text


async def test_assignee_and_gp_are_emailed_without_patient_data(
    rota: None, personas: Personas, client_for: ClientFor, notifier: Notifier,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    await _wait_for(inbox, 1)
    to, message = inbox.messages[0]
    assert to == [personas.derm.email]
    text = _text(message)
    assert "routine dermatology consult is assigned to you" in text
    assert f"https://econsult.example.org/consults/{cid}" in text
    assert "Mon 09 Mar 2026 10:00 PDT" in text  # due time in the program's zone
    _no_patient_data(text)

    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Any bleeding?"}), 201)
    await _wait_for(inbox, 2)
    assert inbox.messages[1][0] == [personas.gp.email]
    assert "asks for clarification" in _text(inbox.messages[1][1])
    ok(await gp.post(f"/api/v1/consults/{cid}/messages",
                     json={"kind": "message", "body": "No bleeding."}), 201)
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Excise.", "minutes": 10}), 201)
    await _wait_for(inbox, 3)
    # One sender works through the events in order, so an email for the acknowledgement
    # or for the GP's reply would have arrived before the answer's: they send nothing.
    assert len(inbox.messages) == 3
    assert inbox.messages[2][0] == [personas.gp.email]
    assert "has been answered" in _text(inbox.messages[2][1])
    for _, m in inbox.messages:
        _no_patient_data(_text(m))


async def test_escalation_and_at_risk_email_the_new_assignee(
    rota: None, app: Starlette, personas: Personas, client_for: ClientFor,
    clock: ManualClock, notifier: Notifier, smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp
    gp = await client_for(personas.gp)
    ok(await submit(gp, urgency="urgent"), 201)
    await _wait_for(inbox, 1)
    svc = app_state(app)
    clock.advance(timedelta(minutes=31))  # past the 30-minute acknowledgement window
    await process_due(svc)
    await _wait_for(inbox, 2)
    assert inbox.messages[1][0] == [personas.derm2.email]
    assert "unacknowledged urgent dermatology consult" in _text(inbox.messages[1][1])
    cid = _body(inbox.messages[1][1]).split("/consults/")[1][:36]
    ok(await (await client_for(personas.derm2)).post(f"/api/v1/consults/{cid}/acknowledge"))
    clock.advance(timedelta(minutes=60))  # 91 of the 120 minutes gone: past 75 %
    await process_due(svc)
    await _wait_for(inbox, 3)
    assert inbox.messages[2][0] == [personas.derm2.email]
    assert "nearing its deadline" in _text(inbox.messages[2][1])


async def test_unreachable_server_is_retried_without_blocking_requests(
    rota: None, app: Starlette, personas: Personas, client_for: ClientFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="econsult.realtime.notify")
    port = free_port()  # nothing listens here yet
    notifier = await _notifier(app, port, backoff=0.2, retries=5)
    try:
        r = await submit(await client_for(personas.gp))
        assert r.status_code == 201
        # Had the request waited for SMTP, it would have come back after the email was
        # sent or given up; it came back with the email still in hand.
        assert (notifier.sent, notifier.failed) == (0, 0)
        await _eventually(lambda: "retry 1" in caplog.text, "the first attempt to fail")
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            await _wait_for(inbox, 1, timeout=8)
        finally:
            controller.stop()
        assert inbox.messages[0][0] == [personas.derm.email]
        assert notifier.sent == 1 and notifier.failed == 0
    finally:
        await notifier.stop()


async def test_without_smtp_url_nothing_is_sent_and_it_is_logged(
    rota: None, app: Starlette, personas: Personas, client_for: ClientFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = app_state(app)
    notifier = Notifier(ctx.settings.with_(smtp_url=None), ctx.db, ctx.bus)
    await notifier.start()
    caplog.set_level("INFO", logger="econsult.realtime.notify")
    try:
        ok(await submit(await client_for(personas.gp)), 201)
        await _eventually(lambda: "SMTP not configured" in caplog.text, "the log line")
    finally:
        await notifier.stop()
    line = next(r.getMessage() for r in caplog.records if "SMTP not configured" in r.message)
    assert personas.derm.email in line and FORM["patient_name"] not in line
    assert notifier.sent == 0


async def test_the_delegate_who_sent_a_consult_hears_of_its_clarification_and_answer(
    db: Database, personas: Personas, client_for: ClientFor, clock: ManualClock,
    notifier: Notifier, smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                              gps=(personas.gp,))
    derm = await client_for(personas.derm)
    cid = ok(await submit(await client_for(dee), gp=personas.gp.email), 201)["id"]
    await _wait_for(inbox, 1)  # the assignment, to the specialist
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Any bleeding?"}), 201)
    await _wait_for(inbox, 3)
    assert sorted(to[0] for to, _ in inbox.messages[1:]) == [dee.email, personas.gp.email]
    assert all("asks for clarification" in _text(m) for _, m in inbox.messages[1:])
    # No longer working for the GP: no more of the GP's mail.
    await delegates.set_links(db, delegate_id=dee.id or 0, gp_ids=[],
                              actor=Actor(None, "test"), clock=clock,
                              by=Principal(personas.admin.id or 0, Role.admin))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Excise.", "minutes": 10}), 201)
    await _wait_for(inbox, 4)
    await asyncio.sleep(0.1)
    assert [to for to, _ in inbox.messages[3:]] == [[personas.gp.email]]
    for _, m in inbox.messages:
        _no_patient_data(_text(m))


async def test_a_consult_moved_by_staff_or_handed_back_emails_its_new_holder(
    db: Database, personas: Personas, client_for: ClientFor, clock: ManualClock,
    notifier: Notifier, smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp), 201)["id"]
    await _wait_for(inbox, 1)
    ok(await staff.post(f"/api/v1/consults/{cid}/reassign",
                        json={"specialist": personas.derm2.email, "reason": "leave"}))
    await _wait_for(inbox, 2)
    assert inbox.messages[1][0] == [personas.derm2.email]
    assert "consult is now assigned to you" in _text(inbox.messages[1][1])
    _no_patient_data(_text(inbox.messages[1][1]))
    ok(await staff.post(f"/api/v1/consults/{cid}/reassign", json={"pool": True, "reason": "x"}))
    await asyncio.sleep(0.1)
    assert len(inbox.messages) == 2  # the pool has no inbox
