"""How the fleet's messages reach the broker: coverage gaps, store-and-forward and resends. No I/O.

A machine out working loses coverage now and then (a rate per working day); while it is out of
coverage its controller keeps every reading and DM1 report. When coverage returns it reconnects,
sends its live data first, then the backlog as batch messages (so the backlog arrives out of order
relative to live data), then sends its last few messages from before the gap again because it
never learnt whether they arrived (duplicates that ingest must absorb).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulators.machine import Step
from simulators.scenarios import Connectivity
from telemetry.wire import Channel, Dm1, Reading, encode

RUNNING_HOURS_PER_DAY = 10.0  # gaps_per_day is spread over a working day's engine hours


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish for a machine; seqs are the (machine, seq) pairs it carries."""

    machine: int
    channel: Channel
    payload: bytes
    seqs: tuple[int, ...]
    resend: bool = False


@dataclass(frozen=True, slots=True)
class LinkDown:
    machine: int


@dataclass(frozen=True, slots=True)
class LinkUp:
    machine: int


Action = Outgoing | LinkDown | LinkUp


@dataclass(slots=True)
class _Backlog:
    readings: list[Reading] = field(default_factory=list)
    reports: list[Dm1] = field(default_factory=list)


class Transmitter:
    """Turns the fleet's steps into an ordered list of link events and messages."""

    def __init__(self, n: int, connectivity: Connectivity, *, seed: int) -> None:
        self.conn = connectivity
        self.rng = np.random.default_rng([seed, 0xC0FFEE])
        self.gap_until_s = np.full(n, -1.0)
        self.in_gap = np.zeros(n, dtype=np.bool_)
        self.backlog: dict[int, _Backlog] = {}
        self.recent: list[deque[Outgoing]] = [
            deque(maxlen=connectivity.resend_last) for _ in range(n)
        ]
        self.gaps: list[tuple[int, float, float]] = []  # (machine, start s, end s): ground truth
        self._gap_start: dict[int, float] = {}

    def step(self, t_s: float, dt_s: float, step: Step) -> list[Action]:
        actions: list[Action] = []
        ended = self._coverage(t_s, dt_s, step.running, actions)
        for m, reading in step.readings:
            if self.in_gap[m]:
                self.backlog[m].readings.append(reading)
            else:
                self._send(actions, Outgoing(m, Channel.TELEMETRY, encode(reading), (reading.seq,)))
        for m, report in step.reports:
            if self.in_gap[m]:
                self.backlog[m].reports.append(report)
            else:
                self._send(actions, Outgoing(m, Channel.FAULTS, encode(report), (report.seq,)))
        for m in ended:
            self._flush_backlog(m, actions)
        return actions

    def close(self, t_s: float) -> list[Action]:
        """At the end of a run every machine regains coverage and sends what it holds."""
        actions: list[Action] = []
        for m in np.flatnonzero(self.in_gap).tolist():
            self.in_gap[m] = False
            self.gaps.append((m, self._gap_start.pop(m), t_s))
            actions.append(LinkUp(m))
            self._flush_backlog(m, actions)
        return actions

    def _coverage(
        self, t_s: float, dt_s: float, running: npt.NDArray[np.bool_], actions: list[Action]
    ) -> list[int]:
        ended = np.flatnonzero(self.in_gap & (self.gap_until_s <= t_s)).tolist()
        for m in ended:
            self.in_gap[m] = False
            self.gaps.append((m, self._gap_start.pop(m), t_s))
            actions.append(LinkUp(m))
        rate_per_s = self.conn.gaps_per_day / (RUNNING_HOURS_PER_DAY * 3600.0)
        if rate_per_s <= 0:
            return ended
        n = running.size
        start = running & ~self.in_gap & (self.rng.random(n) < rate_per_s * dt_s)
        start[ended] = False  # coverage just came back: it is not lost again in the same step
        for m in np.flatnonzero(start).tolist():
            low_h, high_h = self.conn.gap_h
            length_s = float(self.rng.uniform(low_h, high_h)) * 3600.0
            self.in_gap[m] = True
            self.gap_until_s[m] = t_s + length_s
            self._gap_start[m] = t_s
            self.backlog[m] = _Backlog()
            actions.append(LinkDown(m))
        return ended

    def _send(self, actions: list[Action], message: Outgoing) -> None:
        actions.append(message)
        if self.conn.resend_last:
            self.recent[message.machine].append(message)

    def _flush_backlog(self, m: int, actions: list[Action]) -> None:
        held = self.backlog.pop(m, _Backlog())
        size = self.conn.batch_max
        for i in range(0, len(held.readings), size):
            batch = held.readings[i : i + size]
            seqs = tuple(r.seq for r in batch)
            actions.append(Outgoing(m, Channel.TELEMETRY, encode(batch), seqs))
        for i in range(0, len(held.reports), size):
            reports = held.reports[i : i + size]
            seqs = tuple(r.seq for r in reports)
            actions.append(Outgoing(m, Channel.FAULTS, encode(reports), seqs))
        for old in list(self.recent[m]):
            actions.append(Outgoing(old.machine, old.channel, old.payload, old.seqs, resend=True))
