from datetime import timedelta

import pytest

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


def test_defaults_follow_the_design() -> None:
    urgent = DEFAULT_TARGETS[Urgency.URGENT]
    assert urgent == Target(timedelta(minutes=30), timedelta(hours=2), business_time=False)
    routine = DEFAULT_TARGETS[Urgency.ROUTINE]
    assert routine.respond_within == timedelta(days=7)
    assert not routine.business_time
    assert routine.acknowledge_within < routine.respond_within


def test_only_dermatology_has_semi_urgent() -> None:
    derm = default_targets_for("dermatology")
    assert set(derm) == {Urgency.URGENT, Urgency.SEMI_URGENT, Urgency.ROUTINE}
    semi = derm[Urgency.SEMI_URGENT]
    assert semi.respond_within == timedelta(days=2)
    assert semi.business_time
    assert semi.acknowledge_within < semi.respond_within
    assert set(default_targets_for("cardiology")) == {Urgency.URGENT, Urgency.ROUTINE}
    assert urgencies_for("cardiology") == {Urgency.URGENT, Urgency.ROUTINE}


def test_default_targets_for_returns_a_fresh_dict() -> None:
    first = default_targets_for("neurology")
    first.pop(Urgency.URGENT)
    assert Urgency.URGENT in default_targets_for("neurology")


def test_to_json_shape() -> None:
    def shape(ack: str, respond: str, business: bool) -> dict[str, object]:
        return {"acknowledge_within": ack, "respond_within": respond, "business_time": business,
                "at_risk_fraction": 0.75}

    encoded = targets_to_json(default_targets_for("dermatology"))
    assert encoded == {
        "urgent": shape("PT30M", "PT2H", False),
        "semi_urgent": shape("P1D", "P2D", True),
        "routine": shape("P2D", "P7D", False),
    }
    assert list(encoded) == ["urgent", "semi_urgent", "routine"]


def test_json_round_trip() -> None:
    targets = default_targets_for("dermatology")
    assert targets_from_json(targets_to_json(targets)) == targets


def test_from_json_parses_durations() -> None:
    parsed = targets_from_json(
        {"urgent": {"acknowledge_within": "PT15M", "respond_within": "PT1H"}}
    )
    assert parsed == {Urgency.URGENT: Target(timedelta(minutes=15), timedelta(hours=1), False)}


def test_missing_business_time_comes_from_defaults() -> None:
    derm = default_targets_for("dermatology")
    body = {"semi_urgent": {"acknowledge_within": "PT4H", "respond_within": "P3D"}}
    assert targets_from_json(body, defaults=derm)[Urgency.SEMI_URGENT].business_time
    assert not targets_from_json(body)[Urgency.SEMI_URGENT].business_time


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "object keyed by urgency"),
        ({}, "at least one urgency"),
        ({"critical": {}}, "unknown urgency 'critical'"),
        ({"urgent": "PT2H"}, "urgent: expected an object"),
        ({"urgent": {"respond_within": "PT2H"}}, "urgent: acknowledge_within is required"),
        (
            {"urgent": {"acknowledge_within": "soon", "respond_within": "PT2H"}},
            "urgent.acknowledge_within: 'soon' is not an ISO 8601 duration",
        ),
        (
            {"routine": {"acknowledge_within": "P1D", "respond_within": "P1M"}},
            "routine.respond_within: 'P1M' uses years or months",
        ),
        (
            {"urgent": {"acknowledge_within": "P1D", "respond_within": "PT2H"}},
            r"urgent: acknowledge_within \(P1D\) is longer than respond_within \(PT2H\)",
        ),
        (
            {"urgent": {"acknowledge_within": "PT1H", "respond_within": "PT2H", "x": 1}},
            "urgent: unknown field",
        ),
        (
            {
                "urgent": {
                    "acknowledge_within": "PT1H",
                    "respond_within": "PT2H",
                    "business_time": "no",
                }
            },
            "business_time must be true or false",
        ),
    ],
)
def test_from_json_rejects_with_clear_messages(body: object, message: str) -> None:
    with pytest.raises(InvalidTargets, match=message):
        targets_from_json(body)


def test_allowed_urgencies_are_enforced() -> None:
    body = {"semi_urgent": {"acknowledge_within": "P1D", "respond_within": "P2D"}}
    with pytest.raises(InvalidTargets, match="'semi_urgent' is not offered here"):
        targets_from_json(body, allowed=urgencies_for("cardiology"))
    assert Urgency.SEMI_URGENT in targets_from_json(body, allowed=urgencies_for("dermatology"))


def test_target_refuses_ack_longer_than_respond() -> None:
    with pytest.raises(ValueError, match="longer than respond_within"):
        Target(timedelta(hours=3), timedelta(hours=2))
    assert Target(timedelta(hours=2), timedelta(hours=2)).acknowledge_within == timedelta(hours=2)


def test_at_risk_fraction_is_kept_validated_and_defaults_from_the_current() -> None:
    current = default_targets_for("cardiology")
    changed = targets_from_json(
        {"urgent": {"acknowledge_within": "PT30M", "respond_within": "PT2H",
                    "at_risk_fraction": 0.5}}, defaults=current)
    assert changed[Urgency.URGENT].at_risk_fraction == 0.5
    again = targets_from_json({"urgent": {"acknowledge_within": "PT20M",
                                          "respond_within": "PT2H"}}, defaults=changed)
    assert again[Urgency.URGENT].at_risk_fraction == 0.5
    for bad in (0.0, 1.0, "0.5", True):
        with pytest.raises(InvalidTargets, match="at_risk_fraction"):
            targets_from_json({"urgent": {"acknowledge_within": "PT30M",
                                          "respond_within": "PT2H",
                                          "at_risk_fraction": bad}})
