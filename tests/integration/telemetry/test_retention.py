"""Retention on real TimescaleDB chunks: chunks wholly older than the age are dropped, newer ones
(and a chunk straddling the cut) stay; a busy table is left for the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, LiteralString

import psycopg
import pytest
from psycopg import sql

from telemetry.retention import Dropped, drop_expired

Conn = psycopg.Connection[tuple[object, ...]]

NOW = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
KEEP = timedelta(days=5)  # the cut: 2026-01-15 10:00

READING: Final[LiteralString] = (
    "INSERT INTO readings (machine_id, ts, seq, engine_hours) VALUES (1, %(ts)s, %(seq)s, 1)"
)
FAULT: Final[LiteralString] = (
    "INSERT INTO faults (machine_id, ts, seq, spn, fmi, lamp) VALUES (1, %(ts)s, %(seq)s, 110, 0,"
    " 'red')"
)
# Daily chunks of readings: 10th and 14th end before the cut; the 15th straddles it.
READING_TIMES: Final = [
    datetime(2026, 1, 10, 10, tzinfo=UTC),
    datetime(2026, 1, 14, 23, tzinfo=UTC),
    datetime(2026, 1, 15, 5, tzinfo=UTC),
    datetime(2026, 1, 17, 12, tzinfo=UTC),
    datetime(2026, 1, 20, 9, tzinfo=UTC),
]
FAULT_TIMES: Final = [NOW - timedelta(days=30), NOW - timedelta(days=1)]  # weekly chunks
# 30-day chunks of the hourly rollup: 90 days back is wholly before the cut, an hour ago is not.
HOURLY_TIMES: Final = [NOW - timedelta(days=90), NOW - timedelta(hours=1)]


def fill(conn: Conn) -> None:
    for seq, ts in enumerate(READING_TIMES):
        conn.execute(READING, {"ts": ts, "seq": seq})
    for seq, ts in enumerate(FAULT_TIMES):
        conn.execute(FAULT, {"ts": ts, "seq": seq})
    # Every rollup column but the key is a count or an aggregate: 0 will do.
    columns = [
        str(r[0])
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'readings_hourly' AND column_name NOT IN ('machine_id', 'hour')"
        )
    ]
    insert = sql.SQL(
        "INSERT INTO readings_hourly (machine_id, hour, {}) VALUES (1, %s, {})"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Literal(0) for _ in columns),
    )
    for ts in HOURLY_TIMES:
        conn.execute(insert, (ts,))


def times(conn: Conn, table: str, column: str = "ts") -> list[datetime]:
    query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    return [r[0] for r in conn.execute(query).fetchall()]  # type: ignore[misc]


def chunk_count(conn: Conn, table: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = %s", (table,)
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def test_chunks_older_than_the_age_are_dropped_and_newer_ones_kept(conn: Conn) -> None:
    fill(conn)
    dropped = drop_expired(conn, now=NOW, keep=KEEP)
    assert [(d.table, len(d.chunks)) for d in dropped] == [
        ("readings", 2),
        ("faults", 1),
        ("readings_hourly", 1),
    ]
    assert times(conn, "readings") == READING_TIMES[2:]  # the 15th's chunk ends after the cut
    assert times(conn, "faults") == FAULT_TIMES[1:]
    assert times(conn, "readings_hourly", "hour") == HOURLY_TIMES[1:]
    assert chunk_count(conn, "readings") == 3
    assert drop_expired(conn, now=NOW, keep=KEEP) == [
        Dropped("readings", []),
        Dropped("faults", []),
        Dropped("readings_hourly", []),
    ]


def test_a_table_whose_old_chunk_is_in_use_is_left_for_the_next_run(
    conn: Conn, db_url: str
) -> None:
    fill(conn)
    with psycopg.connect(db_url) as reader:  # a long read holding the oldest readings chunk
        reader.execute("SELECT count(*) FROM readings WHERE ts < %s", (READING_TIMES[1],))
        dropped = drop_expired(conn, now=NOW, keep=KEEP, lock_timeout=timedelta(milliseconds=50))
        assert [d.table for d in dropped] == ["faults", "readings_hourly"]
    assert [d.table for d in drop_expired(conn, now=NOW, keep=KEEP)] == [
        "readings",
        "faults",
        "readings_hourly",
    ]
    assert times(conn, "readings") == READING_TIMES[2:]


def test_a_non_positive_age_is_refused(conn: Conn) -> None:
    with pytest.raises(ValueError, match="positive"):
        drop_expired(conn, now=NOW, keep=timedelta(0))
