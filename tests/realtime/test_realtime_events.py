from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from econsult.realtime.events import (
    QUEUE_FIELDS,
    STAFF_GROUP,
    BusEvent,
    check_group,
    pool_group,
    specialty_group,
    user_group,
)

MakeEvent = Callable[..., BusEvent]
CONSULT_ID = "7d1f6f7e-3c1a-4b0e-9a55-2f7c2c9f0a11"


def test_group_helpers_name_groups() -> None:
    assert user_group(42) == "user:42"
    assert pool_group("infectious-diseases") == "pool:infectious-diseases"
    assert specialty_group("dermatology") == "specialty:dermatology"
    assert STAFF_GROUP == "staff"
    for name in ("user:42", "pool:dermatology", "specialty:dermatology", "staff"):
        assert check_group(name) == name


@pytest.mark.parametrize("bad", [0, -1, True, "7"])
def test_user_group_rejects_non_ids(bad: object) -> None:
    with pytest.raises(ValueError):
        user_group(bad)  # type: ignore[arg-type]  # the wrong type on purpose


@pytest.mark.parametrize("bad", ["", "Derm", "derm:x", "-derm", "a" * 64, "pool:x"])
def test_slug_groups_reject_non_slugs(bad: str) -> None:
    with pytest.raises(ValueError):
        pool_group(bad)
    with pytest.raises(ValueError):
        specialty_group(bad)


@pytest.mark.parametrize("bad", ["user:0", "user:x", "admin", "pool:", "staff:1", "Staff"])
def test_check_group_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(ValueError):
        check_group(bad)


def test_to_json_is_envelope_plus_queue_fields(event: MakeEvent) -> None:
    ev = event(7, "staff", state="in_review", assigned_to=12, at_risk=["respond"])
    assert ev.to_json() == {
        "id": 7,
        "type": "consult.assigned",
        "consult_id": CONSULT_ID,
        "at": "2026-03-01T17:30:00+00:00",
        "state": "in_review",
        "assigned_to": 12,
        "at_risk": ["respond"],
    }
    json.dumps(ev.to_json(), allow_nan=False)


def test_time_is_normalised_to_utc_and_must_be_aware() -> None:
    pacific = timezone(timedelta(hours=-8))
    ev = BusEvent(id=1, type="consult.created", consult_id=CONSULT_ID,
                  at=datetime(2026, 3, 1, 9, 30, tzinfo=pacific), groups=frozenset({"staff"}))
    assert ev.at == datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
    assert ev.at.tzinfo is UTC
    with pytest.raises(ValueError):
        BusEvent(id=1, type="consult.created", consult_id=CONSULT_ID,
                 at=datetime(2026, 3, 1, 9, 30), groups=frozenset({"staff"}))


@pytest.mark.parametrize(
    "key", ["patient_name", "patient_health_number", "question", "body", "reason", "id", "at"]
)
def test_clinical_and_envelope_keys_are_refused(event: MakeEvent, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        event(1, "staff", **{key: "x"})


@pytest.mark.parametrize("value", [{"nested": 1}, math.nan, math.inf, [1, [2]], b"x", {1, 2}])
def test_non_json_values_are_refused(event: MakeEvent, value: object) -> None:
    with pytest.raises(TypeError):
        event(1, "staff", state=value)


@pytest.mark.parametrize(
    "changes",
    [{"id": 0}, {"id": True}, {"type": "Bad Type"}, {"consult_id": "42"},
     {"consult_id": CONSULT_ID.upper()}, {"version": 2}, {"groups": frozenset({"everyone"})}],
)
def test_envelope_is_validated(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "id": 1, "type": "consult.created", "consult_id": CONSULT_ID,
        "at": datetime(2026, 3, 1, tzinfo=UTC), "groups": frozenset({"staff"}),
    }
    with pytest.raises(ValueError):
        BusEvent(**{**fields, **changes})  # type: ignore[arg-type]  # bad values on purpose


def test_event_is_immutable_and_detached_from_caller_data(event: MakeEvent) -> None:
    data: dict[str, object] = {"state": "assigned", "at_risk": ["ack"]}
    ev = event(3, "staff", **data)
    data["state"] = "closed"
    assert ev.data["state"] == "assigned"
    with pytest.raises(TypeError):
        ev.data["state"] = "closed"  # type: ignore[index]  # read-only: the point
    with pytest.raises(AttributeError):
        ev.id = 4  # type: ignore[misc]  # frozen: the point
    assert hash(ev) == hash(event(3, "staff", **data))


def test_loads_refuses_other_versions_and_shapes(event: MakeEvent) -> None:
    record = event(5, "staff").to_record()
    with pytest.raises(ValueError, match="version"):
        BusEvent.from_record({**record, "version": 2})
    with pytest.raises(ValueError):
        BusEvent.loads("[1, 2]")
    with pytest.raises(ValueError, match="groups"):
        BusEvent.from_record({k: v for k, v in record.items() if k != "groups"})


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
_groups = st.frozensets(
    st.one_of(
        st.just(STAFF_GROUP),
        st.integers(1, 10**9).map(user_group),
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True).map(pool_group),
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True).map(specialty_group),
    ),
    max_size=5,
)


@given(
    event_id=st.integers(1, 2**62),
    at=st.datetimes(timezones=st.just(UTC)),
    groups=_groups,
    data=st.dictionaries(
        st.sampled_from(sorted(QUEUE_FIELDS)),
        st.one_of(_scalars, st.lists(_scalars, max_size=3)),
        max_size=6,
    ),
    consult_id=st.uuids().map(str),
)
def test_json_round_trip(
    event_id: int, at: datetime, groups: frozenset[str], data: dict[str, object], consult_id: str
) -> None:
    ev = BusEvent(id=event_id, type="consult.updated", consult_id=consult_id, at=at,
                  groups=groups, data=data)
    again = BusEvent.loads(ev.dumps())
    assert again == ev
    assert again.to_json() == json.loads(json.dumps(ev.to_json()))
