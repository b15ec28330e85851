"""Physics invariants, fault precursors, DM1 semantics and determinism of the fleet model."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from simulators.machine import FleetModel, MachineSpec
from simulators.profiles import demo_model
from simulators.scenarios import Connectivity, Injection, Plan
from telemetry.wire import Dm1, Kind, Reading

# A Monday at midnight UTC, so a run covers working days, a Saturday and a Sunday.
START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
STEP_S = 60.0
COARSE_S = 300.0  # multi-day fault runs: five-minute steps keep the unit tests fast


def fleet(n_tractors: int = 6, n_excavators: int = 6) -> list[MachineSpec]:
    return [
        MachineSpec(f"TR-{i:04d}", Kind.TRACTOR, demo_model(Kind.TRACTOR, i))
        for i in range(1, n_tractors + 1)
    ] + [
        MachineSpec(f"EX-{i:04d}", Kind.EXCAVATOR, demo_model(Kind.EXCAVATOR, i))
        for i in range(1, n_excavators + 1)
    ]


def run(
    model: FleetModel, hours: float, step_s: float = STEP_S
) -> tuple[dict[int, list[Reading]], dict[int, list[Dm1]], list[np.ndarray]]:
    readings: dict[int, list[Reading]] = defaultdict(list)
    reports: dict[int, list[Dm1]] = defaultdict(list)
    running = []
    for _ in range(int(hours * 3600 / step_s)):
        step = model.step(step_s)
        for m, r in step.readings:
            readings[m].append(r)
        for m, d in step.reports:
            reports[m].append(d)
        running.append(step.running.copy())
    return readings, reports, running


@pytest.fixture(scope="module")
def week() -> tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]]:
    model = FleetModel(fleet(), Plan(version=1), seed=3, start=START, off_report_s=120.0)
    readings, reports, _ = run(model, 7 * 24, 120.0)
    return model, readings, reports


def test_engine_hours_are_monotonic_and_accrue_only_while_the_engine_runs(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    _model, readings, _ = week
    for rows in readings.values():
        for prev, cur in itertools.pairwise(rows):
            assert cur.engine_hours >= prev.engine_hours
            if cur.rpm == 0 and prev.rpm == 0:
                assert cur.engine_hours == prev.engine_hours
            # Idle hours are part of engine hours: they never grow faster.
            assert cur.idle_hours is not None
            assert prev.idle_hours is not None
            assert (
                0 <= cur.idle_hours - prev.idle_hours <= cur.engine_hours - prev.engine_hours + 2e-3
            )
            # Between two readings the engine ran at most the time between them.
            span_h = (cur.ts - prev.ts).total_seconds() / 3600
            assert cur.engine_hours - prev.engine_hours <= span_h + 1e-3
    worked = [rows[-1].engine_hours - rows[0].engine_hours for rows in readings.values()]
    # Five or six shifts of 8-11 hours with stops: tens of hours a week, never a whole week.
    assert all(25 < w < 70 for w in worked), worked


def test_nobody_works_on_sunday(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    _, readings, _ = week
    sunday = [r for rows in readings.values() for r in rows if r.ts.weekday() == 6]
    assert sunday
    assert all(r.rpm == 0 for r in sunday)


def test_signals_stay_physically_plausible(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    _, readings, _ = week
    for rows in readings.values():
        for r in rows:
            assert r.fuel_pct is not None
            assert 0.0 <= r.fuel_pct <= 100.0
            assert r.def_pct is None or 0.0 <= r.def_pct <= 100.0
            assert r.coolant_c is not None
            assert -20 < r.coolant_c < 112
            assert r.hyd_oil_c is not None
            assert -20 < r.hyd_oil_c < 100
            assert r.oil_kpa is not None
            assert r.oil_kpa >= 0
            assert r.battery_v is not None
            assert 11.5 < r.battery_v < 14.6
            assert r.load_pct is not None
            assert 0 <= r.load_pct <= 100
            if r.rpm:
                assert r.coolant_c is not None
                assert r.oil_kpa is not None
                assert r.oil_kpa > 100
            else:
                assert r.load_pct == 0
                assert r.fuel_lph == 0
                assert r.speed_kmh == 0


def test_warm_running_engines_sit_near_their_thermostat_and_hotter_under_load(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    _, readings, _ = week
    warm = [
        r
        for rows in readings.values()
        for prev, r in itertools.pairwise(rows)
        if r.rpm and prev.rpm and r.coolant_c and r.coolant_c > 70
    ]
    light = [r.coolant_c for r in warm if r.load_pct is not None and r.load_pct < 30]
    heavy = [r.coolant_c for r in warm if r.load_pct is not None and r.load_pct > 70]
    assert 75 < float(np.median(heavy)) < 100
    assert float(np.median(heavy)) > float(np.median(light)) + 2


def test_kinds_report_their_own_signals(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    model, readings, _ = week
    for m, rows in readings.items():
        if model.specs[m].kind is Kind.TRACTOR:
            assert all(r.boom_cycles is None and r.pto_rpm is not None for r in rows)
            assert any(r.pto_rpm for r in rows)
        else:
            assert all(r.pto_rpm is None and r.boom_cycles is not None for r in rows)
            cycles = [r.boom_cycles for r in rows if r.boom_cycles is not None]
            assert cycles == sorted(cycles)
            assert cycles[-1] > 500


def test_fuel_is_burnt_and_refilled(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    _, readings, _ = week
    for rows in readings.values():
        levels = [r.fuel_pct for r in rows if r.fuel_pct is not None]
        drops = sum(1 for a, b in itertools.pairwise(levels) if b < a)
        refills = sum(1 for a, b in itertools.pairwise(levels) if b > a + 5)
        assert drops > 100
        assert refills >= 1


def test_a_machine_stays_on_its_farm_or_site(
    week: tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]],
) -> None:
    model, readings, _ = week
    for m, rows in readings.items():
        lat = np.array([r.lat for r in rows])
        lon = np.array([r.lon for r in rows])
        north = (lat - model.home_lat[m]) * 111
        east = (lon - model.home_lon[m]) * 111 * np.cos(np.radians(model.home_lat[m]))
        assert float(np.hypot(north, east).max()) < model.radius_km[m] + 2.0


def faulty(
    fault: str, *, speed: float = 1.0, hours: float = 24 * 7, seed: int = 11
) -> tuple[FleetModel, dict[int, list[Reading]], dict[int, list[Dm1]]]:
    plan = Plan(
        version=1,
        injections=[
            Injection(fault=fault, machines=1, onset_h=[30, 30], speed=speed, serials=["TR-0001"])
        ],
    )
    model = FleetModel(fleet(2, 1), plan, seed=seed, start=START, off_report_s=COARSE_S)
    readings, reports, _ = run(model, hours, COARSE_S)
    return model, readings, reports


def test_cooling_degradation_runs_hot_under_load_before_it_raises_spn_110() -> None:
    model, readings, reports = faulty("cooling-degradation")
    (inj,) = model.injected
    assert inj.first_dtc is not None, "the fault never reached its DTC in a week"
    assert (inj.first_dtc - inj.onset) > timedelta(hours=6)  # a gradual precursor, not a step
    first = inj.episodes[0]
    assert (first.spn, first.fmi) == (110, 16)

    def hot_share(rows: list[Reading]) -> float:
        working = [r for r in rows if r.rpm and r.load_pct and r.load_pct > 50]
        return float(np.median([r.coolant_c for r in working]))

    before = [r for r in readings[0] if r.ts < inj.onset]
    precursor = [
        r for r in readings[0] if inj.first_dtc - timedelta(hours=6) <= r.ts < inj.first_dtc
    ]
    healthy_peer = [r for r in readings[1] if r.ts < inj.first_dtc]
    assert hot_share(precursor) > hot_share(before) + 6
    assert hot_share(precursor) > hot_share(healthy_peer) + 6
    # Every DM1 the machine sent lists its active codes, and a cleared code leaves the list.
    lists = [{(d.spn, d.fmi) for d in report.active} for report in reports[0]]
    assert lists[0] == {(110, 16)}
    assert set() in lists  # cleared at least once (engine stopped, coolant down)
    counts = [d.oc for report in reports[0] for d in report.active if (d.spn, d.fmi) == (110, 16)]
    assert counts == sorted(counts)
    assert counts[-1] >= 2


def test_oil_pressure_sags_before_spn_100() -> None:
    model, readings, _ = faulty("oil-pressure-loss", speed=2.0)
    (inj,) = model.injected
    assert inj.first_dtc is not None
    assert inj.first_dtc > inj.onset
    at_work = [r for r in readings[0] if r.rpm and r.rpm > 1500]
    before = [r.oil_kpa for r in at_work if r.ts < inj.onset]
    late = [r.oil_kpa for r in at_work if inj.first_dtc - timedelta(days=1) <= r.ts < inj.first_dtc]
    assert float(np.median(late)) < 0.85 * float(np.median(before))


GRADUAL = (
    "water-in-fuel",
    "fuel-filter-restriction",
    "hydraulic-overheating",
    "hydraulic-leak",
    "charging-failure",
    "def-not-refilled",
    "dpf-soot-load",
)


@pytest.fixture(scope="module")
def one_fault_each() -> tuple[FleetModel, dict[int, list[Dm1]]]:
    """Ten days of a fleet in which tractor n develops the n-th gradual fault."""
    specs = fleet(len(GRADUAL), 0)
    plan = Plan(
        version=1,
        injections=[
            Injection(fault=f, machines=1, onset_h=[30, 30], speed=3.0, serials=[s.serial])
            for f, s in zip(GRADUAL, specs, strict=True)
        ],
    )
    model = FleetModel(specs, plan, seed=11, start=START, off_report_s=COARSE_S)
    _, reports, _ = run(model, 24 * 10, COARSE_S)
    return model, reports


@pytest.mark.parametrize("fault", GRADUAL)
def test_every_gradual_fault_raises_its_dtc_after_its_onset(
    fault: str, one_fault_each: tuple[FleetModel, dict[int, list[Dm1]]]
) -> None:
    model, reports = one_fault_each
    (inj,) = [i for i in model.injected if i.fault.name == fault]
    assert inj.first_dtc is not None, f"{fault} raised no DTC in ten days"
    assert inj.first_dtc >= inj.onset
    expected = {(d.spn, d.fmi) for d in inj.fault.dtcs}
    raised = {(d.spn, d.fmi) for report in reports[inj.machine] for d in report.active}
    assert raised
    assert raised <= expected


def test_an_intermittent_code_raises_and_clears_by_itself() -> None:
    model, _, reports = faulty("crank-sensor-noise", speed=1.0, hours=24 * 8)
    (inj,) = model.injected
    assert len(inj.episodes) >= 2
    assert all(e.cleared is not None for e in inj.episodes[:-1])
    assert max(d.oc for r in reports[0] for d in r.active) == len(inj.episodes)


def test_the_same_seed_gives_the_same_readings_and_another_seed_does_not() -> None:
    def digest(seed: int) -> list[bytes]:
        from telemetry.wire import encode

        plan = Plan(
            version=1,
            injections=[Injection(fault="cooling-degradation", machines=1, onset_h=[1, 5])],
            connectivity=Connectivity(skewed_share=0.5),
        )
        model = FleetModel(fleet(3, 3), plan, seed=seed, start=START)
        out = []
        for _ in range(600):
            step = model.step(STEP_S)
            out.extend(encode(r) for _, r in step.readings)
            out.extend(encode(d) for _, d in step.reports)
        return out

    assert digest(5) == digest(5)
    assert digest(5) != digest(6)


def test_clock_skew_shifts_a_machines_timestamps_by_a_constant() -> None:
    plan = Plan(version=1, connectivity=Connectivity(skewed_share=1.0, skew_s=[30, 30]))
    model = FleetModel(fleet(1, 0), plan, seed=1, start=START)
    step = model.step(STEP_S)
    ((_, reading),) = step.readings
    assert reading.ts == START + timedelta(seconds=STEP_S + 30)
