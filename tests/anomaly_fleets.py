"""Synthetic fleets for the fleet anomaly detector's tests: machines of one model whose signals
follow load, with an optional coolant fault on machine 0, or whose fuel burns as power does, with
an optional fuel ceiling on machine 0. Shared by the unit tests (frames) and the integration tests
(the same minutes written as readings)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from maintenance.anomaly.fleet import MONITORED, MinuteFrame

COOLANT = MONITORED.index("coolant_c")
OIL = MONITORED.index("oil_kpa")
FUEL = MONITORED.index("fuel_lph")
START = 29_000_000  # an absolute minute (2025)
SHIFT = 600  # running minutes per day
DAY = 720  # a compressed day: a 10-hour shift and 2 hours off
IDLE_RPM, RATED_RPM = 850.0, 2400.0
IDLE_LPH, FULL_LPH = 3.0, 40.0


def _on_shift(minutes: int) -> npt.NDArray[np.bool_]:
    minute_of_day = np.arange(minutes) % DAY
    return (minute_of_day >= 60) & (minute_of_day < 60 + SHIFT)


def _frame(
    values: npt.NDArray[np.float64],
    *,
    rpm: npt.NDArray[np.float64],
    load: npt.NDArray[np.float64],
    on: npt.NDArray[np.bool_],
) -> MinuteFrame:
    """The machines' minutes as a sweep reads them: nothing off shift."""
    machines, t = load.shape
    values[:, ~on, :] = np.nan
    return MinuteFrame(
        machine_ids=np.arange(1, machines + 1, dtype=np.int64),
        groups=["M1"] * machines,
        start_minute=START,
        values=values,
        rpm=np.where(on, rpm, np.nan),
        load=np.where(on, load, np.nan),
        running=np.where(on, 1.0, np.nan)[None, :].repeat(machines, axis=0),
        valid_through=np.full(machines, START + t - 1, dtype=np.int64),
    )


def synthetic_fleet(
    machines: int, days: int, *, seed: int, fault: str | None = None, fault_day: int = 3
) -> MinuteFrame:
    """Machines working a 10-hour shift each day at a varying load; every monitored signal is a
    linear function of load (plus rpm for oil), a per-machine offset and noise. Machine 0 may get
    a coolant fault from `fault_day`: 'step' (+6 C at once) or 'drift' (+1 C per running hour)."""
    rng = np.random.default_rng(seed)
    t = days * DAY
    on = _on_shift(t)
    load = np.clip(
        50
        + 25 * np.sin(np.arange(t)[None, :] / 37.0 + rng.uniform(0, 6, (machines, 1)))
        + rng.normal(0, 5, (machines, t)),
        5,
        95,
    )
    rpm = 900 + 12 * load
    values = np.zeros((machines, t, len(MONITORED)))
    base = rng.normal(0, 1.0, (machines, 1, len(MONITORED)))
    values[..., 0] = 82 + 0.12 * load + base[..., 0] + rng.normal(0, 0.4, (machines, t))
    values[..., 1] = 55 + 0.2 * load + base[..., 1] + rng.normal(0, 0.5, (machines, t))
    values[..., 2] = 150 + 0.12 * (rpm - 900) + 5 * base[..., 2] + rng.normal(0, 4, (machines, t))
    values[..., 3] = 14.1 + 0.02 * base[..., 3] + rng.normal(0, 0.02, (machines, t))
    values[..., 4] = 30 + 1.4 * load + 2 * base[..., 4] + rng.normal(0, 2, (machines, t))
    values[..., 5] = 3 + 0.25 * load + 0.3 * base[..., 5] + rng.normal(0, 0.3, (machines, t))
    if fault is not None:
        start = fault_day * DAY
        if fault == "step":
            values[0, start:, COOLANT] += 6.0
        else:
            run_hours = np.cumsum(on[start:]) / 60.0
            values[0, start:, COOLANT] += 1.0 * run_hours
    return _frame(values, rpm=rpm, load=load, on=on)


def fuel_demand(
    load: npt.NDArray[np.float64], rpm: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Fuel (lph) burnt as power: idle fuel plus full-load fuel x load x rpm / rated."""
    return IDLE_LPH + (FULL_LPH - IDLE_LPH) * load / 100 * rpm / RATED_RPM


def working_fleet(
    machines: int, days: int, *, seed: int, fuel_cap_lph: float | None = None
) -> MinuteFrame:
    """Machines of one model that alternate idle, work at governed speed and travel (speed rises
    with load), in spells of 10-60 minutes; fuel burns as power does (fuel_demand); the other
    signals are noise. From day 3, machine 0's fuel flow may be capped at fuel_cap_lph (a plugging
    filter): only its minutes near full power are short."""
    rng = np.random.default_rng(seed)
    t = days * DAY
    mode = np.zeros((machines, t), dtype=np.int64)  # 0 idle, 1 work, 2 travel
    level = np.zeros((machines, t))
    for m in range(machines):
        k = 0
        while k < t:
            spell = int(rng.integers(10, 60))
            mode[m, k : k + spell] = chosen = int(rng.choice(3, p=[0.2, 0.5, 0.3]))
            level[m, k : k + spell] = (8.0, rng.uniform(40, 90), rng.uniform(30, 80))[chosen]
            k += spell
    load = np.clip(level + rng.normal(0, 4, (machines, t)), 3, 100)
    travel_rpm = IDLE_RPM + (RATED_RPM - IDLE_RPM) * (0.55 + 0.35 * load / 100)
    rpm = np.select([mode == 0, mode == 1], [IDLE_RPM, RATED_RPM - 150], travel_rpm)
    rpm = rpm + rng.normal(0, 12, (machines, t))
    fuel = fuel_demand(load, rpm)
    if fuel_cap_lph is not None:
        fuel[0, 3 * DAY :] = np.minimum(fuel[0, 3 * DAY :], fuel_cap_lph)
    level_of = np.array([85.0, 60.0, 300.0, 14.1, 150.0, 0.0])
    noise_of = np.array([0.4, 0.5, 4.0, 0.02, 2.0, 0.0])
    values = level_of + rng.normal(0, 1, (machines, t, len(MONITORED))) * noise_of
    values[..., FUEL] = np.round(fuel + rng.normal(0, 0.05, (machines, t)), 1)
    return _frame(values, rpm=rpm, load=load, on=_on_shift(t))
