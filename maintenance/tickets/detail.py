"""What a dispatcher reads beside a ticket: its SLA standing and the machine's telemetry around the
finding, bucketed, for the signals its evidence names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg import sql

from maintenance.tickets.model import CLOSED_STATUSES, Status
from telemetry.signals import BY_NAME

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# Six hours at five-minute buckets: a shift's worth of context in 72 points per signal, enough to
# see a trend into a fault without shipping raw readings (one a second at most) to a browser.
WINDOW: Final = timedelta(hours=6)
BUCKET: Final = timedelta(minutes=5)
# Evidence that names no signal (a due service, a silent machine) gets the engine's vital signs.
DEFAULT_SIGNALS: Final = ("rpm", "load_pct", "coolant_c", "oil_kpa", "fuel_pct", "battery_v")
MAX_SIGNALS: Final = 8
# Signals a DM1 fault's SPN measures (J1939 names), so a fault ticket shows the measurement behind
# the code: engine speed, fuel level, engine oil pressure, percent load, coolant temperature,
# vehicle speed, key switch and battery potential, fuel rate, engine hours, hydraulic oil
# temperature, DEF tank level.
SIGNAL_BY_SPN: Final[Mapping[int, str]] = {
    190: "rpm",
    96: "fuel_pct",
    100: "oil_kpa",
    92: "load_pct",
    110: "coolant_c",
    84: "speed_kmh",
    158: "battery_v",
    168: "battery_v",
    183: "fuel_lph",
    247: "engine_hours",
    1638: "hyd_oil_c",
    1761: "def_pct",
}
# lat/lon are a position, not a measurement to average.
_NOT_BUCKETED: Final = frozenset({"lat", "lon"})


@dataclass(frozen=True, slots=True)
class Sla:
    due_at: datetime
    remaining_s: int  # negative once breached; frozen at the finish for a finished ticket
    breached: bool


def sla(*, due_at: datetime, status: Status, finished_at: datetime | None, now: datetime) -> Sla:
    """A finished ticket is measured at the moment it was finished (resolved, closed or
    cancelled); a live one against `now`."""
    at = finished_at if status in CLOSED_STATUSES and finished_at is not None else now
    remaining = int((due_at - at).total_seconds())
    return Sla(due_at=due_at, remaining_s=remaining, breached=remaining < 0)


def signals_of(evidence: Iterable[Mapping[str, object]]) -> list[str]:
    """Signals the evidence names, in the order first named: an entry's `signal`, or the signal a
    fault's `spn` measures. DEFAULT_SIGNALS when it names none."""
    found: list[str] = []
    for entry in evidence:
        signal = entry.get("signal")
        spn = entry.get("spn")
        name = signal if isinstance(signal, str) else None
        if name is None and isinstance(spn, int):
            name = SIGNAL_BY_SPN.get(spn)
        if name in BY_NAME and name not in _NOT_BUCKETED and name not in found:
            found.append(name)
    return found[:MAX_SIGNALS] or list(DEFAULT_SIGNALS)


@dataclass(frozen=True, slots=True)
class Bucket:
    t: datetime
    mean: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class Series:
    signal: str
    unit: str
    buckets: list[Bucket]


@dataclass(frozen=True, slots=True)
class TelemetryWindow:
    start: datetime
    end: datetime
    bucket: timedelta
    series: list[Series]


NEWEST_READING: Final[LiteralString] = (
    "SELECT ts FROM machine_state WHERE machine_id = %(machine_id)s"
)
# {aggregates}: avg, min, max of each signal in turn. The range is an index range scan on
# readings (machine_id, ts DESC, seq) in the one or two chunks that hold it.
BUCKETED_READINGS: Final = sql.SQL("""
SELECT time_bucket(%(bucket)s, r.ts) AS t, {aggregates}
FROM readings r
WHERE r.machine_id = %(machine_id)s AND r.ts > %(start)s AND r.ts <= %(end)s
GROUP BY 1 ORDER BY 1
""")


def window_end(
    conn: Conn, *, machine_id: int, finished_at: datetime | None, now: datetime
) -> datetime:
    """The machine's newest reading, or the ticket's finish if that is earlier (a closed ticket
    shows the run-up to its fix, not today); `now` for a machine never heard from."""
    row = conn.execute(NEWEST_READING, {"machine_id": machine_id}).fetchone()
    newest = row[0] if row is not None and isinstance(row[0], datetime) else now
    return min(newest, finished_at) if finished_at is not None else newest


def telemetry_window(
    conn: Conn,
    *,
    machine_id: int,
    signals: Sequence[str],
    end: datetime,
    span: timedelta = WINDOW,
    bucket: timedelta = BUCKET,
) -> TelemetryWindow:
    """Mean, min and max of each signal per bucket over (end - span, end]; buckets without a
    reading are absent, so a gap in coverage shows as a gap."""
    unknown = [s for s in signals if s not in BY_NAME]
    if unknown:
        raise ValueError(f"not reading columns: {', '.join(unknown)}")
    aggregates = [
        sql.SQL("{f}({c})::float8").format(f=sql.SQL(f), c=sql.Identifier("r", s))
        for s in signals
        for f in ("avg", "min", "max")
    ]
    query = BUCKETED_READINGS.format(aggregates=sql.SQL(", ").join(aggregates))
    start = end - span
    rows = conn.execute(
        query, {"bucket": bucket, "machine_id": machine_id, "start": start, "end": end}
    ).fetchall()
    series = []
    for i, signal in enumerate(signals):
        col = 1 + 3 * i
        buckets = [
            Bucket(t=r[0], mean=r[col], min=r[col + 1], max=r[col + 2])  # type: ignore[arg-type]
            for r in rows
            if r[col] is not None
        ]
        series.append(Series(signal=signal, unit=BY_NAME[signal].unit, buckets=buckets))
    return TelemetryWindow(start=start, end=end, bucket=bucket, series=series)
