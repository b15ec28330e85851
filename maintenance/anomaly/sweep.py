"""The fleet anomaly sweep: per-minute aggregates of recent readings from TimescaleDB -> the fleet
detector (maintenance.anomaly.fleet) -> findings through the ticket path, in one transaction; and
scoring one machine on demand.

The detector's state lives in the process that sweeps (the scheduler) and is saved to
`anomaly_state` every SAVE_EVERY, so a restart resumes from the last save: the minutes since then
are read again and each machine skips what its cursor says it has processed.

Which minutes a sweep reads: from the previous sweep's end minus RECHECK (so readings a machine
buffered through a short coverage gap are still scored when they arrive) up to now; each machine
up to its newest minute with readings that is at least SETTLE old. Readings that arrive later than
RECHECK after their minute are stored and seen by the rules, but not scored by the detector.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, LiteralString

import numpy as np
import psycopg

from maintenance.anomaly import snapshot
from maintenance.anomaly.findings import to_findings
from maintenance.anomaly.fleet import (
    MONITORED,
    READ_SIGNALS,
    AnomalyEvent,
    FleetState,
    MinuteFrame,
    sweep,
)
from maintenance.tickets.flows import apply_findings, resolve_cleared

log = logging.getLogger(__name__)

RECHECK: Final = timedelta(minutes=10)
FIRST_LOOKBACK: Final = timedelta(minutes=60)  # a detector with no saved state starts here
SETTLE: Final = timedelta(minutes=2)  # a minute this old has all its readings (ingest p99 < 1 s)
SAVE_EVERY: Final = timedelta(minutes=5)
DETECTOR: Final = "fleet"

# One row per machine and minute: the mean of each read signal and the share of readings with the
# engine running. `ts` is the controller's time; the bucket is the minute since the epoch.
MINUTES: Final[LiteralString] = """
SELECT r.machine_id, m.model,
       floor(extract(epoch FROM time_bucket('1 minute', r.ts)) / 60)::bigint AS minute,
       avg(r.coolant_c), avg(r.hyd_oil_c), avg(r.oil_kpa), avg(r.battery_v), avg(r.hyd_bar),
       avg(r.fuel_lph), avg(r.rpm), avg(r.load_pct),
       (count(*) FILTER (WHERE r.rpm > 0))::float8 / count(*) AS running
FROM readings r
JOIN machines m ON m.id = r.machine_id
WHERE r.ts >= %(since)s AND r.ts < %(until)s
  AND (%(machine_ids)s::bigint[] IS NULL OR r.machine_id = ANY(%(machine_ids)s::bigint[]))
GROUP BY r.machine_id, m.model, minute
ORDER BY r.machine_id, minute
"""
SAME_MODEL_PEERS: Final[LiteralString] = """
SELECT p.id FROM machines m JOIN machines p ON p.model = m.model AND p.id <> m.id
WHERE m.id = %(machine_id)s
ORDER BY p.id
LIMIT %(limit)s
"""
LOAD_STATE: Final[LiteralString] = "SELECT state FROM anomaly_state WHERE name = %(name)s"
SAVE_STATE: Final[LiteralString] = """
INSERT INTO anomaly_state (name, saved_at, machines, state)
VALUES (%(name)s, %(saved_at)s, %(machines)s, %(state)s)
ON CONFLICT (name) DO UPDATE
SET saved_at = EXCLUDED.saved_at, machines = EXCLUDED.machines, state = EXCLUDED.state
"""

assert READ_SIGNALS == (*MONITORED, "rpm", "load_pct"), "MINUTES reads the signals in this order"


def _minute(ts: datetime) -> int:
    return int(ts.timestamp() // 60)


def read_frame(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    machine_ids: list[int] | None = None,
) -> MinuteFrame | None:
    """The per-minute aggregates of [since, until) as a dense frame; None without readings."""
    rows = conn.execute(
        MINUTES, {"since": since, "until": until, "machine_ids": machine_ids}
    ).fetchall()
    if not rows:
        return None
    first, last = _minute(since), _minute(until) - 1
    ids = sorted({int(r[0]) for r in rows})  # type: ignore[call-overload]
    row_of = {m: k for k, m in enumerate(ids)}
    models: dict[int, str] = {}
    n, t = len(ids), last - first + 1
    data = np.full((n, t, len(READ_SIGNALS) + 1), np.nan)
    newest = np.full(n, first - 1, dtype=np.int64)
    for r in rows:
        k = row_of[int(r[0])]  # type: ignore[call-overload]
        models[int(r[0])] = str(r[1])  # type: ignore[call-overload]
        minute = int(r[2])  # type: ignore[call-overload]
        if first <= minute <= last:
            data[k, minute - first] = [np.nan if v is None else float(v) for v in r[3:]]  # type: ignore[arg-type]
            newest[k] = max(newest[k], minute)
    settled = _minute(now - SETTLE)
    return MinuteFrame(
        machine_ids=np.array(ids, dtype=np.int64),
        groups=[models[m] for m in ids],
        start_minute=first,
        values=data[:, :, : len(MONITORED)],
        rpm=data[:, :, len(MONITORED)],
        load=data[:, :, len(MONITORED) + 1],
        running=data[:, :, len(READ_SIGNALS)],
        valid_through=np.minimum(newest, settled),
    )


@dataclass(frozen=True, slots=True)
class SweepResult:
    machines: int
    minutes: int
    events: list[AnomalyEvent]
    opened: list[int]
    appended: list[int]
    resolved: list[int]
    seconds: float


@dataclass(slots=True)
class FleetSweeper:
    """Holds the detector's state between sweeps; one per scheduler process."""

    state: FleetState | None = None
    last_until: datetime | None = None
    last_saved: datetime | None = None
    name: str = DETECTOR
    _loaded: bool = field(default=False)

    def run(self, conn: psycopg.Connection[tuple[object, ...]], *, now: datetime) -> SweepResult:
        started = time.perf_counter()
        if not self._loaded:
            self.state = load_state(conn, name=self.name)
            self._loaded = True
        state = self.state if self.state is not None else FleetState()
        self.state = state
        since = (
            self.last_until - RECHECK
            if self.last_until is not None
            else _resume_point(state, now=now)
        )
        until = now.replace(second=0, microsecond=0)
        frame = read_frame(conn, since=since, until=until, now=now) if since < until else None
        events = sweep(state, frame) if frame is not None else []
        findings, clears = to_findings(events)
        applied = apply_findings(conn, findings, now=now)
        resolved = resolve_cleared(conn, clears=clears, now=now)
        self.last_until = until
        if self.last_saved is None or now - self.last_saved >= SAVE_EVERY:
            save_state(conn, state, name=self.name, now=now)
            self.last_saved = now
        return SweepResult(
            machines=0 if frame is None else len(frame.machine_ids),
            minutes=0 if frame is None else frame.minutes,
            events=events,
            opened=applied.opened,
            appended=applied.appended,
            resolved=resolved,
            seconds=time.perf_counter() - started,
        )


def _resume_point(state: FleetState, *, now: datetime) -> datetime:
    """Where a (re)started sweeper reads from: after the newest minute the saved state processed,
    at most FIRST_LOOKBACK back."""
    floor = now - FIRST_LOOKBACK
    if state.cursor.size == 0:
        return floor
    newest = datetime.fromtimestamp(float(state.cursor.max() + 1) * 60, tz=UTC) - RECHECK
    return max(floor, newest)


def load_state(conn: psycopg.Connection[tuple[object, ...]], *, name: str) -> FleetState | None:
    row = conn.execute(LOAD_STATE, {"name": name}).fetchone()
    if row is None:
        return None
    data = row[0]
    if not isinstance(data, bytes | memoryview):
        raise TypeError(f"anomaly_state.state is {type(data).__name__}, expected bytea")
    state = snapshot.loads(bytes(data))
    if state is None:
        log.warning("anomaly state %r was saved in another format; learning again", name)
    return state


def save_state(
    conn: psycopg.Connection[tuple[object, ...]], state: FleetState, *, name: str, now: datetime
) -> None:
    conn.execute(
        SAVE_STATE,
        {
            "name": name,
            "saved_at": now,
            "machines": len(state.rows),
            "state": snapshot.dumps(state),
        },
    )


@dataclass(frozen=True, slots=True)
class MachineReport:
    """One machine scored on demand: its alarm events over the span and, per signal, the latest
    observed and expected values (None where the detector could not judge it yet)."""

    machine_id: int
    since: datetime
    until: datetime
    peers: int
    events: list[AnomalyEvent]
    latest: dict[str, dict[str, float | None]]


def score_machine(
    conn: psycopg.Connection[tuple[object, ...]],
    machine_id: int,
    *,
    now: datetime,
    hours: float = 48.0,
    peers: int = 40,
) -> MachineReport:
    """Runs a fresh detector over the last `hours` of this machine and up to `peers` machines of
    its model (they give it the expectation at each load and the common mode), and reports this
    machine's events. Nothing is written. The sweep's own state is not used: the answer depends
    only on the readings, so it can be checked and repeated."""
    peer_ids = [
        int(r[0])  # type: ignore[call-overload]
        for r in conn.execute(
            SAME_MODEL_PEERS, {"machine_id": machine_id, "limit": peers}
        ).fetchall()
    ]
    since = now - timedelta(hours=hours)
    until = now.replace(second=0, microsecond=0)
    frame = read_frame(conn, since=since, until=until, now=now, machine_ids=[machine_id, *peer_ids])
    state = FleetState()
    events: list[AnomalyEvent] = []
    if frame is not None:
        # An hour per sweep: the peer model refits between them, as between scheduler sweeps.
        for t in range(0, frame.minutes, 60):
            part = frame.window(t, t + 60)
            events.extend(e for e in sweep(state, part) if e.machine_id == machine_id)
    latest: dict[str, dict[str, float | None]] = {}
    row = state.rows.get(machine_id)
    for s, signal in enumerate(MONITORED):
        judged = row is not None and state.learned[row, s] > 0
        latest[signal] = {
            "observed": float(state.short_obs[row, s]) if judged and row is not None else None,
            "expected": float(state.short_exp[row, s]) if judged and row is not None else None,
        }
    return MachineReport(
        machine_id=machine_id,
        since=since,
        until=until,
        peers=len(peer_ids),
        events=events,
        latest=latest,
    )
