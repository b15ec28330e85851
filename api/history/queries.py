"""SQL behind the owner's history routes: one machine's readings downsampled with time_bucket, and
its fault episodes. The caller has checked the machine is the owner's (fleet.machine_for_owner).

These read telemetry's tables and belong in telemetry.reader; they live here until that module
takes them (see the owner API's issue note).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from api.history.params import (
    ORIGIN,
    FaultCursor,
    Range,
    rolls_up,
    served_by_rollup,
    whole_hours,
)

Conn = psycopg.Connection[tuple[object, ...]]

# One index range scan of readings (machine_id, ts DESC, seq) per chunk the range touches, then
# one aggregate pass. Run unprepared (see bucketed): each run is planned with its bounds, so the
# chunks outside the range are excluded when planning and never locked. Buckets without readings
# are absent: gap filling is not in the Apache build.
# {aggregates}: avg, min, max of each signal as float8 (boom_cycles is bigint).
BUCKETED: Final = sql.SQL("""
SELECT time_bucket(%(bucket)s, r.ts, %(origin)s) AS bucket, count(*) AS readings, {aggregates}
FROM readings r
WHERE r.machine_id = %(machine_id)s AND r.ts >= %(start)s AND r.ts < %(end)s
GROUP BY 1
ORDER BY 1
""")

# BUCKETED for buckets of whole hours (api.history.params.rolls_up), with the same result, in two
# statements in one REPEATABLE READ snapshot (so an hour is either dirty, and read raw, or rolled
# up with every committed reading): ROLLUP_STATE reads the rollup's watermark and the machine's
# dirty hours in the range, params.served_by_rollup splits the range, and ROLLED_UP reads the
# rollup's hours from readings_hourly (telemetry.hourly_rollup), one row an hour, and each raw
# span (partial edge hours, dirty hours, hours from the watermark on) from readings with constant
# bounds, so the planner keeps only the one or two chunks a span touches instead of planning and
# probing every chunk of the month. Both sides give per bucket and signal the count, sum, min and
# max, combined as avg = sum / count. Averages may differ from BUCKETED's in the last bits (float8
# sums added in another order).
ROLLUP_STATE: Final[LiteralString] = """
SELECT (SELECT rolled_up_before FROM readings_hourly_state),
       ARRAY(SELECT hour FROM readings_hourly_dirty
             WHERE machine_id = %(machine_id)s AND hour >= %(hour_lo)s AND hour < %(hour_hi)s)
"""
# {hourly}, {raw_spans} (RAW_SPAN each), {combined}: see rolled_up_query.
ROLLED_UP: Final = sql.SQL("""
SELECT bucket, sum(readings)::int8 AS readings, {combined}
FROM (
    SELECT time_bucket(%(bucket)s, h.hour, %(origin)s) AS bucket, sum(h.readings) AS readings,
           {hourly}
    FROM readings_hourly h
    WHERE h.machine_id = %(machine_id)s AND h.hour >= %(lo)s AND h.hour < %(hi)s
      AND h.hour <> ALL(%(dirty)s::timestamptz[])
    GROUP BY 1
    {raw_spans}
) parts
GROUP BY 1
ORDER BY 1
""")
RAW_SPAN: Final = sql.SQL("""
    UNION ALL
    SELECT time_bucket(%(bucket)s, r.ts, %(origin)s), count(*), {raw}
    FROM readings r
    WHERE r.machine_id = %(machine_id)s AND r.ts >= {lo} AND r.ts < {hi}
    GROUP BY 1""")

NO_JIT: Final[LiteralString] = "SET LOCAL jit = off"
# First in the history's transaction: ROLLUP_STATE and ROLLED_UP see one snapshot.
SNAPSHOT: Final[LiteralString] = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


@dataclass(frozen=True, slots=True)
class Buckets:
    """Column-wise: starts[i] holds readings[i] readings; stats[signal] = (avg, min, max) lists
    aligned with starts (None where no reading in the bucket had the signal)."""

    starts: list[datetime]
    readings: list[int]
    stats: dict[str, tuple[list[float | None], list[float | None], list[float | None]]]


@functools.lru_cache(maxsize=256)
def raw_bucketed_query(signals: tuple[str, ...]) -> sql.Composed:
    """BUCKETED for these checked signals: every bucket from readings, whatever its size."""
    return BUCKETED.format(
        aggregates=sql.SQL(", ").join(
            sql.SQL("{f}({c})::float8").format(f=sql.SQL(f), c=sql.Identifier("r", name))
            for name in signals
            for f in ("avg", "min", "max")
        )
    )


@functools.lru_cache(maxsize=256)
def rolled_up_query(signals: tuple[str, ...], *, raw_spans: int) -> sql.Composed:
    """ROLLED_UP for these checked signals and this many raw spans (parameters lo_i, hi_i),
    composed once per shape: composing costs about a millisecond."""

    def per_signal(*templates: LiteralString) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL(t).format(
                c=sql.Identifier("r", name),
                **{k: sql.Identifier(f"{name}_{k}") for k in ("n", "sum", "min", "max")},
            )
            for name in signals
            for t in templates
        )

    raw = per_signal("count({c})", "sum({c}::float8)", "min({c})", "max({c})")
    return ROLLED_UP.format(
        hourly=per_signal(
            "sum(h.{n}) AS {n}",
            "sum(h.{sum}) AS {sum}",
            "min(h.{min}) AS {min}",
            "max(h.{max}) AS {max}",
        ),
        raw_spans=sql.SQL("").join(
            RAW_SPAN.format(raw=raw, lo=sql.Placeholder(f"lo_{i}"), hi=sql.Placeholder(f"hi_{i}"))
            for i in range(raw_spans)
        ),
        combined=per_signal(
            "(sum({sum}) / nullif(sum({n}), 0))::float8",
            "min({min})::float8",
            "max({max})::float8",
        ),
    )


def bucketed_params(*, machine_id: int, span: Range) -> dict[str, object]:
    """BUCKETED's parameters."""
    return {
        "bucket": span.bucket,
        "origin": ORIGIN,
        "machine_id": machine_id,
        "start": span.start,
        "end": span.end,
    }


def bucketed_statement(
    conn: Conn, *, machine_id: int, span: Range, signals: Sequence[str]
) -> tuple[sql.Composed, dict[str, object]]:
    """The history query and its parameters: BUCKETED, or for buckets of whole hours ROLLED_UP
    after reading the rollup's state (so run it in a SNAPSHOT transaction). `signals` must be
    checked names (api.history.params.signals_for): they become columns."""
    args = bucketed_params(machine_id=machine_id, span=span)
    if not rolls_up(span.bucket):
        return raw_bucketed_query(tuple(signals)), args
    hour_lo, hour_hi = whole_hours(span)
    row = conn.execute(
        ROLLUP_STATE, {"machine_id": machine_id, "hour_lo": hour_lo, "hour_hi": hour_hi}
    ).fetchone()
    assert row is not None  # one row, whatever the tables hold
    watermark, dirty = row
    served = served_by_rollup(span, watermark=watermark, dirty=dirty)  # type: ignore[arg-type]
    args |= {"lo": served.lo, "hi": served.hi, "dirty": list(served.dirty)}
    for i, (lo, hi) in enumerate(served.raw):
        args |= {f"lo_{i}": lo, f"hi_{i}": hi}
    return rolled_up_query(tuple(signals), raw_spans=len(served.raw)), args


def bucketed(conn: Conn, *, machine_id: int, span: Range, signals: Sequence[str]) -> Buckets:
    """`signals` must be checked names (api.history.params.signals_for): they become columns."""
    with conn.transaction():
        conn.execute(SNAPSHOT)
        # A custom plan of a month's raw range costs past jit_above_cost, and compiling it took
        # ~140 ms on a query that runs in ~100 ms (EXPLAIN ANALYZE, 55 M-reading bench).
        conn.execute(NO_JIT)
        query, args = bucketed_statement(conn, machine_id=machine_id, span=span, signals=signals)
        # Not prepared: a generic plan locks every chunk, so it waits out the reorder's CLUSTER;
        # a custom plan keeps (and locks) only the chunks its constant bounds touch.
        rows = conn.execute(query, args, prepare=False).fetchall()
    out = Buckets([], [], {name: ([], [], []) for name in signals})
    for row in rows:
        out.starts.append(row[0])  # type: ignore[arg-type]
        out.readings.append(row[1])  # type: ignore[arg-type]
        for i, name in enumerate(signals):
            for column, value in zip(out.stats[name], row[2 + 3 * i : 5 + 3 * i], strict=True):
                column.append(value)  # type: ignore[arg-type]
    return out


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    spn: int
    fmi: int
    lamp: str
    onset_ts: datetime
    cleared_ts: datetime | None
    last_seen_ts: datetime
    max_oc: int
    reports: int


# Newest onset first on fault_episodes (machine_id, onset_ts), read backwards from the cursor.
FAULT_EPISODES: Final[LiteralString] = """
SELECT spn, fmi, lamp, onset_ts, cleared_ts, last_seen_ts, max_oc, reports
FROM fault_episodes
WHERE machine_id = %(machine_id)s
  AND onset_ts <= %(onset)s AND (onset_ts, spn, fmi) < (%(onset)s, %(spn)s, %(fmi)s)
  AND (%(active)s::boolean IS NULL OR (cleared_ts IS NULL) = %(active)s)
  AND (%(filter_spn)s::integer IS NULL OR spn = %(filter_spn)s)
ORDER BY onset_ts DESC, spn DESC, fmi DESC
LIMIT %(limit)s
"""
# Before every onset there can be: the first page's cursor.
FIRST_PAGE: Final = FaultCursor(ORIGIN + timedelta(days=365 * 200), 0, 0)


def fault_episodes(
    conn: Conn,
    *,
    machine_id: int,
    before: FaultCursor | None,
    active: bool | None,
    spn: int | None,
    limit: int,
) -> list[EpisodeRow]:
    cursor = before or FIRST_PAGE
    with conn.cursor(row_factory=class_row(EpisodeRow)) as cur:
        return cur.execute(
            FAULT_EPISODES,
            {
                "machine_id": machine_id,
                "onset": cursor.onset,
                "spn": cursor.spn,
                "fmi": cursor.fmi,
                "active": active,
                "filter_spn": spn,
                "limit": limit,
            },
        ).fetchall()
