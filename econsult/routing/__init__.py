"""On-call routing: rota expansion, the routing decision and target windows.

Pure functions over frozen dataclasses; no database, no web. Services load rows,
build these values, and call `expand`, `decide` or `next_escalation`.
"""

from econsult.routing.decision import (
    Decision,
    DecisionKind,
    RoutingRequest,
    SpecialistState,
    decide,
    next_escalation,
)
from econsult.routing.durations import InvalidDuration, format_duration, parse_duration
from econsult.routing.rota import (
    Absence,
    OnCallInterval,
    Shift,
    Source,
    Tier,
    WeeklyPattern,
    expand,
    on_call_at,
)
from econsult.routing.targets import (
    DEFAULT_TARGETS,
    InvalidTargets,
    Target,
    Urgency,
    default_targets_for,
    targets_from_json,
    targets_to_json,
    urgencies_for,
)
from econsult.routing.wallclock import to_instant

__all__ = [
    "DEFAULT_TARGETS",
    "Absence",
    "Decision",
    "DecisionKind",
    "InvalidDuration",
    "InvalidTargets",
    "OnCallInterval",
    "RoutingRequest",
    "Shift",
    "Source",
    "SpecialistState",
    "Target",
    "Tier",
    "Urgency",
    "WeeklyPattern",
    "decide",
    "default_targets_for",
    "expand",
    "format_duration",
    "next_escalation",
    "on_call_at",
    "parse_duration",
    "targets_from_json",
    "targets_to_json",
    "to_instant",
    "urgencies_for",
]
