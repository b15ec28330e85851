"""Runs a simulated fleet: builds machines from a seed and publishes them in accelerated time.

The simulated clock starts `history_h` in the past and runs `speedup` times faster than the wall
clock until it reaches the present, then keeps pace with it, so no reading is ever stamped in the
future and a day of operation fits into a short demo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from simulators.machine import MachineSim
from simulators.publisher import ControllerLink
from simulators.scenarios import DEMO_INTERVAL_H, CoolingDegradation
from telemetry.wire import Kind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    serials: tuple[tuple[str, Kind], ...]
    speedup: float = 720.0
    seed: int = 1
    sample_s: float = 60.0
    history_h: float = 24.0
    faulty: int = 1  # how many machines develop cooling degradation during the run


class SimClock:
    def __init__(
        self, *, start: datetime, speedup: float, wall: Callable[[], float] = time.monotonic
    ) -> None:
        self.start, self.speedup, self._wall = start, speedup, wall
        self._wall_start = wall()

    def now(self) -> datetime:
        elapsed = (self._wall() - self._wall_start) * self.speedup
        return min(datetime.now(UTC), self.start + timedelta(seconds=elapsed))


def build_fleet(config: FleetConfig, start: datetime) -> list[MachineSim]:
    machines: list[MachineSim] = []
    for index, (serial, kind) in enumerate(config.serials):
        rng = np.random.default_rng([config.seed, index])
        if index == 0:
            # The first machine is inside the lead window of its next service, so any demo shows
            # one.
            hours = DEMO_INTERVAL_H * 4 - 20.0
        else:
            hours = float(rng.uniform(50, 6000))
        scenarios = []
        if 0 < index <= config.faulty:
            onset = start + timedelta(hours=config.history_h * 0.1)
            scenarios.append(CoolingDegradation(onset=onset, ramp_c_per_h=12.0))
        machines.append(
            MachineSim(
                serial=serial,
                kind=kind,
                rng=rng,
                engine_hours=hours,
                base_lat=52.0 + float(rng.uniform(-1.0, 1.0)),
                base_lon=-1.0 + float(rng.uniform(-1.0, 1.0)),
                scenarios=scenarios,
            )
        )
    return machines


def run(
    config: FleetConfig,
    *,
    passwords: Mapping[str, str],
    host: str,
    port: int,
    stop: threading.Event,
    duration_s: float | None = None,
) -> int:
    """Publishes until stop is set or duration_s passes; returns the number of messages sent."""
    start = (datetime.now(UTC) - timedelta(hours=config.history_h)).replace(microsecond=0)
    machines = build_fleet(config, start)
    links = {
        m.serial: ControllerLink(
            kind=m.kind, serial=m.serial, password=passwords[m.serial], host=host, port=port
        )
        for m in machines
    }
    for link in links.values():
        if not link.connected.wait(timeout=15):
            raise RuntimeError(f"{link.serial}: could not connect to the broker at {host}:{port}")
    clock = SimClock(start=start, speedup=config.speedup)
    next_ts = {m.serial: start for m in machines}
    step = timedelta(seconds=config.sample_s)
    deadline = time.monotonic() + duration_s if duration_s else None
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        now = clock.now()
        for m in machines:
            link = links[m.serial]
            while next_ts[m.serial] + step <= now:
                next_ts[m.serial] += step
                reading, report = m.step(next_ts[m.serial], config.sample_s)
                link.send(reading)
                if report is not None:
                    link.send(report)
        stop.wait(0.05)
    for link in links.values():
        link.close()
    return sum(link.published for link in links.values())
