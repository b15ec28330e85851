"""SQL behind the owner's history routes: one machine's readings downsampled with time_bucket, and
its fault episodes. The caller has checked the machine is the owner's (fleet.machine_for_owner).

These read telemetry's tables and belong in telemetry.reader; they live here until that module
takes them (see the owner API's issue note).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from api.history.params import ORIGIN, FaultCursor, Range, rolls_up, whole_hours

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

# BUCKETED for buckets of whole hours (api.history.params.rolls_up), with the same result: the
# range's whole hours before the rollup's watermark that are not dirty come from readings_hourly
# (telemetry.hourly_rollup), one row an hour; the rest (the partial hours at either edge, dirty
# hours, the hours from the watermark on, everything before the rollup's first run) from
# readings. Both sides give per bucket and signal the count, sum, min and max, combined as
# avg = sum / count. One statement, so both sides see one snapshot: an hour is either dirty (read
# raw) or rolled up with every committed reading. Averages may differ from BUCKETED's in the last
# bits (float8 sums added in another order).
# {hourly}, {raw}: per signal n, sum, min, max; {combined}: avg, min, max as float8.
ROLLED_UP: Final = sql.SQL("""
WITH served AS (
    SELECT %(hour_lo)s::timestamptz AS lo,
           greatest(%(hour_lo)s::timestamptz, least(%(hour_hi)s::timestamptz, coalesce(
               (SELECT rolled_up_before FROM readings_hourly_state), '-infinity'))) AS hi
), dirty AS (
    SELECT d.hour FROM readings_hourly_dirty d, served s
    WHERE d.machine_id = %(machine_id)s AND d.hour >= s.lo AND d.hour < s.hi
), raw_spans (lo, hi) AS (
    SELECT %(start)s::timestamptz, s.lo FROM served s
    UNION ALL SELECT s.hi, %(end)s::timestamptz FROM served s
    UNION ALL SELECT hour, hour + interval '1 hour' FROM dirty
), parts AS (
    SELECT time_bucket(%(bucket)s, h.hour, %(origin)s) AS bucket, sum(h.readings) AS readings,
           {hourly}
    FROM readings_hourly h, served s
    WHERE h.machine_id = %(machine_id)s AND h.hour >= s.lo AND h.hour < s.hi
      AND h.hour >= %(hour_lo)s AND h.hour < %(hour_hi)s
      AND h.hour NOT IN (SELECT hour FROM dirty)
    GROUP BY 1
    UNION ALL
    SELECT time_bucket(%(bucket)s, r.ts, %(origin)s), count(*), {raw}
    FROM raw_spans x
    JOIN readings r ON r.machine_id = %(machine_id)s AND r.ts >= x.lo AND r.ts < x.hi
    WHERE r.ts >= %(start)s AND r.ts < %(end)s
    GROUP BY 1
)
SELECT bucket, sum(readings)::int8 AS readings, {combined}
FROM parts
GROUP BY 1
ORDER BY 1
""")


NO_JIT: Final[LiteralString] = "SET LOCAL jit = off"


@dataclass(frozen=True, slots=True)
class Buckets:
    """Column-wise: starts[i] holds readings[i] readings; stats[signal] = (avg, min, max) lists
    aligned with starts (None where no reading in the bucket had the signal)."""

    starts: list[datetime]
    readings: list[int]
    stats: dict[str, tuple[list[float | None], list[float | None], list[float | None]]]


def raw_bucketed_query(signals: Sequence[str]) -> sql.Composed:
    """BUCKETED for these checked signals: every bucket from readings, whatever its size."""
    return BUCKETED.format(
        aggregates=sql.SQL(", ").join(
            sql.SQL("{f}({c})::float8").format(f=sql.SQL(f), c=sql.Identifier("r", name))
            for name in signals
            for f in ("avg", "min", "max")
        )
    )


def bucketed_query(signals: Sequence[str], *, bucket: timedelta) -> sql.Composed:
    """The history query for these signals, which must be checked names
    (api.history.params.signals_for): they become columns. ROLLED_UP when `bucket` is whole
    hours, else BUCKETED; bucketed_params gives the parameters of either."""
    if not rolls_up(bucket):
        return raw_bucketed_query(signals)

    def per_signal(*templates: LiteralString) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL(t).format(
                c=sql.Identifier("r", name),
                **{k: sql.Identifier(f"{name}_{k}") for k in ("n", "sum", "min", "max")},
            )
            for name in signals
            for t in templates
        )

    return ROLLED_UP.format(
        hourly=per_signal(
            "sum(h.{n}) AS {n}",
            "sum(h.{sum}) AS {sum}",
            "min(h.{min}) AS {min}",
            "max(h.{max}) AS {max}",
        ),
        raw=per_signal("count({c})", "sum({c}::float8)", "min({c})", "max({c})"),
        combined=per_signal(
            "(sum({sum}) / nullif(sum({n}), 0))::float8",
            "min({min})::float8",
            "max({max})::float8",
        ),
    )


def bucketed_params(*, machine_id: int, span: Range) -> dict[str, object]:
    hour_lo, hour_hi = whole_hours(span)
    return {
        "bucket": span.bucket,
        "origin": ORIGIN,
        "machine_id": machine_id,
        "start": span.start,
        "end": span.end,
        "hour_lo": hour_lo,  # ROLLED_UP only
        "hour_hi": hour_hi,
    }


def bucketed(conn: Conn, *, machine_id: int, span: Range, signals: Sequence[str]) -> Buckets:
    """`signals` must be checked names (api.history.params.signals_for): they become columns."""
    with conn.transaction():
        # A custom plan of a month's range costs past jit_above_cost, and compiling it took
        # ~140 ms on a query that runs in ~100 ms (EXPLAIN ANALYZE, 55 M-reading bench).
        conn.execute(NO_JIT)
        # Not prepared: a generic plan locks every chunk, so it waits out the reorder's CLUSTER.
        rows = conn.execute(
            bucketed_query(signals, bucket=span.bucket),
            bucketed_params(machine_id=machine_id, span=span),
            prepare=False,
        ).fetchall()
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
