"""Rewrites finished chunks of the telemetry hypertables in (machine_id, ts DESC, seq) order: what
TimescaleDB's reorder policy does, which the Apache-only build lacks.

Rows arrive in time order with every machine interleaved, so one machine's day is spread over
nearly every page of its chunk (bench: 1,434 pages per machine-day); CLUSTER on the chunk's copy
of the (machine_id, ts DESC, seq) index packs it into a few (38), and a 30-day history reads ~40x
fewer pages.

The trade-off: CLUSTER holds an ACCESS EXCLUSIVE lock on that one chunk while it copies it
(seconds for a day of a large fleet) and needs room for a second copy of it meanwhile. A late
reading for that day waits for the lock (ingest acknowledges after commit, so nothing is lost),
and so does a read of that chunk, and any query on the hypertable run from a generic (prepared)
plan, which locks every chunk before it excludes those outside its range. A lock that cannot be
had within LOCK_TIMEOUT is given up and the chunk is tried again on the next run, so the job
never queues in front of readers behind a long query. A chunk that receives late rows after its
rewrite is merely a little less ordered (they are appended at its end); once its heap has grown
by REGROWTH it is rewritten again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row

log = logging.getLogger(__name__)

# Each hypertable and the index whose order its finished chunks are rewritten in.
INDEX_OF: Final[Mapping[str, str]] = {
    "readings": "readings_machine_ts_seq",
    "faults": "faults_machine_ts_seq_dtc",
}
# Late data keeps arriving for a while after a chunk's range ends (rural machines buffer through
# coverage gaps); rewriting before most of it is in would leave the tail unordered.
SETTLE: Final = timedelta(hours=2)
# A rewrite takes seconds per day of a large fleet: a few per run keeps one run short, and a
# backlog (first deployment) clears within a day of hourly runs.
MAX_CHUNKS_PER_RUN: Final = 4
# Late rows since the rewrite as a share of the heap: past this, a second rewrite pays for itself.
REGROWTH: Final = 0.2
# Waiting longer for the chunk's lock would hold up every reader queued behind the CLUSTER.
LOCK_TIMEOUT: Final = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Chunk:
    schema: str
    name: str
    hypertable: str
    range_start: datetime
    range_end: datetime
    heap_bytes: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class Reordered:
    chunk: str  # schema-qualified
    hypertable: str
    range_start: datetime
    range_end: datetime
    heap_bytes_before: int
    heap_bytes: int
    took_s: float
    reorders: int  # 1 the first time, more when late rows earned another rewrite


def due(
    chunks: Iterable[Chunk],
    reordered_bytes: Mapping[str, int],
    *,
    now: datetime,
    max_chunks: int,
    settle: timedelta = SETTLE,
    regrowth: float = REGROWTH,
) -> list[Chunk]:
    """The chunks to rewrite now, oldest first, at most max_chunks: those whose range ended more
    than `settle` before `now` and that were never rewritten, or whose heap grew by more than
    `regrowth` since (reordered_bytes: qualified chunk name -> heap bytes after its rewrite)."""

    def wanted(c: Chunk) -> bool:
        if c.range_end > now - settle:
            return False
        done = reordered_bytes.get(c.qualified)
        return done is None or c.heap_bytes > done * (1 + regrowth)

    pending = sorted(filter(wanted, chunks), key=lambda c: (c.range_start, c.hypertable, c.name))
    return pending[: max(max_chunks, 0)]


CHUNKS: Final[LiteralString] = """
SELECT c.chunk_schema AS schema, c.chunk_name AS name, c.hypertable_name AS hypertable,
       c.range_start, c.range_end,
       pg_relation_size(format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass) AS heap_bytes
FROM timescaledb_information.chunks c
WHERE format('%%I.%%I', c.hypertable_schema, c.hypertable_name)::regclass
      = ANY(%(hypertables)s::regclass[])
  AND NOT c.is_compressed
"""
REORDERED_BYTES: Final[LiteralString] = "SELECT chunk, heap_bytes FROM reordered_chunks"
# Rows of chunks that retention dropped: a dropped chunk's name is never reused.
FORGET_DROPPED: Final[LiteralString] = (
    "DELETE FROM reordered_chunks WHERE to_regclass(chunk) IS NULL"
)
# The chunk's copy of the hypertable's index: TimescaleDB names it after the chunk, so it is found
# by its definition (uniqueness, method, keys, order, predicate), which the copy shares.
CHUNK_INDEX: Final[LiteralString] = """
SELECT i.relname
FROM pg_index ci
JOIN pg_class i ON i.oid = ci.indexrelid
JOIN pg_index hi ON hi.indexrelid = %(index)s::regclass
WHERE ci.indrelid = %(chunk)s::regclass
  AND ci.indisunique = hi.indisunique
  AND substring(pg_get_indexdef(ci.indexrelid) FROM ' USING .*$')
      = substring(pg_get_indexdef(hi.indexrelid) FROM ' USING .*$')
ORDER BY i.relname
LIMIT 1
"""
CLUSTER: Final = sql.SQL("CLUSTER {chunk} USING {index}")
# The planner costs index scans by the chunk's physical correlation, which CLUSTER does not update.
ANALYZE: Final = sql.SQL("ANALYZE {chunk}")
SET_LOCK_TIMEOUT: Final[LiteralString] = "SELECT set_config('lock_timeout', %s, true)"
HEAP_BYTES: Final[LiteralString] = "SELECT pg_relation_size(%(chunk)s::regclass)"
RECORD: Final[LiteralString] = """
INSERT INTO reordered_chunks AS r (chunk, hypertable, range_start, range_end, reordered_at,
                                   heap_bytes, took_s)
VALUES (%(chunk)s, %(hypertable)s, %(range_start)s, %(range_end)s, clock_timestamp(),
        %(heap_bytes)s, %(took_s)s)
ON CONFLICT (chunk) DO UPDATE
SET reordered_at = clock_timestamp(), reorders = r.reorders + 1, heap_bytes = excluded.heap_bytes,
    took_s = excluded.took_s
RETURNING reorders
"""

Conn = psycopg.Connection[tuple[object, ...]]


def chunks(conn: Conn, hypertables: Sequence[str]) -> list[Chunk]:
    with conn.cursor(row_factory=class_row(Chunk)) as cur:
        return cur.execute(CHUNKS, {"hypertables": list(hypertables)}).fetchall()


def reorder_chunk(
    conn: Conn, chunk: Chunk, *, index: str, lock_timeout: timedelta = LOCK_TIMEOUT
) -> Reordered | None:
    """Rewrites one chunk in the order of its copy of the hypertable index `index` and records it,
    in one transaction of its own (conn must be in autocommit mode). None when the chunk's lock
    was not granted within lock_timeout (or the chunk has no copy of the index): nothing changed,
    and the next run tries again."""
    target = sql.Identifier(chunk.schema, chunk.name)
    try:
        with conn.transaction():
            conn.execute(SET_LOCK_TIMEOUT, (f"{lock_timeout.total_seconds() * 1000:.0f}ms",))
            row = conn.execute(CHUNK_INDEX, {"chunk": chunk.qualified, "index": index}).fetchone()
            if row is None:
                log.warning("chunk %s has no copy of index %s; not reordered", chunk.name, index)
                return None
            t0 = time.perf_counter()
            conn.execute(CLUSTER.format(chunk=target, index=sql.Identifier(str(row[0]))))
            conn.execute(ANALYZE.format(chunk=target))
            took_s = time.perf_counter() - t0
            size = conn.execute(HEAP_BYTES, {"chunk": chunk.qualified}).fetchone()
            heap_bytes = int(size[0]) if size else 0  # type: ignore[call-overload]
            recorded = conn.execute(
                RECORD,
                {
                    "chunk": chunk.qualified,
                    "hypertable": chunk.hypertable,
                    "range_start": chunk.range_start,
                    "range_end": chunk.range_end,
                    "heap_bytes": heap_bytes,
                    "took_s": took_s,
                },
            ).fetchone()
    except psycopg.errors.LockNotAvailable:
        log.warning("chunk %s is busy; reorder left for the next run", chunk.name)
        return None
    assert recorded is not None
    return Reordered(
        chunk=chunk.qualified,
        hypertable=chunk.hypertable,
        range_start=chunk.range_start,
        range_end=chunk.range_end,
        heap_bytes_before=chunk.heap_bytes,
        heap_bytes=heap_bytes,
        took_s=took_s,
        reorders=int(recorded[0]),  # type: ignore[call-overload]
    )


def reorder_due(
    conn: Conn,
    *,
    now: datetime,
    max_chunks: int = MAX_CHUNKS_PER_RUN,
    settle: timedelta = SETTLE,
    index_of: Mapping[str, str] = INDEX_OF,
    lock_timeout: timedelta = LOCK_TIMEOUT,
) -> list[Reordered]:
    """Rewrites the chunks `due` picks, oldest first, each in its own transaction (conn must be in
    autocommit mode; a failure leaves the chunks before it done). Returns what was rewritten."""
    conn.execute(FORGET_DROPPED)
    done = {str(c): int(b) for c, b in conn.execute(REORDERED_BYTES).fetchall()}  # type: ignore[call-overload]
    todo = due(chunks(conn, list(index_of)), done, now=now, max_chunks=max_chunks, settle=settle)
    out: list[Reordered] = []
    for chunk in todo:
        result = reorder_chunk(
            conn, chunk, index=index_of[chunk.hypertable], lock_timeout=lock_timeout
        )
        if result is not None:
            log.info(
                "reordered %s (%s from %s) in %.1f s",
                result.chunk,
                result.hypertable,
                result.range_start,
                result.took_s,
            )
            out.append(result)
    return out
