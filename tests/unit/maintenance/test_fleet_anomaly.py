"""The fleet anomaly detector on synthetic fleets: signals that follow load, a machine whose coolant
steps or drifts, a fuel ceiling that shows only at high load, noise alone; incremental sweeps,
bounded learning, snapshots. No services."""

from __future__ import annotations

import dataclasses

import numpy as np

from maintenance.anomaly import snapshot
from maintenance.anomaly.findings import rule_key, to_findings
from maintenance.anomaly.fleet import (
    OWN_WARM_MINUTES,
    AnomalyEvent,
    FleetState,
    MinuteFrame,
    sweep,
)
from maintenance.rules.model import Priority
from tests.anomaly_fleets import DAY, START, fuel_demand, synthetic_fleet, working_fleet


def chunks(frame: MinuteFrame, size: int) -> list[MinuteFrame]:
    return [frame.window(k, k + size) for k in range(0, frame.minutes, size)]


def run(frame: MinuteFrame, size: int = 60, state: FleetState | None = None) -> list[AnomalyEvent]:
    state = state if state is not None else FleetState()
    events: list[AnomalyEvent] = []
    for part in chunks(frame, size):
        events.extend(sweep(state, part))
    return events


def raised(events: list[AnomalyEvent]) -> list[AnomalyEvent]:
    return [e for e in events if e.kind == "raised"]


def test_noise_alone_raises_nothing() -> None:
    for seed in (1, 2):
        assert raised(run(synthetic_fleet(12, 4, seed=seed))) == []


def test_a_coolant_step_is_flagged_on_that_machine_and_signal_only() -> None:
    events = raised(run(synthetic_fleet(12, 4, seed=4, fault="step")))
    assert events, "a 6 C step (15 noise sigmas) must be flagged"
    assert {(e.machine_id, e.signal) for e in events} == {(1, "coolant_c")}
    first = events[0]
    assert first.minute - START < 3 * DAY + 60 + 60, "within the first working hour of the step"
    # The 10-minute means have caught up two thirds of the step when the alarm is raised.
    assert 3.0 < first.observed - first.expected < 7.0


def test_a_slow_coolant_drift_is_flagged_before_it_reaches_five_degrees() -> None:
    events = raised(run(synthetic_fleet(12, 5, seed=5, fault="drift")))
    hits = [e for e in events if e.machine_id == 1 and e.signal == "coolant_c"]
    assert hits
    run_hours = (hits[0].minute - (START + 3 * DAY + 60)) / 60.0
    assert 0 < run_hours < 5.0  # +1 C per running hour: flagged below +5 C
    assert all(e.machine_id == 1 for e in events)


def test_a_machine_that_works_harder_than_its_peers_is_not_flagged() -> None:
    frame = synthetic_fleet(12, 4, seed=6)
    # Machine 0 runs at a much higher load; its signals follow the same load relation.
    load = np.where(np.isfinite(frame.load[0]), np.minimum(frame.load[0] + 30, 98), np.nan)
    extra = load - frame.load[0]
    frame.values[0, :, 0] += 0.12 * extra
    frame.values[0, :, 1] += 0.2 * extra
    frame.values[0, :, 4] += 1.4 * extra
    frame.values[0, :, 5] += 0.25 * extra
    frame.load[0] = load
    assert raised(run(frame)) == []


def test_fuel_that_burns_as_power_across_idle_work_and_travel_raises_nothing() -> None:
    for seed in (1, 2):
        assert raised(run(working_fleet(12, 6, seed=seed))) == []


def test_a_fuel_ceiling_that_shows_only_near_full_power_is_flagged_on_fuel() -> None:
    frame = working_fleet(12, 6, seed=1, fuel_cap_lph=31.0)
    late = (frame.load[0, 3 * DAY :], frame.rpm[0, 3 * DAY :])
    demand = fuel_demand(*late)
    capped = demand[np.isfinite(demand)] > 31.0
    # Few minutes are short, so a mean over every minute hides them unless the fuel expected at
    # full power is right (a shrunk fit read healthy machines there as burning too much).
    assert 0.02 < capped.mean() < 0.1
    events = raised(run(frame))
    assert events
    assert {(e.machine_id, e.signal) for e in events} == {(1, "fuel_lph")}
    assert events[0].minute >= START + 3 * DAY
    assert events[0].observed < events[0].expected


def test_each_minute_is_processed_once_whatever_the_sweep_size() -> None:
    frame = synthetic_fleet(10, 4, seed=7, fault="step")
    by_hour = run(frame, size=60)
    by_minute_overlapping = FleetState()
    events: list[AnomalyEvent] = []
    # Sweeps that overlap (each re-reads the last 10 minutes) process every minute once.
    for k in range(0, frame.minutes, 60):
        part = frame.window(max(0, k - 10), k + 60)
        events.extend(sweep(by_minute_overlapping, part))
    assert [(e.machine_id, e.signal, e.kind) for e in raised(events)] == [
        (e.machine_id, e.signal, e.kind) for e in raised(by_hour)
    ]


def test_a_machine_waits_for_its_late_minutes() -> None:
    frame = synthetic_fleet(8, 2, seed=8)
    state = FleetState()
    held = dataclasses.replace(
        frame, valid_through=np.where(frame.machine_ids == 3, START + 100, frame.valid_through)
    )
    sweep(state, held)
    assert state.cursor[state.rows[3]] == START + 100
    assert state.cursor[state.rows[1]] == START + frame.minutes - 1


def test_nothing_is_judged_before_the_machine_has_learned() -> None:
    frame = synthetic_fleet(16, 1, seed=9, fault="step", fault_day=0)
    state = FleetState()
    assert raised(run(frame, state=state)) == []
    assert state.learned.max() <= OWN_WARM_MINUTES


def test_snapshot_round_trip_continues_identically() -> None:
    frame = synthetic_fleet(10, 4, seed=10, fault="step")
    parts = chunks(frame, 60)
    half = len(parts) // 2
    straight = FleetState()
    restored = FleetState()
    for part in parts[:half]:
        sweep(straight, part)
        sweep(restored, part)
    restored = snapshot.loads(snapshot.dumps(restored)) or FleetState()
    tail_a = [e for part in parts[half:] for e in sweep(straight, part)]
    tail_b = [e for part in parts[half:] for e in sweep(restored, part)]
    assert tail_a == tail_b
    assert raised(tail_a)


def test_events_become_findings_one_kind_per_signal() -> None:
    events = run(synthetic_fleet(12, 4, seed=4, fault="step"))
    findings, clears = to_findings(events)
    assert findings
    assert {f.rule_key for f in findings} == {rule_key("coolant_c")}
    first = findings[0]
    assert first.priority is Priority.LOW
    assert first.evidence["signal"] == "coolant_c"
    assert first.evidence["observed"] > first.evidence["expected"]  # type: ignore[operator]
    sustained = [f for f in findings if f.evidence["event"] == "sustained"]
    assert sustained
    assert all(f.priority is Priority.NORMAL for f in sustained)
    assert all(c.rule_key == rule_key("coolant_c") for c in clears)
