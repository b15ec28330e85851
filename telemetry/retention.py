"""Telemetry retention: chunks of readings, faults and their hourly rollup (readings_hourly, a
hypertable of 30-day chunks) wholly older than the configured age are dropped with drop_chunks,
run by the scheduler's daily job. The rollup goes with the readings it summarises: an hour kept
beyond them would outlive the data retention promised to remove.

Also where the server's licence is 'timescale' (the Docker image), where a retention policy
(add_retention_policy) could do the same: one code path, tested on the local Apache build, that
follows a changed age on its next run instead of leaving a stale policy behind.

dm1_reports is kept: fault episodes are derived from a machine's ordered reports, and a code active
for longer than the retention age would lose its onset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString

import psycopg

log = logging.getLogger(__name__)

TABLES: Final = ("readings", "faults", "readings_hourly")
# drop_chunks takes an ACCESS EXCLUSIVE lock on each old chunk; behind a long query on one it
# would hold up every reader queued behind it. Given up here, tried again on the next run.
LOCK_TIMEOUT: Final = timedelta(seconds=5)

SET_LOCK_TIMEOUT: Final[LiteralString] = "SELECT set_config('lock_timeout', %(ms)s, true)"
DROP_CHUNKS: Final[LiteralString] = (
    "SELECT drop_chunks(%(table)s::regclass, older_than => %(older_than)s::timestamptz)"
)


@dataclass(frozen=True, slots=True)
class Dropped:
    table: str
    chunks: list[str]  # schema-qualified names of the dropped chunks


def drop_expired(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    now: datetime,
    keep: timedelta,
    lock_timeout: timedelta = LOCK_TIMEOUT,
) -> list[Dropped]:
    """Drops every chunk of TABLES whose whole range ends before `now - keep`, one transaction per
    table (opened here: a retention run is its own edge). A table whose old chunks are locked
    past `lock_timeout` is skipped with a warning. `keep` must be positive."""
    if keep <= timedelta(0):
        raise ValueError(f"keep must be positive, got {keep}")
    dropped: list[Dropped] = []
    for table in TABLES:
        try:
            with conn.transaction():
                conn.execute(SET_LOCK_TIMEOUT, {"ms": f"{lock_timeout.total_seconds() * 1000:.0f}"})
                rows = conn.execute(
                    DROP_CHUNKS, {"table": table, "older_than": now - keep}
                ).fetchall()
        except psycopg.errors.LockNotAvailable:
            log.warning("retention: %s is busy; its old chunks are dropped on the next run", table)
            continue
        dropped.append(Dropped(table=table, chunks=[str(r[0]) for r in rows]))
    return dropped
