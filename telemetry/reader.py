"""Read side of telemetry for maintenance and the API: latest state per machine, recent windows."""

from __future__ import annotations

from collections.abc import Sequence
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
# %(floor)s, the oldest of the machines' newest readings less the span (OLDEST_NEWEST, read just
# before), bounds every span with a constant, so the planner keeps only the chunks from there on:
# with the per-machine bounds alone it planned, and each machine's scan checked, every chunk of
# the table (705 daily chunks, two years: 31 ms planning and 21 ms execution for one machine).
# machine_state.ts never moves backwards, so the floor read first holds for the query's snapshot.
# {columns}: s.machine_id, r.ts, then the signals asked for, in that order.
RECENT_READINGS: Final = sql.SQL("""
SELECT {columns}
FROM machine_state s
CROSS JOIN LATERAL (
    SELECT * FROM readings r
    WHERE r.machine_id = s.machine_id AND r.ts >= s.ts - %(span)s AND r.ts <= s.ts
      AND r.ts >= %(floor)s
    OFFSET 0
) r
WHERE s.machine_id = ANY(%(ids)s) AND s.ts IS NOT NULL
ORDER BY s.machine_id, r.ts
""")
OLDEST_NEWEST: Final[LiteralString] = """
SELECT min(ts) FROM machine_state WHERE machine_id = ANY(%(ids)s)
"""
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
    oldest = conn.execute(OLDEST_NEWEST, {"ids": machine_ids}).fetchone()
    if oldest is None or oldest[0] is None:
        return []  # none of them has a reading
    query = RECENT_READINGS.format(columns=sql.SQL(", ").join(columns))
    args = {"ids": machine_ids, "span": span, "floor": oldest[0] - span}  # type: ignore[operator]
    # Unprepared: a custom plan with the floor known keeps only the chunks from it on.
    return conn.execute(query, args, prepare=False).fetchall()


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
