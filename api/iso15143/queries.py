"""SQL behind the ISO 15143-3 interface, always within the caller's scope of machines.

Scope is a predicate on `machines m` chosen in Python (owner, dealer, or everything), not an
`owner_id IS NULL OR ...` parameter trick, so each variant plans on its own index
(machines_owner_idx, machines_dealer_idx).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from api.iso15143.documents import (
    DataItem,
    EngineState,
    EquipmentRow,
    FaultOnset,
    Position,
    Sample,
    SeriesRow,
)
from telemetry.reader import newest_runs, run_bounds

Conn = psycopg.Connection[tuple[object, ...]]

# A snapshot element missing from a machine's newest reading is taken from the newest reading
# that has it, looking back at most this far from the newest one: a signal the machine never
# sends costs an index range scan of this span, not of its whole history.
SNAPSHOT_LOOKBACK: Final = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Scope:
    """The machines a caller may see: one owner's, one dealer's, or (both None) all."""

    owner_id: int | None = None
    dealer_id: int | None = None


def _scope(scope: Scope) -> tuple[sql.Composable, dict[str, object]]:
    if scope.owner_id is not None:
        return sql.SQL("m.owner_id = %(scope_id)s"), {"scope_id": scope.owner_id}
    if scope.dealer_id is not None:
        return sql.SQL("m.dealer_id = %(scope_id)s"), {"scope_id": scope.dealer_id}
    return sql.SQL("true"), {}


FLEET_COUNT: Final = sql.SQL("SELECT count(*) FROM machines m WHERE {scope}")

# The page's machines (ORDER BY id: a new machine never moves older ones to another page) with
# their newest measured time, machine_state.ts (NULL for a machine that has never sent a reading).
SNAPSHOT_PAGE: Final = sql.SQL("""
SELECT m.id, m.serial, m.model, m.pin, s.ts AS newest
FROM machines m
LEFT JOIN machine_state s ON s.machine_id = m.id
WHERE {scope} AND {where}
ORDER BY m.id
LIMIT %(limit)s OFFSET %(offset)s
""")
# The newest value of each element for machines given with their newest time. Each LATERAL is a
# backward index scan on readings (machine_id, ts DESC, seq) from p.newest, stopping at the first
# row that has the element; LIMIT 1 keeps the planner from flattening it into a join.
# p.newest is known only at run time, so with its bounds alone the planner kept, and every probe
# checked, every chunk of readings. %(floor)s (the earliest of the machines' newest times less the
# look-back) and %(ceiling)s (the latest of them) hold every machine's span, and as constants in an
# unprepared query they let a custom plan keep only the chunks between them. On a scratch database
# with 706 daily chunks (two years), 30 machines seen within the hour took 316 ms planning + 708 ms
# execution with all 706 chunks planned, now 0.7 + 1.4 ms with 1; one machine 323 + 91 ms, now
# 0.9 + 0.3 ms. The page is read first and passed in with its newest times (NULL ones skipped).
NEWEST_ELEMENTS: Final[LiteralString] = """
SELECT p.id AS machine_id,
       h.ts AS hours_ts, h.engine_hours,
       i.ts AS idle_ts, i.idle_hours,
       l.ts AS location_ts, l.lat, l.lon,
       f.ts AS fuel_ts, f.fuel_pct,
       d.ts AS def_ts, d.def_pct,
       e.ts AS engine_ts, e.rpm
FROM unnest(%(ids)s::int8[], %(newest)s::timestamptz[]) AS p (id, newest)
LEFT JOIN LATERAL (
    SELECT r.ts, r.engine_hours FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s
    ORDER BY r.ts DESC LIMIT 1
) h ON true
LEFT JOIN LATERAL (
    SELECT r.ts, r.idle_hours FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s AND r.idle_hours IS NOT NULL
    ORDER BY r.ts DESC LIMIT 1
) i ON true
LEFT JOIN LATERAL (
    SELECT r.ts, r.lat, r.lon FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s AND r.lat IS NOT NULL AND r.lon IS NOT NULL
    ORDER BY r.ts DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT r.ts, r.fuel_pct FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s AND r.fuel_pct IS NOT NULL
    ORDER BY r.ts DESC LIMIT 1
) f ON true
LEFT JOIN LATERAL (
    SELECT r.ts, r.def_pct FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s AND r.def_pct IS NOT NULL
    ORDER BY r.ts DESC LIMIT 1
) d ON true
LEFT JOIN LATERAL (
    SELECT r.ts, r.rpm FROM readings r
    WHERE r.machine_id = p.id AND r.ts <= p.newest AND r.ts > p.newest - %(lookback)s
      AND r.ts > %(floor)s AND r.ts <= %(ceiling)s AND r.rpm IS NOT NULL
    ORDER BY r.ts DESC LIMIT 1
) e ON true
"""
# serial and pin are both unique and upper-case by CHECK: each side of the OR is a unique index.
_BY_ID: Final[LiteralString] = "(m.serial = %(equipment_id)s OR m.pin = %(equipment_id)s)"
MACHINE_ID_IN_SCOPE: Final = sql.SQL("SELECT m.id FROM machines m WHERE {scope} AND " + _BY_ID)


def _count(row: tuple[object, ...] | None) -> int:
    assert row is not None
    assert isinstance(row[0], int)
    return row[0]


def fleet_count(conn: Conn, *, scope: Scope) -> int:
    predicate, params = _scope(scope)
    row = conn.execute(FLEET_COUNT.format(scope=predicate), params).fetchone()
    return _count(row)


@dataclass(frozen=True, slots=True)
class _PageMachine:
    id: int
    serial: str
    model: str
    pin: str | None
    newest: datetime | None


def _newest_elements(conn: Conn, machines: list[_PageMachine]) -> dict[int, dict[str, object]]:
    """Each machine's elements by machine id; a machine without a newest time has none.

    One query per run of close newest times (telemetry.reader.newest_runs): a page mixing
    machines seen today with some parked for months would otherwise keep every chunk between
    them: 100 machines, 2 of them last seen a year ago, took 183 ms planning + 1442 ms execution
    in one query keeping 366 chunks, and take 0.8 + 0.4 and 0.8 + 3.9 ms in two keeping 1 each
    (the page: 2461 ms, now 10).
    """
    elements: dict[int, dict[str, object]] = {}
    for span in newest_runs((m.newest, m.id) for m in machines if m.newest is not None):
        params = {**run_bounds(span, SNAPSHOT_LOOKBACK), "lookback": SNAPSHOT_LOOKBACK}
        with conn.cursor(row_factory=dict_row) as cur:
            # Unprepared: a custom plan with floor and ceiling known keeps only their chunks.
            for row in cur.execute(NEWEST_ELEMENTS, params, prepare=False):
                elements[row.pop("machine_id")] = row
    return elements


def _snapshot(
    conn: Conn, *, scope: Scope, where: LiteralString, params: dict[str, object]
) -> list[EquipmentRow]:
    predicate, scope_params = _scope(scope)
    query = SNAPSHOT_PAGE.format(scope=predicate, where=sql.SQL(where))
    with conn.cursor(row_factory=class_row(_PageMachine)) as cur:
        page = cur.execute(query, {**params, **scope_params}).fetchall()
    # The elements are read for the newest times read with the page, so the bounds hold for them.
    elements = _newest_elements(conn, page)
    return [
        EquipmentRow(m.serial, m.model, m.pin, **elements.get(m.id, {}))  # type: ignore[arg-type]
        for m in page
    ]


def fleet_page(conn: Conn, *, scope: Scope, limit: int, offset: int) -> list[EquipmentRow]:
    return _snapshot(conn, scope=scope, where="true", params={"limit": limit, "offset": offset})


def equipment_snapshot(conn: Conn, *, scope: Scope, equipment_id: str) -> EquipmentRow | None:
    rows = _snapshot(
        conn,
        scope=scope,
        where=_BY_ID,
        params={"equipment_id": equipment_id.upper(), "limit": 1, "offset": 0},
    )
    return rows[0] if rows else None


def machine_id_in_scope(conn: Conn, *, scope: Scope, equipment_id: str) -> int | None:
    """The machine's id when it exists and the caller may see it; None otherwise, so that a
    machine out of scope and one that does not exist answer alike."""
    predicate, params = _scope(scope)
    row = conn.execute(
        MACHINE_ID_IN_SCOPE.format(scope=predicate),
        {**params, "equipment_id": equipment_id.upper()},
    ).fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]


# Time-series sources: each selects one machine's items in [start, end) in time order. Readings
# use the (machine_id, ts DESC, seq) index range; fault onsets use fault_episodes_machine_onset
# (migration 0015).
_SAMPLE_SOURCE: Final[LiteralString] = """
SELECT r.ts, r.seq, r.{column} AS value FROM readings r
WHERE r.machine_id = %(machine_id)s AND r.ts >= %(start)s AND r.ts < %(end)s
  AND r.{column} IS NOT NULL
"""
LOCATIONS: Final[LiteralString] = """
SELECT r.ts, r.seq, r.lat, r.lon FROM readings r
WHERE r.machine_id = %(machine_id)s AND r.ts >= %(start)s AND r.ts < %(end)s
  AND r.lat IS NOT NULL AND r.lon IS NOT NULL
"""
# Changes of the running state: the range's first reading with rpm, then each start and stop.
ENGINE_CONDITION: Final[LiteralString] = """
SELECT ts, seq, running FROM (
    SELECT r.ts, r.seq, r.rpm > 0 AS running,
           lag(r.rpm > 0) OVER (ORDER BY r.ts, r.seq) AS was_running
    FROM readings r
    WHERE r.machine_id = %(machine_id)s AND r.ts >= %(start)s AND r.ts < %(end)s
      AND r.rpm IS NOT NULL
) changes
WHERE was_running IS DISTINCT FROM running
"""
FAULT_ONSETS: Final[LiteralString] = """
SELECT e.onset_ts AS ts, e.spn, e.fmi, e.lamp FROM fault_episodes e
WHERE e.machine_id = %(machine_id)s AND e.onset_ts >= %(start)s AND e.onset_ts < %(end)s
"""
SERIES_COUNT: Final = sql.SQL("SELECT count(*) FROM ({source}) items")
# Time order; equal times by seq for readings, by SPN then FMI for fault onsets.
SERIES_PAGE: Final = sql.SQL(
    "SELECT * FROM ({source}) items ORDER BY 1, 2, 3 LIMIT %(limit)s OFFSET %(offset)s"
)


def _sample_source(column: str) -> sql.Composable:
    return sql.SQL(_SAMPLE_SOURCE).format(column=sql.Identifier(column))


def _sample(row: tuple[object, ...]) -> SeriesRow:
    return Sample(row[0], float(row[2]))  # type: ignore[arg-type]


def _position(row: tuple[object, ...]) -> SeriesRow:
    return Position(row[0], float(row[2]), float(row[3]))  # type: ignore[arg-type]


def _engine(row: tuple[object, ...]) -> SeriesRow:
    return EngineState(row[0], bool(row[2]))  # type: ignore[arg-type]


def _fault(row: tuple[object, ...]) -> SeriesRow:
    return FaultOnset(row[0], int(row[1]), int(row[2]), str(row[3]))  # type: ignore[arg-type, call-overload]


SOURCES: Final[
    Mapping[DataItem, tuple[sql.Composable, Callable[[tuple[object, ...]], SeriesRow]]]
] = {
    DataItem.LOCATIONS: (sql.SQL(LOCATIONS), _position),
    DataItem.CUMULATIVE_OPERATING_HOURS: (_sample_source("engine_hours"), _sample),
    DataItem.CUMULATIVE_IDLE_HOURS: (_sample_source("idle_hours"), _sample),
    DataItem.FUEL_REMAINING_RATIO: (_sample_source("fuel_pct"), _sample),
    DataItem.DEF_REMAINING: (_sample_source("def_pct"), _sample),
    DataItem.ENGINE_CONDITION: (sql.SQL(ENGINE_CONDITION), _engine),
    DataItem.FAULTS: (sql.SQL(FAULT_ONSETS), _fault),
}


def series_count(
    conn: Conn, *, item: DataItem, machine_id: int, start: datetime, end: datetime
) -> int:
    source, _ = SOURCES[item]
    params = {"machine_id": machine_id, "start": start, "end": end}
    row = conn.execute(SERIES_COUNT.format(source=source), params).fetchone()
    return _count(row)


def series_page(
    conn: Conn,
    *,
    item: DataItem,
    machine_id: int,
    start: datetime,
    end: datetime,
    limit: int,
    offset: int,
) -> list[SeriesRow]:
    source, to_row = SOURCES[item]
    params = {
        "machine_id": machine_id,
        "start": start,
        "end": end,
        "limit": limit,
        "offset": offset,
    }
    rows = conn.execute(SERIES_PAGE.format(source=source), params).fetchall()
    return [to_row(r) for r in rows]
