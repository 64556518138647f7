"""Email notifications for people who are not looking at the page.

A ``Notifier`` listens to the bus (the ``staff`` group hears every consult event, and
the bus only carries committed events), and emails the person a step concerns:

- ``assigned``, ``escalated``, ``rerouted``, ``reassigned`` (by staff) or
  ``handed_back`` (from someone who can no longer act on it) to a specialist -> that
  specialist;
- ``clarification_requested`` or ``answered`` -> the consult's GP, and the delegate who
  sent it for the GP while they still work for that GP (they relay the answers);
- ``at_risk`` -> the assigned specialist.

Emails name who, what kind and a link: never patient data (the bus has none, and
only names and addresses are read here). Sending runs in its own task behind a
bounded queue, through the standard library's smtplib in a worker thread, with a few
retries; a full queue or an unreachable server loses an email, never a request.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from econsult.clock import format_local
from econsult.config import Settings
from econsult.db import Database
from econsult.models import Consult, DelegateLink, User
from econsult.realtime.bus import EventBus, SubscriberLagged
from econsult.realtime.events import STAFF_GROUP, BusEvent
from econsult.realtime.replay import replay

logger = logging.getLogger(__name__)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class _Person:
    email: str
    name: str


class Notifier:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, *,
                 retries: int = 4, backoff: float = 2.0, timeout: float = 15.0) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._queue: asyncio.Queue[BusEvent] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="notifier-listen"),
                       asyncio.create_task(self._work(), name="notifier-send")]
        # Subscribed before start() returns, so no event published after it is missed.
        ready = asyncio.create_task(self._listening.wait())
        await asyncio.wait([ready, self._tasks[0]], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._tasks[0].done():
            self._tasks[0].result()  # raises why listening failed (e.g. a closed bus)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop listening, give queued emails ``grace`` seconds, then stop sending."""
        if not self._tasks:
            return
        listen, work = self._tasks
        listen.cancel()
        try:
            await asyncio.wait_for(self._queue.join(), grace)
        except TimeoutError:
            logger.warning("notifier stopped with %d emails unsent", self._queue.qsize())
        work.cancel()
        await asyncio.gather(listen, work, return_exceptions=True)
        self._tasks = []

    async def _listen(self) -> None:
        last: int | None = None
        while True:
            try:
                async with self.bus.subscribe([STAFF_GROUP], max_queue=QUEUE_SIZE) as live:
                    self._listening.set()
                    seen: set[int] = set()
                    if last is not None:
                        # We were dropped for lagging: catch up from the table.
                        for event in await self._since(last):
                            seen.add(event.id)
                            last = self._offer(event)
                    async for event in live:
                        if event.id not in seen:
                            last = self._offer(event)
                return  # the bus closed
            except SubscriberLagged:
                logger.warning("notifier lagged after event %s; catching up", last)

    async def _since(self, after: int) -> list[BusEvent]:
        out: list[BusEvent] = []
        async for event in replay(self.db, after, frozenset({STAFF_GROUP})):
            out.append(event)
        return out

    def _offer(self, event: BusEvent) -> int:
        if event.type in _INTERESTING:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                self.failed += 1
                logger.error("notification queue full; no email for event %s", event.id)
        return event.id

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                for email in await self._emails_for(event):
                    await self._deliver(email)
            except Exception:
                logger.exception("could not build notifications for event %s", event.id)
            finally:
                self._queue.task_done()

    async def _emails_for(self, event: BusEvent) -> list[Email]:
        data = event.data
        targets: list[int] = []
        if event.type in ("assigned", "escalated", "rerouted", "at_risk", "reassigned",
                          "handed_back"):
            assignee = data.get("assigned_to")
            targets = [assignee] if isinstance(assignee, int) else []
        async with self.db.read() as db:
            consult = await db.get(Consult, event.consult_id)
            if consult is None:
                return []
            if event.type in ("clarification_requested", "answered"):
                targets = [consult.gp_id]
                sender = consult.submitted_by
                if sender is not None and sender != consult.gp_id and await db.get(
                        DelegateLink, (sender, consult.gp_id)) is not None:
                    targets.append(sender)
            people = [user for user in [await db.get(User, t) for t in targets]
                      if user is not None and user.active]
            due_at = consult.respond_due_at
        return [compose(event, _Person(user.email, user.name), self._link(event.consult_id),
                        due_at, self.settings) for user in people]

    def _link(self, consult_id: str) -> str:
        return f"{self.settings.public_url or DEFAULT_PUBLIC_URL}/consults/{consult_id}"

    async def _deliver(self, email: Email) -> None:
        if not self.settings.smtp_url:
            logger.info("email (SMTP not configured) to %s: %s", email.to, email.subject)
            return
        for attempt in range(1, self.retries + 1):
            try:
                await asyncio.to_thread(send_smtp, self.settings, email, self.timeout)
                self.sent += 1
                return
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code >= 500:  # permanent: retrying cannot help
                    logger.error("email to %s refused: %s", email.to, exc.smtp_code)
                    break
                error: Exception = exc
            except (OSError, smtplib.SMTPException) as exc:
                error = exc
            if attempt < self.retries:
                logger.warning("email to %s failed (%s); retry %d", email.to, error, attempt)
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        self.failed += 1
        logger.error("email to %s not sent: %s", email.to, email.subject)


_INTERESTING = frozenset({"assigned", "escalated", "rerouted", "at_risk",
                          "clarification_requested", "answered", "reassigned", "handed_back"})
_SUBJECTS = {
    "assigned": "A {urgency} {specialty} consult is assigned to you",
    "rerouted": "A {urgency} {specialty} consult is assigned to you",
    "reassigned": "A {urgency} {specialty} consult is now assigned to you",
    "handed_back": "A {urgency} {specialty} consult is now assigned to you",
    "escalated": "An unacknowledged {urgency} {specialty} consult is now assigned to you",
    "at_risk": "A {specialty} consult assigned to you is nearing its deadline",
    "clarification_requested": "The specialist asks for clarification on your consult",
    "answered": "Your {specialty} consult has been answered",
}


def compose(event: BusEvent, person: _Person, link: str, due_at: datetime | None,
            settings: Settings) -> Email:
    urgency = str(event.data.get("urgency") or "").replace("_", "-")
    specialty = str(event.data.get("specialty") or "")
    subject = "[econsult] " + _SUBJECTS[event.type].format(urgency=urgency,
                                                           specialty=specialty)
    lines = [f"Hello {person.name},", "", subject.removeprefix("[econsult] ") + "."]
    if due_at is not None and event.type != "answered":
        local = format_local(due_at, settings.timezone, with_zone=True)
        lines.append(f"Response due by {local}.")
    lines += ["", f"Open it: {link}", "",
              "This email holds no patient information; log in to read the consult."]
    return Email(to=person.email, subject=subject, body="\n".join(lines))


def send_smtp(settings: Settings, email: Email, timeout: float) -> None:
    """Blocking send (run in a thread). smtp://[user:pass@]host[:port] or smtps://..."""
    url = urlsplit(settings.smtp_url or "")
    host = url.hostname or "localhost"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message.set_content(email.body)
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, url.port or 465, timeout=timeout,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, url.port or 25, timeout=timeout)
    with client:
        client.ehlo()
        if url.scheme == "smtp" and url.username and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)

