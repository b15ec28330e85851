"""The chunk reorder job on real TimescaleDB chunks: finished days rewritten in index order once,
the current day left alone, late rows, busy chunks and dropped chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, LiteralString

import psycopg
import pytest
from psycopg import sql

from telemetry.chunk_reorder import reorder_due
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 4
# Mid-morning of the last day: days 0-2 are finished and settled, day 3 is still being written.
NOW = DAY0 + timedelta(days=DAYS - 1, hours=10)

# One reading a minute from each machine, stored as ingest stores them: in time order with every
# machine interleaved. Values are small integers so an aggregate is exact in any row order.
INTERLEAVED: Final[LiteralString] = """
INSERT INTO readings (machine_id, ts, seq, engine_hours, coolant_c, load_pct)
SELECT m.id, %(start)s + k * interval '1 minute', k, k / 60.0, 60 + k %% 40, (k * m.id) %% 100
FROM generate_series(0, %(minutes)s - 1) k, unnest(%(machines)s::bigint[]) AS m(id)
ORDER BY k, m.id
"""
CHUNKS: Final[LiteralString] = """
SELECT format('%%I.%%I', chunk_schema, chunk_name), range_start
FROM timescaledb_information.chunks WHERE hypertable_name = %s ORDER BY range_start
"""
# Rows as they lie in the heap, and as the (machine_id, ts DESC, seq) index orders them.
PHYSICAL: Final = sql.SQL("SELECT machine_id, ts, seq FROM {} ORDER BY ctid")
LOGICAL: Final = sql.SQL("SELECT machine_id, ts, seq FROM {} ORDER BY machine_id, ts DESC, seq")
PAGES: Final = sql.SQL(
    "SELECT DISTINCT (ctid::text::point)[0]::int FROM {} WHERE machine_id = %s ORDER BY 1"
)
HOURLY: Final[LiteralString] = """
SELECT machine_id, time_bucket('1 hour', ts) AS b, count(*), sum(coolant_c), max(load_pct)
FROM readings GROUP BY 1, 2 ORDER BY 1, 2
"""


def machines(conn: Conn, n: int) -> list[int]:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    return [make_machine(conn, owner_id=owner, dealer_id=dealer)[0] for _ in range(n)]


def insert(conn: Conn, ids: list[int], *, start: datetime, minutes: int) -> None:
    conn.execute(INTERLEAVED, {"start": start, "minutes": minutes, "machines": ids})


def chunk_names(conn: Conn, hypertable: str = "readings") -> list[str]:
    return [str(r[0]) for r in conn.execute(CHUNKS, (hypertable,))]


def table(chunk: str) -> sql.Identifier:
    return sql.Identifier(*chunk.split("."))


def rows(conn: Conn, query: sql.SQL, chunk: str) -> list[tuple[object, ...]]:
    return conn.execute(query.format(table(chunk))).fetchall()


def in_index_order(conn: Conn, chunk: str) -> bool:
    return rows(conn, PHYSICAL, chunk) == rows(conn, LOGICAL, chunk)


def filenode(conn: Conn, chunk: str) -> int:
    row = conn.execute("SELECT pg_relation_filenode(%s::regclass)", (chunk,)).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def recorded(conn: Conn) -> dict[str, int]:
    return {
        str(c): int(n)  # type: ignore[call-overload]
        for c, n in conn.execute("SELECT chunk, reorders FROM reordered_chunks")
    }


@pytest.fixture
def fleet(conn: Conn) -> list[int]:
    ids = machines(conn, 6)
    insert(conn, ids, start=DAY0, minutes=DAYS * 1440)
    return ids


def test_finished_chunks_are_rewritten_in_index_order_and_recorded(
    conn: Conn, fleet: list[int]
) -> None:
    names = chunk_names(conn)
    assert len(names) == DAYS
    assert not any(in_index_order(conn, c) for c in names)  # as ingest wrote them
    done = reorder_due(conn, now=NOW)
    assert [r.chunk for r in done] == names[:3]  # oldest first
    assert all(in_index_order(conn, c) for c in names[:3])
    assert recorded(conn) == dict.fromkeys(names[:3], 1)


def test_one_machines_day_lies_on_consecutive_pages_after_the_rewrite(
    conn: Conn, fleet: list[int]
) -> None:
    first = chunk_names(conn)[0]

    def pages() -> list[int]:
        return [int(r[0]) for r in conn.execute(PAGES.format(table(first)), (fleet[2],))]  # type: ignore[call-overload]

    before = pages()
    reorder_due(conn, now=NOW, max_chunks=1)
    after = pages()
    assert after == list(range(after[0], after[-1] + 1))
    assert len(after) * 3 < len(before)


def test_the_current_chunk_is_left_untouched(conn: Conn, fleet: list[int]) -> None:
    current = chunk_names(conn)[-1]
    node = filenode(conn, current)
    reorder_due(conn, now=NOW)
    assert filenode(conn, current) == node
    assert current not in recorded(conn)
    assert not in_index_order(conn, current)


def test_a_second_run_does_nothing(conn: Conn, fleet: list[int]) -> None:
    reorder_due(conn, now=NOW)
    nodes = {c: filenode(conn, c) for c in chunk_names(conn)}
    assert reorder_due(conn, now=NOW) == []
    assert {c: filenode(conn, c) for c in chunk_names(conn)} == nodes


def test_a_run_takes_at_most_its_bound_and_the_next_run_continues(
    conn: Conn, fleet: list[int]
) -> None:
    names = chunk_names(conn)
    assert [r.chunk for r in reorder_due(conn, now=NOW, max_chunks=2)] == names[:2]
    assert [r.chunk for r in reorder_due(conn, now=NOW, max_chunks=2)] == names[2:3]


def test_query_results_are_the_same_before_and_after(conn: Conn, fleet: list[int]) -> None:
    everything = "SELECT * FROM readings ORDER BY machine_id, ts, seq"
    rows_before = conn.execute(everything).fetchall()
    hourly_before = conn.execute(HOURLY).fetchall()
    reorder_due(conn, now=NOW)
    assert conn.execute(everything).fetchall() == rows_before
    assert conn.execute(HOURLY).fetchall() == hourly_before


def test_a_chunk_grown_by_late_rows_is_rewritten_again(conn: Conn, fleet: list[int]) -> None:
    first = chunk_names(conn)[0]
    reorder_due(conn, now=NOW)
    # A buffered backlog from machines that were out of coverage on day 0: half as many rows again.
    late = machines(conn, 3)
    insert(conn, late, start=DAY0, minutes=1440)
    assert not in_index_order(conn, first)
    done = reorder_due(conn, now=NOW + timedelta(hours=1))
    assert [(r.chunk, r.reorders) for r in done] == [(first, 2)]
    assert in_index_order(conn, first)


def test_a_few_late_rows_do_not_earn_a_rewrite(conn: Conn, fleet: list[int]) -> None:
    reorder_due(conn, now=NOW)
    insert(conn, machines(conn, 1), start=DAY0, minutes=10)
    assert reorder_due(conn, now=NOW + timedelta(hours=1)) == []


def test_a_busy_chunk_is_skipped_and_left_for_the_next_run(
    conn: Conn, db_url: str, fleet: list[int]
) -> None:
    names = chunk_names(conn)
    with psycopg.connect(db_url) as reader:  # a long read of day 0 holds its lock
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(table(names[0])))
        done = reorder_due(conn, now=NOW, lock_timeout=timedelta(milliseconds=50))
        assert [r.chunk for r in done] == names[1:3]
        assert not in_index_order(conn, names[0])
    assert [r.chunk for r in reorder_due(conn, now=NOW)] == names[:1]


def test_finished_fault_chunks_are_rewritten_too(conn: Conn, fleet: list[int]) -> None:
    # faults has 7-day chunks: reports from mid-December lie in a week that ended long before NOW.
    conn.execute(
        "INSERT INTO faults (machine_id, ts, seq, spn, fmi, lamp)"
        " SELECT m, %s + k * interval '1 minute', k, 110, 0, 'amber'"
        " FROM generate_series(0, 999) k, unnest(%s::bigint[]) m ORDER BY k, m",
        (DAY0 - timedelta(days=20), fleet),
    )
    (chunk,) = chunk_names(conn, "faults")
    assert not in_index_order(conn, chunk)
    done = reorder_due(conn, now=NOW, max_chunks=10)
    assert chunk in [r.chunk for r in done]
    assert in_index_order(conn, chunk)


def test_the_record_of_a_dropped_chunk_is_forgotten(conn: Conn, fleet: list[int]) -> None:
    names = chunk_names(conn)
    reorder_due(conn, now=NOW)
    conn.execute("SELECT drop_chunks('readings', older_than => %s)", (DAY0 + timedelta(days=1),))
    reorder_due(conn, now=NOW)
    assert set(recorded(conn)) == set(names[1:3])
