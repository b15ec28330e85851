"""Runs a simulated fleet: the fleet model, its connectivity, and one MQTT connection per machine.

The simulated clock starts at `start` (default: `history_h` before now) and runs `speedup` times
faster than the wall clock until it reaches the present, then keeps pace with it, so no reading
is ever stamped in the future and days of operation fit into minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators.connectivity import LinkDown, LinkUp, Outgoing, Transmitter
from simulators.machine import FleetModel, MachineSpec
from simulators.mqtt_link import Link, LinkPool
from simulators.scenarios import Plan
from simulators.truth import GroundTruth
from telemetry.mqtt_packets import Will
from telemetry.wire import Channel, Status, encode, topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    machines: tuple[MachineSpec, ...]
    plan: Plan
    speedup: float = 720.0
    seed: int = 1
    sample_s: float = 60.0
    history_h: float = 24.0
    start: datetime | None = None  # a fixed start makes a run repeatable; default: now - history
    off_report_s: float = 600.0  # a parked machine's controller reports this often
    truth_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class RunStats:
    machines: int
    messages_published: int
    readings: int
    reports: int
    resends: int
    gaps: int
    acked: int  # includes the birth messages the links publish on every (re)connect
    refused: int
    unrouted: int  # PUBACKs "no matching subscribers": sent again until ingest took them
    unacknowledged: int
    simulated_until: datetime


class SimClock:
    def __init__(
        self, *, start: datetime, speedup: float, wall: Callable[[], float] = time.monotonic
    ) -> None:
        self.start, self.speedup, self._wall = start, speedup, wall
        self._wall_start = wall()

    def now(self) -> datetime:
        elapsed = (self._wall() - self._wall_start) * self.speedup
        return min(datetime.now(UTC), self.start + timedelta(seconds=elapsed))


def _start(config: FleetConfig) -> datetime:
    if config.start is not None:
        return config.start
    return (datetime.now(UTC) - timedelta(hours=config.history_h)).replace(microsecond=0)


def run(
    config: FleetConfig,
    *,
    passwords: Mapping[str, str],
    host: str,
    port: int,
    stop: threading.Event,
    duration_s: float | None = None,
) -> RunStats:
    """Publishes until stop is set or duration_s passes (or, with a fixed start, the simulated
    clock reaches start + history_h); every published message is acknowledged before it returns.
    """
    start = _start(config)
    end = start + timedelta(hours=config.history_h) if config.start is not None else None
    model = FleetModel(
        config.machines,
        config.plan,
        seed=config.seed,
        start=start,
        off_report_s=config.off_report_s,
    )
    transmitter = Transmitter(model.n, config.plan.connectivity, seed=config.seed)
    truth = GroundTruth(config.truth_dir) if config.truth_dir else None
    # A controller buffers readings through gaps; a broker that restarted and has not got its
    # ingest subscribers back yet is one more gap, so nobody receiving means not delivered.
    pool = LinkPool(host, port, hold_unrouted=True)
    links: list[Link] = []
    topics: list[dict[Channel, str]] = []
    for spec in model.specs:
        channels = {c: topic(spec.kind, spec.serial, c) for c in Channel}
        topics.append(channels)
        links.append(
            pool.add(
                f"ctl-{spec.serial}",
                spec.serial,
                passwords[spec.serial],
                will=Will(channels[Channel.STATUS], encode(Status(online=False))),
                birth=(channels[Channel.STATUS], encode(Status(online=True))),
            )
        )
    pool.connect_all(timeout_s=30.0)

    clock = SimClock(start=start, speedup=config.speedup)
    step_s = config.sample_s
    step = timedelta(seconds=step_s)
    sim_now = start
    published = readings = reports = resends = 0
    deadline = time.monotonic() + duration_s if duration_s else None

    def execute(actions: list[Outgoing | LinkDown | LinkUp]) -> None:
        nonlocal published, resends
        for action in actions:
            if isinstance(action, Outgoing):
                pool.publish(
                    links[action.machine], topics[action.machine][action.channel], action.payload
                )
                published += 1
                resends += action.resend
                if truth is not None:
                    truth.published(model.specs[action.machine].serial, action)
            elif isinstance(action, LinkDown):
                pool.drop(links[action.machine])
            else:
                pool.reconnect(links[action.machine])

    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        now = clock.now()
        if end is not None:
            now = min(now, end)
        while sim_now + step <= now and not stop.is_set():
            sim_now += step
            out = model.step(step_s)
            readings += len(out.readings)
            reports += len(out.reports)
            execute(transmitter.step(model.t_s, step_s, out))
            pool.pump(0.0)
            if deadline is not None and time.monotonic() >= deadline:
                break
        if end is not None and sim_now + step > end:
            break
        pool.pump(0.02)
    execute(transmitter.close(model.t_s))
    if not pool.flush(timeout_s=60.0):
        log.warning("simulator: %d messages still unacknowledged at the end", pool.pending)
    unacknowledged = pool.pending
    pool.close()
    if truth is not None:
        truth.finish(model, transmitter)
    return RunStats(
        machines=model.n,
        messages_published=published,
        readings=readings,
        reports=reports,
        resends=resends,
        gaps=len(transmitter.gaps),
        acked=pool.acked,
        refused=pool.refused,
        unrouted=pool.unrouted,
        unacknowledged=unacknowledged,
        simulated_until=sim_now,
    )
