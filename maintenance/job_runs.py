"""Job runs: each periodic job runs at most once per slot (maintenance.slots), whichever scheduler
fires it. The leader claims (job, slot) in job_runs before running the job; a scheduler that finds
the slot claimed (the previous leader ran it before a failover) skips it.

The claim commits before the job starts, so a run is never repeated but may be lost: a scheduler
killed mid-run leaves its row 'running' and that slot is not retried. Every job is a sweep over
current state, so the next slot does its work.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, LiteralString

from psycopg_pool import ConnectionPool

from maintenance.slots import slot_of

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# An error message is for a person reading the row, not a dump of the job's state.
MAX_ERROR_CHARS: Final = 2000

CLAIM: Final[LiteralString] = """
INSERT INTO job_runs (job, slot, started_at, runner)
VALUES (%(job)s, %(slot)s, %(at)s, %(runner)s)
ON CONFLICT (job, slot) DO NOTHING
RETURNING slot
"""
FINISH: Final[LiteralString] = """
UPDATE job_runs SET finished_at = %(at)s, status = %(status)s, error = %(error)s
WHERE job = %(job)s AND slot = %(slot)s AND runner = %(runner)s
"""
PRUNE: Final[LiteralString] = "DELETE FROM job_runs WHERE slot < %(before)s"


def default_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def prune(pool: ConnectionPool, *, before: datetime) -> int:
    """Deletes the runs of slots before `before`; returns how many."""
    with pool.connection() as conn:
        return conn.execute(PRUNE, {"before": before}).rowcount


def once_per_slot(
    *,
    name: str,
    every_s: float,
    func: Callable[[], None],
    pool: ConnectionPool,
    runner: str,
    clock: Clock = utc_now,
) -> Callable[[], bool]:
    """`func` wrapped to run only if this runner claims the current slot of job `name`; the
    wrapper returns whether it ran. Called on the trigger's grid (scheduler.run), `clock()` falls
    in the slot of the scheduled fire time unless the run starts a whole interval late, and then
    the run takes the later slot: a slot may be skipped, never run twice. A failure is recorded
    with its message and logged, not raised: the scheduler keeps its schedule."""

    def run() -> bool:
        slot = slot_of(clock(), every_s=every_s)
        key = {"job": name, "slot": slot, "runner": runner}
        with pool.connection() as conn:
            claimed = conn.execute(CLAIM, key | {"at": clock()}).fetchone() is not None
        if not claimed:
            log.info("job %s: slot %s was run by another scheduler; skipped", name, slot)
            return False
        status, error = "done", None
        try:
            func()
        except Exception as exc:
            log.exception("job %s failed in slot %s", name, slot)
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        with pool.connection() as conn:
            conn.execute(FINISH, key | {"at": clock(), "status": status, "error": error})
        return True

    return run
