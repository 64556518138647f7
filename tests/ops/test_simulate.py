"""`econsult simulate` end to end on small months: the real services on a simulated
clock, checked for the invariants the comparison depends on."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from econsult.cli import main
from econsult.ops.simulate import (
    SimulationResult,
    build_world,
    escalated_off_call,
    plain_rota,
    simulate,
)
from econsult.ops.simulation.outcomes import Arm
from econsult.ops.simulation.report import summarise, write_outputs
from econsult.routing.rota import Tier
from econsult.routing.targets import Urgency

REQUIRED = ("arm", "urgency", "specialty", "submitted_at", "acknowledged_at",
            "first_response_at", "answered_at")


async def _run(seed: int, requests: int = 140, days: int = 7) -> SimulationResult:
    return await simulate(build_world(requests=requests, days=days, seed=seed),
                          progress=False)


@pytest.fixture(scope="module")
def month() -> SimulationResult:
    import asyncio

    return asyncio.run(_run(1))


def test_both_arms_see_every_consult(month: SimulationResult) -> None:
    by_arm = Counter(o.arm for o in month.outcomes)
    assert by_arm == {Arm.POLICY: 140, Arm.BASELINE: 140}
    for arm in month.arms:
        # Same arrivals in both: the same (time, specialty, urgency) multiset.
        assert sorted((o.submitted_at, o.specialty, o.urgency) for o in arm.outcomes) == \
            sorted((a.at, a.specialty, a.urgency) for a in month.world.arrivals)


def test_every_consult_ends_owned_or_pooled(month: SimulationResult) -> None:
    for arm in month.arms:
        assert len(arm.final_states) == 140
        for state, owner in arm.final_states.values():
            if state == "pooled":
                assert owner is None
            else:
                assert state in {"assigned", "in_review", "awaiting_gp", "answered"}
                assert owner is not None


def test_escalation_only_to_someone_on_call(month: SimulationResult) -> None:
    policy, baseline = month.arms
    assert policy.arm is Arm.POLICY and baseline.arm is Arm.BASELINE
    assert [e for e in policy.escalations if e.to is not None], "nothing escalated to a person"
    assert escalated_off_call(policy, month.world) == []
    assert baseline.escalations == []
    assert all(o.escalations == 0 for o in baseline.outcomes)


def test_policy_acknowledges_at_least_as_well_across_seeds() -> None:
    import asyncio

    for seed in (2, 3, 4):
        result = asyncio.run(_run(seed, requests=100, days=7))
        ack = {(s.arm, s.urgency): s.acknowledged_in_window_pct
               for s in summarise(result.outcomes)}
        assert ack[(Arm.POLICY, Urgency.URGENT)] >= ack[(Arm.BASELINE, Urgency.URGENT)], seed
        answered = Counter(o.arm for o in result.outcomes if o.acknowledged_at is not None)
        assert answered[Arm.POLICY] >= answered[Arm.BASELINE], seed


def test_same_seed_same_month(month: SimulationResult) -> None:
    import asyncio

    again = asyncio.run(_run(1))
    assert again.outcomes == month.outcomes
    other = asyncio.run(_run(5))
    assert other.outcomes != month.outcomes


def test_baseline_rota_names_one_primary_per_slot(month: SimulationResult) -> None:
    for rota in month.world.rotas.values():
        plain = plain_rota(rota)
        slots = Counter((p.weekday, p.start, p.end) for p in plain.patterns
                        if p.tier == Tier.PRIMARY)
        assert set(slots.values()) == {1}
        # Same people, same hours.
        assert sorted((p.specialist_id, p.weekday, p.start) for p in plain.patterns) == \
            sorted((p.specialist_id, p.weekday, p.start) for p in rota.patterns)


def test_outputs_have_the_contract_columns(month: SimulationResult, tmp_path: Path) -> None:
    written = write_outputs(month.outcomes, tmp_path, roster=month.world.roster())
    with (tmp_path / "consults.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(REQUIRED) <= set(rows[0])
    assert len(rows) == 280
    assert {r["arm"] for r in rows} == {"policy", "baseline"}
    with (tmp_path / "summary.csv").open(newline="") as f:
        summary = list(csv.DictReader(f))
    assert len({(r["arm"], r["urgency"]) for r in summary}) == len(summary)
    assert {r["arm"] for r in summary} == {"policy", "baseline"}
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in written.files)
    assert "policy" in written.table and "baseline" in written.table


def test_the_command_prints_the_table_and_writes_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "--requests", "40", "--days", "3", "--seed", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ack<=30m" in printed and "baseline" in printed
    assert (out / "consults.csv").exists() and (out / "summary.csv").exists()
    assert main(["simulate", "--days", "0", "--out", str(out)]) == 2


def test_covered_urgent_consults_are_acknowledged_faster_under_the_policy(
    month: SimulationResult,
) -> None:
    from econsult.ops.simulate import urgent_ack_when_covered

    policy, baseline = urgent_ack_when_covered(month)
    assert policy.n == baseline.n > 0
    assert policy.acknowledged_pct >= baseline.acknowledged_pct
