"""Synthetic fleets for the fleet anomaly detector's tests: machines of one model whose signals
follow load, with an optional coolant fault on machine 0. Shared by the unit tests (frames) and
the integration tests (the same minutes written as readings)."""

from __future__ import annotations

import numpy as np

from maintenance.anomaly.fleet import MONITORED, MinuteFrame

COOLANT = MONITORED.index("coolant_c")
OIL = MONITORED.index("oil_kpa")
START = 29_000_000  # an absolute minute (2025)
SHIFT = 600  # running minutes per day
DAY = 720  # a compressed day: a 10-hour shift and 2 hours off


def synthetic_fleet(
    machines: int, days: int, *, seed: int, fault: str | None = None, fault_day: int = 3
) -> MinuteFrame:
    """Machines working a 10-hour shift each day at a varying load; every monitored signal is a
    linear function of load (plus rpm for oil), a per-machine offset and noise. Machine 0 may get
    a coolant fault from `fault_day`: 'step' (+6 C at once) or 'drift' (+1 C per running hour)."""
    rng = np.random.default_rng(seed)
    t = days * DAY
    minute_of_day = np.arange(t) % DAY
    on = (minute_of_day >= 60) & (minute_of_day < 60 + SHIFT)
    running = np.where(on, 1.0, np.nan)[None, :].repeat(machines, axis=0)
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
    values[:, ~on, :] = np.nan
    load = np.where(on, load, np.nan)
    rpm = np.where(on, rpm, np.nan)
    return MinuteFrame(
        machine_ids=np.arange(1, machines + 1, dtype=np.int64),
        groups=["M1"] * machines,
        start_minute=START,
        values=values,
        rpm=rpm,
        load=load,
        running=running,
        valid_through=np.full(machines, START + t - 1, dtype=np.int64),
    )
