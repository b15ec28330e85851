from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np

from simulators.fleet import FleetConfig, build_fleet
from simulators.machine import MachineSim
from simulators.scenarios import CoolingDegradation
from telemetry.wire import Kind, encode

# A Monday, so the working day starts at 07:00.
START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
STEP_S = 60.0


def run(machine: MachineSim, hours: float) -> list[tuple[object, object]]:
    out = []
    for i in range(int(hours * 3600 / STEP_S)):
        out.append(machine.step(START + timedelta(seconds=STEP_S * (i + 1)), STEP_S))
    return out


def tractor(seed: int = 1, **kw: object) -> MachineSim:
    return MachineSim(
        serial="TR-0001",
        kind=Kind.TRACTOR,
        rng=np.random.default_rng(seed),
        engine_hours=500.0,
        base_lat=52.0,
        base_lon=-1.0,
        **kw,
    )  # type: ignore[arg-type]


def test_engine_hours_are_monotonic_and_accrue_only_while_running() -> None:
    steps = run(tractor(), 48)
    hours = [r.engine_hours for r, _ in steps]  # type: ignore[attr-defined]
    assert all(b >= a for a, b in itertools.pairwise(hours))
    for (prev, _), (cur, _) in itertools.pairwise(steps):
        if cur.rpm == 0:  # type: ignore[attr-defined]
            assert cur.engine_hours == prev.engine_hours  # type: ignore[attr-defined]
    worked = hours[-1] - 500.0
    assert 15.0 < worked < 22.0  # two 11-hour shifts with short stops


def test_signals_stay_physically_plausible() -> None:
    for reading, _ in run(tractor(), 48):
        assert 0.0 <= reading.fuel_pct <= 100.0  # type: ignore[attr-defined]
        assert -10.0 < reading.coolant_c < 120.0  # type: ignore[attr-defined]


def test_same_seed_gives_the_same_bytes() -> None:
    a = [encode(r) for r, _ in run(tractor(seed=3), 12)]
    b = [encode(r) for r, _ in run(tractor(seed=3), 12)]
    c = [encode(r) for r, _ in run(tractor(seed=4), 12)]
    assert a == b
    assert a != c


def test_cooling_fault_precursor_precedes_its_dtc() -> None:
    onset = START + timedelta(hours=7)
    machine = tractor(scenarios=[CoolingDegradation(onset=onset, ramp_c_per_h=12.0)])
    steps = run(machine, 24)
    raised = next((r for _, r in steps if r is not None and r.active), None)  # type: ignore[attr-defined]
    assert raised is not None
    assert (raised.active[0].spn, raised.active[0].fmi) == (110, 0)
    assert raised.ts > onset
    hot_before = [r.coolant_c for r, _ in steps if onset <= r.ts < raised.ts]  # type: ignore[attr-defined]
    assert max(hot_before) > 95.0  # the coolant ran hot before the controller raised the code


def test_fleet_first_machine_starts_inside_its_service_lead() -> None:
    config = FleetConfig(serials=(("TR-0001", Kind.TRACTOR), ("EX-0001", Kind.EXCAVATOR)))
    machines = build_fleet(config, START)
    assert 975.0 <= machines[0].engine_hours < 1000.0
    assert machines[1].scenarios  # the second machine develops the demo's cooling fault
