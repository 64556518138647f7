"""Who gets a consult: a pure decision over the rota and each specialist's state.

Eligible: on call at `now`, holds the specialty, active, not excluded, below both caps
(the specialty's cap on each specialist, and the specialist's own).
Primary tier before backup; then least open load, then idle longest (never assigned
counts as idle forever), then lowest id so the same inputs always give the same answer.
Nobody eligible: the consult goes to the specialty's pool.

Continuity: a GP may name a specialist ("my usual specialist"). The named specialist is
chosen whenever they are eligible and on call, in either tier; otherwise the consult is
routed exactly as if nobody had been named, and the decision says why (`named`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from econsult.routing.rota import TIER_RANK, OnCallInterval, Tier, on_call_at
from econsult.routing.targets import Urgency
from econsult.routing.wallclock import require_aware


class DecisionKind(StrEnum):
    ASSIGN = "assign"
    POOL = "pool"


class NamedOutcome(StrEnum):
    CHOSEN = "chosen"
    NOT_ON_CALL = "not_on_call"
    AT_CAP = "at_cap"
    INACTIVE = "inactive"
    EXCLUDED = "excluded"
    NOT_OF_SPECIALTY = "not_of_specialty"


_NAMED_TEXT = {
    NamedOutcome.NOT_ON_CALL: "is not on call",
    NamedOutcome.AT_CAP: "is at their cap",
    NamedOutcome.INACTIVE: "is inactive",
    NamedOutcome.EXCLUDED: "was excluded",
    NamedOutcome.NOT_OF_SPECIALTY: "does not hold the specialty",
}


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """What is being routed. `urgency` does not change the choice today; it is
    carried so a decision can be explained and logged with the consult."""

    specialty: str
    urgency: Urgency
    exclude: frozenset[int] = field(default_factory=frozenset)
    preferred: int | None = None  # the specialist the GP named, if any

    def __post_init__(self) -> None:
        object.__setattr__(self, "urgency", Urgency(self.urgency))
        object.__setattr__(self, "exclude", frozenset(self.exclude))


@dataclass(frozen=True, slots=True)
class SpecialistState:
    specialist_id: int
    specialties: frozenset[str]
    active: bool
    open_load: int
    cap: int | None  # the specialty's cap on each of its specialists
    last_assigned_at: datetime | None
    personal_cap: int | None = None  # this specialist's own cap, across specialties

    def __post_init__(self) -> None:
        if self.open_load < 0:
            raise ValueError("open_load cannot be negative")
        for cap in (self.cap, self.personal_cap):
            if cap is not None and cap < 0:
                raise ValueError("a cap cannot be negative")
        object.__setattr__(self, "specialties", frozenset(self.specialties))

    @property
    def at_cap(self) -> bool:
        return any(cap is not None and self.open_load >= cap
                   for cap in (self.cap, self.personal_cap))


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    specialist_id: int | None
    tier: Tier | None
    reason: str
    # What became of a named specialist: "chosen", or why not (a NamedOutcome value).
    named: str | None = None

    def __post_init__(self) -> None:
        assigned = self.kind is DecisionKind.ASSIGN
        if assigned != (self.specialist_id is not None) or assigned != (self.tier is not None):
            raise ValueError("an assignment names a specialist and tier; the pool names neither")

    @classmethod
    def pool(cls, reason: str) -> Decision:
        return cls(DecisionKind.POOL, None, None, reason)


def decide(
    request: RoutingRequest,
    on_call: Sequence[OnCallInterval],
    candidates: Mapping[int, SpecialistState],
    now: datetime,
) -> Decision:
    """Route a new consult to one on-call specialist (the named one if they can take
    it), or to the pool."""
    tiers = _best_tier_on_call(on_call, now)
    named: NamedOutcome | None = None
    if request.preferred is not None:
        named = _named_outcome(request, request.preferred, tiers, candidates)
        if named is NamedOutcome.CHOSEN:
            chosen = candidates[request.preferred]
            tier = tiers[request.preferred]
            return Decision(DecisionKind.ASSIGN, chosen.specialist_id, tier,
                            f"named specialist, on call ({tier}), open load {chosen.open_load}",
                            named.value)
    pick = _pick(request, tiers, candidates)
    decision = pick if pick else Decision.pool(_why_nobody(request, tiers, candidates))
    if named is None:
        return decision
    return replace(decision, reason=f"named specialist {_NAMED_TEXT[named]}; {decision.reason}",
                   named=named.value)


def _named_outcome(request: RoutingRequest, sid: int, tiers: Mapping[int, Tier],
                   candidates: Mapping[int, SpecialistState]) -> NamedOutcome:
    state = candidates.get(sid)
    if state is None or request.specialty not in state.specialties:
        return NamedOutcome.NOT_OF_SPECIALTY
    if not state.active:
        return NamedOutcome.INACTIVE
    if sid in request.exclude:
        return NamedOutcome.EXCLUDED
    if sid not in tiers:
        return NamedOutcome.NOT_ON_CALL
    if state.at_cap:
        return NamedOutcome.AT_CAP
    return NamedOutcome.CHOSEN


def next_escalation(
    request: RoutingRequest,
    current_assignee: int | None,
    tried: frozenset[int],
    on_call: Sequence[OnCallInterval],
    candidates: Mapping[int, SpecialistState],
    now: datetime,
) -> Decision:
    """Where an unacknowledged consult goes next: the backup on call, then any other
    on-call specialist not yet tried (primary first), then the pool."""
    skip = request.exclude | tried
    if current_assignee is not None:
        skip |= {current_assignee}
    narrowed = RoutingRequest(request.specialty, request.urgency, skip)
    tiers = _best_tier_on_call(on_call, now)
    # Someone on call as both primary and backup is still a backup for this step.
    on_now = _tiers_on_call(on_call, now)
    backups = {sid: Tier.BACKUP for sid, tier in on_now if tier is Tier.BACKUP}
    for step_tiers, prefix in (
        (backups, "escalated to backup, on call"),
        (tiers, "escalated to next available, on call"),
    ):
        pick = _pick(narrowed, step_tiers, candidates, prefix)
        if pick:
            return pick
    return Decision.pool("escalation: " + _why_nobody(narrowed, tiers, candidates))


def _pick(
    request: RoutingRequest,
    tiers: Mapping[int, Tier],
    candidates: Mapping[int, SpecialistState],
    prefix: str = "on call",
) -> Decision | None:
    eligible = [
        (tiers[sid], candidates[sid])
        for sid in tiers
        if sid in candidates and _eligible(request, candidates[sid])
    ]
    if not eligible:
        return None
    best_rank = min(TIER_RANK[tier] for tier, _ in eligible)
    pool = [state for tier, state in eligible if TIER_RANK[tier] == best_rank]
    pool.sort(key=_rank)
    chosen = pool[0]
    tier = tiers[chosen.specialist_id]
    return Decision(
        DecisionKind.ASSIGN,
        chosen.specialist_id,
        tier,
        f"{prefix} ({tier}), {_explain(chosen, pool)}",
    )


def _eligible(request: RoutingRequest, state: SpecialistState) -> bool:
    return (
        state.active
        and request.specialty in state.specialties
        and state.specialist_id not in request.exclude
        and not state.at_cap
    )


def _rank(state: SpecialistState) -> tuple[int, bool, datetime | None, int]:
    # Never assigned sorts first (False < True); the datetime is unused then.
    idle_since = state.last_assigned_at
    return (
        state.open_load,
        idle_since is not None,
        require_aware(idle_since, "last_assigned_at") if idle_since else None,
        state.specialist_id,
    )


def _explain(chosen: SpecialistState, pool: Sequence[SpecialistState]) -> str:
    load = f"open load {chosen.open_load}"
    if len(pool) == 1:
        return f"only eligible, {load}"
    same_load = [s for s in pool if s.open_load == chosen.open_load]
    if len(same_load) == 1:
        return f"least {load}"
    same_idle = [s for s in same_load if s.last_assigned_at == chosen.last_assigned_at]
    if len(same_idle) == 1:
        return f"least {load}, idle longest"
    return f"least {load}, idle longest, lowest id"


def _tiers_on_call(on_call: Iterable[OnCallInterval], now: datetime) -> list[tuple[int, Tier]]:
    return [(iv.specialist_id, iv.tier) for iv in on_call_at(on_call, now)]


def _best_tier_on_call(on_call: Iterable[OnCallInterval], now: datetime) -> dict[int, Tier]:
    """Each specialist on call at `now`, with their best tier (primary beats backup)."""
    best: dict[int, Tier] = {}
    for sid, tier in _tiers_on_call(on_call, now):
        if sid not in best or TIER_RANK[tier] < TIER_RANK[best[sid]]:
            best[sid] = tier
    return best


def _why_nobody(
    request: RoutingRequest, tiers: Mapping[int, Tier], candidates: Mapping[int, SpecialistState]
) -> str:
    """Name the filter that removed the last on-call specialist of the specialty."""
    specialty = request.specialty
    holders = [
        candidates[sid]
        for sid in tiers
        if sid in candidates and specialty in candidates[sid].specialties
    ]
    if not holders:
        return f"nobody on call for {specialty}"
    active = [s for s in holders if s.active]
    if not active:
        return f"every on-call specialist for {specialty} is inactive"
    untried = [s for s in active if s.specialist_id not in request.exclude]
    if not untried:
        return f"every on-call specialist for {specialty} was already tried or excluded"
    return f"all on-call specialists for {specialty} at cap"
