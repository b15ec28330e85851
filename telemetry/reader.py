"""Read side of telemetry for maintenance and the API: latest state per machine, recent windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from telemetry.signals import BY_NAME
from telemetry.wire import Dtc


@dataclass(frozen=True, slots=True)
class MachineState:
    machine_id: int
    ts: datetime | None
    engine_hours: float | None
    fuel_pct: float | None
    coolant_c: float | None
    lat: float | None
    lon: float | None
    faults_ts: datetime | None
    active_faults: list[dict[str, object]]
    online: bool | None

    def dtcs(self) -> list[Dtc]:
        return [
            Dtc(spn=int(f["spn"]), fmi=int(f["fmi"]), oc=int(f.get("oc", 1)))  # type: ignore[call-overload]
            for f in self.active_faults
        ]


STATE_OF_MACHINES: Final[LiteralString] = """
SELECT machine_id, ts, engine_hours, fuel_pct, coolant_c, lat, lon, faults_ts, active_faults, online
FROM machine_state WHERE machine_id = ANY(%(ids)s)
"""


def states(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> list[MachineState]:
    with conn.cursor(row_factory=class_row(MachineState)) as cur:
        return cur.execute(STATE_OF_MACHINES, {"ids": machine_ids}).fetchall()


# Readings of the given machines from `span` before each one's newest reading (machine_state.ts, by
# measured time) up to it: the newest reading however old, and the recent run before it even when a
# controller uploads hours of buffered history at once. OFFSET 0 keeps the planner from flattening
# the LATERAL subquery into a hash join over every chunk: per machine it stays an index range scan
# on readings (machine_id, ts DESC, seq) with TimescaleDB's runtime chunk exclusion (EXPLAIN: all
# but the chunks holding the span are "excluded during runtime").
# The machines come with their newest times (NEWEST_OF_MACHINES, read just before; the spans end
# at them, so the bounds hold whatever arrives meanwhile) in runs of close times (newest_runs).
# %(floor)s, the run's earliest newest less the span, and %(ceiling)s, its latest newest, bound
# every span with constants, so the planner keeps only the run's chunks:
# with the per-machine bounds alone it planned, and each machine's scan checked, every chunk of
# the table (705 daily chunks, two years: 31 ms planning and 21 ms execution for one machine); with
# one floor for all the machines, the service sweep's 300 machines, 6 of them last seen a year
# ago, kept 366 chunks and took 13.1 s, now 9 ms in two queries keeping 1 chunk each.
# {columns}: s.machine_id, r.ts, then the signals asked for, in that order.
RECENT_READINGS: Final = sql.SQL("""
SELECT {columns}
FROM unnest(%(ids)s::int8[], %(newest)s::timestamptz[]) AS s (machine_id, ts)
CROSS JOIN LATERAL (
    SELECT * FROM readings r
    WHERE r.machine_id = s.machine_id AND r.ts >= s.ts - %(span)s AND r.ts <= s.ts
      AND r.ts >= %(floor)s AND r.ts <= %(ceiling)s
    OFFSET 0
) r
""")
NEWEST_OF_MACHINES: Final[LiteralString] = """
SELECT ts, machine_id FROM machine_state WHERE machine_id = ANY(%(ids)s) AND ts IS NOT NULL
"""
# Machines whose newest readings are further apart than this are read by separate queries: a
# query bounded by its machines' earliest and latest newest reading keeps every chunk (one a day)
# between them, which costs more in planning and per-scan chunk checks than a round trip (~1 ms).
NEWEST_RUN_GAP: Final = timedelta(days=1)


def newest_runs(newest: Iterable[tuple[datetime, int]]) -> list[list[tuple[datetime, int]]]:
    """(newest, machine_id) pairs, oldest first, in runs whose consecutive newest times are at
    most NEWEST_RUN_GAP apart."""
    runs: list[list[tuple[datetime, int]]] = []
    for pair in sorted(newest):
        if runs and pair[0] - runs[-1][-1][0] <= NEWEST_RUN_GAP:
            runs[-1].append(pair)
        else:
            runs.append([pair])
    return runs


def run_bounds(run: list[tuple[datetime, int]], span: timedelta) -> dict[str, object]:
    """A run's query parameters: its machines' ids and newest times, in the same order, and the
    constant bounds that hold every machine's span: the earliest newest less `span` (floor) and
    the latest newest (ceiling)."""
    return {
        "ids": [machine_id for _, machine_id in run],
        "newest": [newest for newest, _ in run],
        "floor": run[0][0] - span,
        "ceiling": run[-1][0],
    }


OFFLINE_MACHINE_IDS: Final[LiteralString] = """
SELECT machine_id FROM machine_state WHERE machine_id = ANY(%(ids)s) AND online IS false
"""
MACHINES_REPORTING_SINCE: Final[LiteralString] = """
SELECT machine_id FROM machine_state WHERE ts >= %(since)s ORDER BY machine_id
"""


def recent_readings(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    machine_ids: list[int],
    span: timedelta,
    signals: Sequence[str],
) -> list[tuple[object, ...]]:
    """Rows `(machine_id, ts, *signals)` sorted by (machine_id, ts); see RECENT_READINGS. A span of
    zero gives each machine's newest reading alone. Unknown signal names raise ValueError."""
    unknown = [s for s in signals if s not in BY_NAME]
    if unknown:
        raise ValueError(f"not reading columns: {', '.join(unknown)}")
    columns = [sql.Identifier("s", "machine_id"), sql.Identifier("r", "ts")]
    columns += [sql.Identifier("r", name) for name in signals]
    query = RECENT_READINGS.format(columns=sql.SQL(", ").join(columns))
    newest = conn.execute(NEWEST_OF_MACHINES, {"ids": machine_ids}).fetchall()
    rows: list[tuple[object, ...]] = []
    for run in newest_runs(newest):  # type: ignore[arg-type]
        args = {**run_bounds(run, span), "span": span}
        # Unprepared: a custom plan with floor and ceiling known keeps only the chunks between.
        rows += conn.execute(query, args, prepare=False).fetchall()
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def offline_machine_ids(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> set[int]:
    """Machines whose last status message said offline."""
    rows = conn.execute(OFFLINE_MACHINE_IDS, {"ids": machine_ids}).fetchall()
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def machines_reporting_since(
    conn: psycopg.Connection[tuple[object, ...]], since: datetime
) -> list[int]:
    """Machines whose newest reading (measured time) is at or after `since`."""
    rows = conn.execute(MACHINES_REPORTING_SINCE, {"since": since}).fetchall()
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]
