"""Target windows per urgency: how soon a consult must be acknowledged and answered.

Defaults (staff may change them per specialty):
- urgent: acknowledge within 30 minutes, respond within 2 hours, calendar time
  (RACE practice; the ack window drives escalation to the backup on call).
- routine: acknowledge within 2 days, respond within 7 days, calendar time. The
  2-day ack escalates a consult nobody picked up while leaving the backup 5 days.
- semi_urgent (dermatology only, suspected skin cancer): acknowledge within 1 day,
  respond within 2 days, both in business time (the turnaround clocks count a day
  as a business day there), so escalation still leaves a full business day.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from econsult.routing.durations import InvalidDuration, format_duration, parse_duration


class Urgency(StrEnum):
    URGENT = "urgent"
    SEMI_URGENT = "semi_urgent"
    ROUTINE = "routine"


class InvalidTargets(ValueError):
    """Target windows a staff user submitted cannot be used; the message says why."""


# How far into the response window a consult is marked at risk, unless staff say
# otherwise for a specialty and urgency.
DEFAULT_AT_RISK_FRACTION = 0.75
AT_RISK_RANGE = (0.1, 0.99)


@dataclass(frozen=True, slots=True)
class Target:
    acknowledge_within: timedelta
    respond_within: timedelta
    business_time: bool = False
    at_risk_fraction: float = DEFAULT_AT_RISK_FRACTION

    def __post_init__(self) -> None:
        if self.acknowledge_within <= timedelta(0) or self.respond_within <= timedelta(0):
            raise InvalidTargets("target windows must be longer than zero")
        low, high = AT_RISK_RANGE
        if not low <= self.at_risk_fraction <= high:
            raise InvalidTargets(f"at_risk_fraction must be between {low} and {high} "
                                 f"(got {self.at_risk_fraction})")
        if self.acknowledge_within > self.respond_within:
            raise InvalidTargets(
                f"acknowledge_within ({format_duration(self.acknowledge_within)}) is longer "
                f"than respond_within ({format_duration(self.respond_within)})"
            )


SEMI_URGENT_SPECIALTIES = frozenset({"dermatology"})

DEFAULT_TARGETS: Mapping[Urgency, Target] = MappingProxyType(
    {
        Urgency.URGENT: Target(timedelta(minutes=30), timedelta(hours=2)),
        Urgency.ROUTINE: Target(timedelta(days=2), timedelta(days=7)),
    }
)
SEMI_URGENT_TARGET = Target(timedelta(days=1), timedelta(days=2), business_time=True)

_FIELDS = ("acknowledge_within", "respond_within", "business_time", "at_risk_fraction")


def urgencies_for(specialty_slug: str) -> frozenset[Urgency]:
    """The urgency tiers a specialty offers: semi_urgent only where it is defined."""
    if specialty_slug in SEMI_URGENT_SPECIALTIES:
        return frozenset(Urgency)
    return frozenset({Urgency.URGENT, Urgency.ROUTINE})


def default_targets_for(specialty_slug: str) -> dict[Urgency, Target]:
    targets = dict(DEFAULT_TARGETS)
    if Urgency.SEMI_URGENT in urgencies_for(specialty_slug):
        targets[Urgency.SEMI_URGENT] = SEMI_URGENT_TARGET
    return targets


def targets_to_json(targets: Mapping[Urgency, Target]) -> dict[str, dict[str, Any]]:
    """The stored/API shape, in a fixed urgency order, durations as ISO 8601 text."""
    return {
        urgency.value: {
            "acknowledge_within": format_duration(target.acknowledge_within),
            "respond_within": format_duration(target.respond_within),
            "business_time": target.business_time,
            "at_risk_fraction": target.at_risk_fraction,
        }
        for urgency in Urgency
        if (target := targets.get(urgency)) is not None
    }


def targets_from_json(
    data: object,
    *,
    defaults: Mapping[Urgency, Target] | None = None,
    allowed: Collection[Urgency] | None = None,
) -> dict[Urgency, Target]:
    """Validate the JSON shape and build targets for the urgencies it names.

    `business_time` and `at_risk_fraction` may be left out: they are taken from
    `defaults` for that urgency (so a PUT of only the durations keeps dermatology's
    business-day clock), else false and DEFAULT_AT_RISK_FRACTION. `allowed` restricts
    which urgencies may appear (see `urgencies_for`).
    """
    if not isinstance(data, Mapping):
        raise InvalidTargets("targets must be an object keyed by urgency")
    if not data:
        raise InvalidTargets("targets must name at least one urgency")
    result: dict[Urgency, Target] = {}
    for key, value in data.items():
        urgency = _urgency(key, allowed)
        fallback = defaults.get(urgency) if defaults else None
        result[urgency] = _target(urgency, value, fallback)
    return result


def _urgency(key: object, allowed: Collection[Urgency] | None) -> Urgency:
    names = ", ".join(u.value for u in Urgency if allowed is None or u in allowed)
    if key not in {u.value for u in Urgency}:
        raise InvalidTargets(f"unknown urgency {key!r} (expected one of: {names})")
    urgency = Urgency(str(key))
    if allowed is not None and urgency not in allowed:
        raise InvalidTargets(
            f"urgency {urgency.value!r} is not offered here (expected one of: {names})"
        )
    return urgency


def _target(urgency: Urgency, value: object, fallback: Target | None) -> Target:
    if not isinstance(value, Mapping):
        raise InvalidTargets(f"{urgency}: expected an object with {', '.join(_FIELDS[:2])}")
    unknown = sorted(str(k) for k in value if k not in _FIELDS)
    if unknown:
        raise InvalidTargets(f"{urgency}: unknown field(s) {', '.join(unknown)}")
    durations: list[timedelta] = []
    for name in _FIELDS[:2]:
        if name not in value:
            raise InvalidTargets(f"{urgency}: {name} is required")
        try:
            durations.append(parse_duration(value[name]))
        except InvalidDuration as exc:
            raise InvalidTargets(f"{urgency}.{name}: {exc}") from None
    business_time = value.get("business_time", fallback.business_time if fallback else False)
    if not isinstance(business_time, bool):
        raise InvalidTargets(f"{urgency}.business_time must be true or false")
    fraction = value.get("at_risk_fraction", fallback.at_risk_fraction if fallback
                         else DEFAULT_AT_RISK_FRACTION)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InvalidTargets(f"{urgency}.at_risk_fraction must be a number such as 0.75")
    try:
        return Target(durations[0], durations[1], business_time, float(fraction))
    except InvalidTargets as exc:
        raise InvalidTargets(f"{urgency}: {exc}") from None
