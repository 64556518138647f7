"""How specialists and GPs behave once a consult is routed: when it is noticed, whether
the alert is missed, how long the answer takes, whether a clarification is asked.

LN(m, s) is a log-normal with median m and log-scale spread s. "Open time" is counted
on the program's business calendar (08:00-17:00 Monday to Friday, less statutory
holidays): non-urgent work is done in working hours, so a routine consult sent on a
Friday evening is looked at on Monday. Urgent consults page the on-call specialist and
run on the wall clock. Each row is a default of `BehaviourParams`:

| parameter | value | source |
| --- | --- | --- |
| notice_urgent | LN(3 min, 1.0), wall clock | [1], fitted with respond_urgent |
| respond_urgent | LN(2 min, 0.8) after acknowledging, wall clock | [1] |
| call | LN(8 min, 0.5): urgent answer after the call-back, and its minutes | [2] |
| notice_routine | LN(1.5 h, 1.0), open time | [3] [4], fitted with respond_routine |
| respond_routine | LN(2.5 h, 1.3) x pace, open time | [3] [4] |
| notice_semi_urgent | LN(1.5 h, 1.0), open time | assumption: inside the 1-business-day ack |
| respond_semi_urgent | LN(2 h, 1.0) x pace, open time | assumption: suspected cancer read first |
| notice_pooled | LN(1 h, 1.0) urgent, LN(4 h, 1.0) other, open time | assumption; see [5] |
| off_hours_factor | x3 on urgent notice outside business hours | assumption; see [1] |
| backup_factor | x1.5 on notice by a backup on call | assumption |
| missed_urgent | 9% in business hours, 14% outside | [6] |
| missed_other | 3% of non-urgent alerts | assumption |
| pace | derm 1.5, gastro 2.0, hem 1.3, psych 0.8, others 1.0 | [7] [8] [9] [10] [11] |
| clarify | 10%; psychiatry 35%; urgent 5% | [10] for psychiatry; others assumption |
| gp_reply | LN(20 min, 1.0) urgent, LN(1 day, 1.0) other, wall clock | assumption |
| answer_after_reply | LN(2 h, 1.0) x pace, open time | assumption |
| minutes | LN(9.5 min, 0.65), at most 60 (the API's cap) | [12] |
| sick_days | 2.8 a year, unannounced, per specialist | [13] |

Sources:
[1] RACE: "75% of the calls are returned within 10 minutes", 2 hours at most
    (healthqualitybc.ca, RACE quality award; BCMJ 56(1):31, 2014); "four out of five"
    (Providence Health Care annual report 2018). The defaults give ~79% in business
    hours. RACE runs Monday-Friday 08:00-17:00 only (raceconnect.ca), so nights have
    no figure.
[2] RACE: "90% of the calls are under 15 minutes long" (healthqualitybc.ca).
[3] Ontario eConsult, provincial: median response 1.0 day, 96.3% answered in 7 days
    or less, 99.9% in 30 days, median time spent 15 minutes (seamo.ca, "Get the
    latest stats on eConsult", 2020). The defaults give, over the default mix, a
    median of ~0.96 days, ~96% within 7 days and ~99.9% within 30 (of consults whose
    alert was not missed).
[4] Champlain BASE: median response 21 hours over 14,105 cases (Liddy et al., Ann Fam
    Med 2018;16(2):120).
[5] Champlain BASE has a case assigner give each case to a specialist "based on
    availability" instead of leaving it in a shared queue
    (champlainbaseeconsult.com/how-it-works).
[6] Pages that got no response: 14.16% before and 8.98% after priority tags (Society
    of Hospital Medicine abstract, "The silent treatment: an analysis of why no one
    responded"). Urgent in business hours is taken as tagged, outside as untagged;
    a proxy, as no e-consult figure exists.
[7] BC teledermatology: turnaround about 48 hours (sharedcarebc.ca, Teledermatology).
[8] Champlain gastroenterology: median 2.9 days (Keely et al., J Can Assoc
    Gastroenterol 2018;1(3):124).
[9] Champlain hematology: most answered within three days (J Telemed Telecare 2016,
    doi:10.1177/1357633X16644095).
[10] Psychiatry e-consults in Ontario: 81% answered within 24 hours, 65% in a single
    exchange (Hensel et al., J Med Internet Res 2018;20(4):e124).
[11] Nephrology e-consults: median response one day (Schettini et al., "Keeping care
    connected", Duke). Cardiology, endocrinology: no specialty figure found, so 1.0.
[12] Champlain BASE self-reported billing time, 2017, 11,985 cases: <5 min 18.3%,
    5-10 35.6%, 10-15 27.3%, 15-20 11.3%, >20 7.5% ("Insights into specialists'
    participation and self-reported billing times in a multispecialty eConsult
    service"). Ontario's 15-minute median [3] reflects billing in 15-minute units.
[13] Physicians lost 2.8 days a year to illness or disability (CIHI, "Canada's Health
    Care Providers, 2007", reported by hrreporter.com).

Determinism: each draw comes from its own generator seeded by (seed, draw kind,
consult index, attempt), never from a shared stream, so a draw does not depend on the
order of calls. The policy and baseline arms therefore see the same normal and uniform
draws for the same consult; only the context they are mapped through (tier, pool,
time of day) differs, and that is what routing changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from econsult.routing.rota import Tier
from econsult.routing.targets import Urgency
from econsult.routing.wallclock import require_aware
from econsult.turnaround.calendar import BusinessCalendar

U, S, R = Urgency.URGENT, Urgency.SEMI_URGENT, Urgency.ROUTINE
ResponseKind = Literal["message", "clarification_request", "answer"]
_STREAM = 1  # arrivals draw from spawn key 0, the rota from 2
_WORKING_DAYS = 230  # a year's working days, to turn sick days a year into a daily chance


class _Draw(IntEnum):
    NOTICE = 1
    MISSED = 2
    RESPOND = 3
    CLARIFY = 4
    GP_REPLY = 5
    ANSWER = 6
    MINUTES = 7
    ABSENT = 8


@dataclass(frozen=True, slots=True)
class LogNormal:
    median: timedelta
    sigma: float

    def at(self, z: float) -> timedelta:
        """The quantile at standard-normal `z`: median x e^(sigma z)."""
        return self.median * math.exp(self.sigma * z)


def _ln(sigma: float, **median: float) -> LogNormal:
    return LogNormal(timedelta(**median), sigma)


def _frozen(table: Mapping[Urgency, LogNormal]) -> Mapping[Urgency, LogNormal]:
    return MappingProxyType(dict(table))


@dataclass(frozen=True, slots=True)
class BehaviourParams:
    """Defaults are the table in this module's docstring; change one to test a what-if."""

    notice: Mapping[Urgency, LogNormal] = field(default_factory=lambda: _frozen(
        {U: _ln(1.0, minutes=3), S: _ln(1.0, hours=1.5), R: _ln(1.0, hours=1.5)}))
    respond: Mapping[Urgency, LogNormal] = field(default_factory=lambda: _frozen(
        {U: _ln(0.8, minutes=2), S: _ln(1.0, hours=2), R: _ln(1.3, hours=2.5)}))
    notice_pooled: Mapping[Urgency, LogNormal] = field(default_factory=lambda: _frozen(
        {U: _ln(1.0, hours=1), S: _ln(1.0, hours=4), R: _ln(1.0, hours=4)}))
    gp_reply: Mapping[Urgency, LogNormal] = field(default_factory=lambda: _frozen(
        {U: _ln(1.0, minutes=20), S: _ln(1.0, days=1), R: _ln(1.0, days=1)}))
    call: LogNormal = _ln(0.5, minutes=8)
    answer_after_reply: LogNormal = _ln(1.0, hours=2)
    minutes: LogNormal = _ln(0.65, minutes=9.5)
    max_minutes: int = 60
    off_hours_factor: float = 3.0
    backup_factor: float = 1.5
    missed_urgent_in_hours: float = 0.09
    missed_urgent_off_hours: float = 0.14
    missed_other: float = 0.03
    pace: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "dermatology": 1.5, "gastroenterology": 2.0, "hematology": 1.3, "psychiatry": 0.8}))
    clarify: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(
        {"psychiatry": 0.35}))
    clarify_default: float = 0.10
    clarify_urgent: float = 0.05
    sick_days_per_year: float = 2.8

    def pace_of(self, specialty: str) -> float:
        return self.pace.get(specialty, 1.0)


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    value: str
    source: str


def _parameters(doc: str) -> tuple[Parameter, ...]:
    """The docstring table as data, each "[n]" resolved to its source, so a test can hold
    every entry to naming one (empty under python -OO, which strips docstrings)."""
    sources: dict[str, str] = {}
    current = ""
    for line in doc.split("Sources:", 1)[-1].splitlines():
        match = re.match(r"\[(\d+)\] (.*)", line)
        if match:
            current = match.group(1)
            sources[current] = match.group(2)
        elif line.startswith("    ") and current:
            sources[current] += " " + line.strip()
    rows = []
    for line in doc.splitlines():
        if not line.startswith("| ") or line.startswith(("| parameter", "| ---")):
            continue
        name, value, cell = (c.strip() for c in line.strip().strip("|").split("|"))
        cited = [sources[n] for n in re.findall(r"\[(\d+)\]", cell)]
        rows.append(Parameter(name, value, " ".join([cell, *cited])))
    return tuple(rows)


PARAMETERS = _parameters(__doc__ or "")


@dataclass(frozen=True, slots=True)
class Exchange:
    """What happens after acknowledgement, as instants. `first_response` is the message
    kind to post first; when it is an answer, `answered_at == first_response_at`."""

    first_response_at: datetime
    first_response: ResponseKind
    gp_replied_at: datetime | None
    answered_at: datetime
    minutes: int


class Behaviour:
    """Draws for one run. `notice_delay` for each assignment (and each escalation),
    `exchange` once a consult is acknowledged, `absent` for unannounced sick days."""

    def __init__(
        self,
        params: BehaviourParams | None = None,
        *,
        seed: int,
        tz: ZoneInfo,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        # A seed rather than a Generator: a shared stream would make each draw depend
        # on how many came before it, and the two arms would drift apart.
        self.params = params or BehaviourParams()
        self.seed = seed
        self.calendar = calendar or BusinessCalendar(tz)

    def notice_delay(
        self,
        consult: int,
        *,
        specialty: str,
        urgency: Urgency,
        at: datetime,
        tier: Tier | None,
        attempt: int = 0,
        specialist_id: int | None = None,
    ) -> timedelta | None:
        """How long after `at` (assignment, escalation or pooling) the consult is
        acknowledged; None if never: a missed alert, or the assignee off sick that day.
        `tier` None means pooled. `attempt` counts escalations, so each new assignee
        gets a fresh but repeatable draw. `specialty` is accepted for symmetry with
        `exchange`; no published figure separates noticing by specialty."""
        p, now, urgency = self.params, require_aware(at, "at"), Urgency(urgency)
        z = self._normal(_Draw.NOTICE, consult, attempt)
        if tier is None:
            return self._open_until(now, p.notice_pooled[urgency].at(z)) - now
        if specialist_id is not None and self.absent(specialist_id, now):
            return None
        in_hours = self.calendar.is_business_instant(now)
        if urgency == U:
            missed = p.missed_urgent_in_hours if in_hours else p.missed_urgent_off_hours
        else:
            missed = p.missed_other
        if self._uniform(_Draw.MISSED, consult, attempt) < missed:
            return None
        delay = p.notice[urgency].at(z)
        if Tier(tier) == Tier.BACKUP:
            delay *= p.backup_factor
        if urgency == U:
            return delay if in_hours else delay * p.off_hours_factor
        return self._open_until(now, delay) - now

    def absent(self, specialist_id: int, at: datetime) -> bool:
        """Off sick, unannounced, on the local day of `at` (the same in both arms)."""
        day = require_aware(at, "at").astimezone(self.calendar.tz).date()
        chance = self.params.sick_days_per_year / _WORKING_DAYS
        return self._uniform(_Draw.ABSENT, specialist_id, day.toordinal()) < chance

    def exchange(
        self, consult: int, *, specialty: str, urgency: Urgency, acknowledged_at: datetime
    ) -> Exchange:
        """The thread from acknowledgement to answer, drawn for this consult."""
        p, ack, urgency = self.params, require_aware(acknowledged_at, "at"), Urgency(urgency)
        urgent = urgency == U
        pace = 1.0 if urgent else p.pace_of(specialty)
        respond = p.respond[urgency].at(self._normal(_Draw.RESPOND, consult)) * pace
        first = ack + respond if urgent else self._open_until(ack, respond)
        share = p.clarify_urgent if urgent else p.clarify.get(specialty, p.clarify_default)
        clarifies = self._uniform(_Draw.CLARIFY, consult) < share
        # Urgent advice is a call-back: its length is both the time to the answer and
        # the minutes spent, which is how RACE reports it.
        work = (p.call if urgent else p.minutes).at(self._normal(_Draw.MINUTES, consult))
        minutes = max(1, min(p.max_minutes, round(work.total_seconds() / 60)))
        if not clarifies and not urgent:
            return Exchange(first, "answer", None, first, minutes)
        replied = None
        start = first
        if clarifies:
            replied = first + p.gp_reply[urgency].at(self._normal(_Draw.GP_REPLY, consult))
            start = replied
        if urgent:
            answered = start + work
        else:
            after = p.answer_after_reply.at(self._normal(_Draw.ANSWER, consult)) * pace
            answered = self._open_until(start, after)
        kind: ResponseKind = "clarification_request" if clarifies else "message"
        return Exchange(first, kind, replied, answered, minutes)

    def _open_until(self, start: datetime, work: timedelta) -> datetime:
        """When `work` of open time has passed since `start`, in `start`'s zone (UTC)."""
        return self.calendar.add_business_time(start, work)

    def _generator(self, kind: _Draw, *key: int) -> np.random.Generator:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(_STREAM, int(kind), *key))
        return np.random.default_rng(sequence)

    def _normal(self, kind: _Draw, *key: int) -> float:
        return float(self._generator(kind, *key).standard_normal())

    def _uniform(self, kind: _Draw, *key: int) -> float:
        return float(self._generator(kind, *key).random())
