"""The hourly rollup of readings (readings_hourly): per machine and UTC hour the count, sum, min and
max of every signal, so that a long history reads one row an hour instead of every reading. What
a continuous aggregate would hold; built by the app so that every TimescaleDB licence runs this
one tested path (ARCHITECTURE: the same results either way).

Ingest marks each (machine, hour) a batch touches in readings_hourly_dirty, in the batch's own
transaction (telemetry.store). `refresh` claims dirty hours that ended at least `settle` ago and
recomputes them from readings, claim and recompute in one transaction. The invariant readers rely
on, once readings_hourly_state has its row: every hour with readings is dirty or rolled up as it
stands, and hours from rolled_up_before on are not trusted at all. The first refresh establishes
it by marking every hour already in readings dirty.

Every reading must come in through a path that marks its hour (store.write_batch, or a bulk load
that marks its hours itself); a row written by hand after the first refresh is invisible to a
history served from the rollup until its hour is marked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql

from telemetry.rollup_hours import HOUR, claim_before
from telemetry.signals import SIGNALS

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]

SIGNAL_NAMES: Final = tuple(s.name for s in SIGNALS)
# Readings keep arriving for an hour a little after it ends (batching, clock skew, a short
# coverage gap); recomputing it before they are in would only mean recomputing it again.
SETTLE: Final = timedelta(minutes=2)
# Machine-hours per transaction: at one reading a second that is ~1.8 M readings, a second or two
# of work, so a run never holds its claimed hours (and a late batch waiting on one) for long.
BATCH_HOURS: Final = 500

SELECT_STATE: Final[LiteralString] = "SELECT rolled_up_before FROM readings_hourly_state"
# The first refresh: every hour already in readings becomes dirty in the same transaction that
# records the rollup as started, so no reader trusts a rollup row it has not recomputed.
MARK_ALL_HOURS_DIRTY: Final[LiteralString] = """
INSERT INTO readings_hourly_dirty (machine_id, hour)
SELECT DISTINCT machine_id, time_bucket('1 hour', ts) FROM readings
ON CONFLICT DO NOTHING
"""
START: Final[LiteralString] = """
INSERT INTO readings_hourly_state (rolled_up_before) VALUES (%(before)s) ON CONFLICT DO NOTHING
"""
ADVANCE: Final[LiteralString] = """
UPDATE readings_hourly_state SET rolled_up_before = greatest(rolled_up_before, %(before)s)
"""
# SKIP LOCKED: an hour locked by an ingest batch still in flight stays dirty for the next run
# (telemetry.store.MARK_HOURS_DIRTY), rather than being recomputed without that batch.
CLAIM_DIRTY: Final[LiteralString] = """
DELETE FROM readings_hourly_dirty
WHERE (machine_id, hour) IN (
    SELECT machine_id, hour FROM readings_hourly_dirty
    WHERE hour < %(before)s
    ORDER BY hour, machine_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING machine_id, hour
"""
# {columns}, {aggregates}, {updates}: per signal n, sum, min, max (SIGNALS order). The claimed
# pairs' overall [lo, hi) bounds the scan so the planner excludes the other chunks; each pair is
# then one range of the (machine_id, ts DESC, seq) index.
RECOMPUTE: Final = sql.SQL("""
INSERT INTO readings_hourly (machine_id, hour, readings, {columns})
SELECT r.machine_id, time_bucket('1 hour', r.ts), count(*), {aggregates}
FROM unnest(%(machine_id)s::int8[], %(hour)s::timestamptz[]) AS c (machine_id, hour)
JOIN readings r
  ON r.machine_id = c.machine_id AND r.ts >= c.hour AND r.ts < c.hour + interval '1 hour'
WHERE r.ts >= %(lo)s AND r.ts < %(hi)s
GROUP BY 1, 2
ON CONFLICT (machine_id, hour) DO UPDATE SET readings = EXCLUDED.readings, {updates}
""")
# A claimed hour without readings any more (none are deleted today but by retention) keeps no row.
DELETE_EMPTY: Final[LiteralString] = """
DELETE FROM readings_hourly h
USING unnest(%(machine_id)s::int8[], %(hour)s::timestamptz[]) AS c (machine_id, hour)
WHERE h.machine_id = c.machine_id AND h.hour = c.hour
  AND NOT EXISTS (SELECT 1 FROM readings r
                  WHERE r.machine_id = c.machine_id
                    AND r.ts >= c.hour AND r.ts < c.hour + interval '1 hour'
                    AND r.ts >= %(lo)s AND r.ts < %(hi)s)
"""


def signal_columns(name: str) -> tuple[str, str, str, str]:
    return f"{name}_n", f"{name}_sum", f"{name}_min", f"{name}_max"


def recompute_query() -> sql.Composed:
    columns = [c for name in SIGNAL_NAMES for c in signal_columns(name)]
    # float8 sums: avg(real) accumulates in float8 too, so the rollup's avg matches the raw one.
    aggregates = [
        sql.SQL(template).format(sql.Identifier("r", name))
        for name in SIGNAL_NAMES
        for template in ("count({})::int", "sum({}::float8)", "min({})", "max({})")
    ]
    return RECOMPUTE.format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        aggregates=sql.SQL(", ").join(aggregates),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns
        ),
    )


@dataclass(frozen=True, slots=True)
class Refreshed:
    hours: int  # (machine, hour) pairs claimed and recomputed
    batches: int
    started: bool  # this run was the first: it marked every hour in readings dirty
    rolled_up_before: datetime


def refresh(
    conn: Conn,
    *,
    now: datetime,
    settle: timedelta = SETTLE,
    batch_hours: int = BATCH_HOURS,
    max_batches: int | None = None,
) -> Refreshed:
    """Recomputes the dirty hours that ended `settle` before `now`, `batch_hours` per
    transaction (opened here: a refresh is its own edge, like a job run), until none is left or
    `max_batches` ran. `conn` must be idle at READ COMMITTED: the recompute must see every batch
    that committed before its claim, and it does because it is a later statement than the claim."""
    before = claim_before(now, settle)
    started = _start(conn, before=before)
    hours = batches = 0
    while max_batches is None or batches < max_batches:
        with conn.transaction():
            claimed = refresh_batch(conn, before=before, limit=batch_hours)
        hours += claimed
        batches += bool(claimed)
        if claimed < batch_hours:
            break
    with conn.transaction():
        conn.execute(ADVANCE, {"before": before})
    return Refreshed(hours, batches, started, before)


def _start(conn: Conn, *, before: datetime) -> bool:
    if conn.execute(SELECT_STATE).fetchone() is not None:
        return False
    with conn.transaction():
        log.info("hourly rollup: first run, marking every hour in readings dirty")
        conn.execute(MARK_ALL_HOURS_DIRTY)
        conn.execute(START, {"before": before})
    return True


def refresh_batch(conn: Conn, *, before: datetime, limit: int) -> int:
    """Claims up to `limit` dirty hours starting before `before` and recomputes them, in the
    caller's transaction (READ COMMITTED, see `refresh`); returns how many it claimed."""
    claimed = conn.execute(CLAIM_DIRTY, {"before": before, "limit": limit}).fetchall()
    if not claimed:
        return 0
    hours: list[datetime] = [h for _, h in claimed]  # type: ignore[misc]
    args = {
        "machine_id": [m for m, _ in claimed],
        "hour": hours,
        "lo": min(hours),
        "hi": max(hours) + HOUR,
    }
    conn.execute(recompute_query(), args)
    conn.execute(DELETE_EMPTY, args)
    return len(claimed)
