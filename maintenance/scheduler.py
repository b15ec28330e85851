"""APScheduler 3 runs the job table in one process at a time: the holder of a PostgreSQL advisory
lock is the leader; a standby polls for the lock and takes over when the leader's session ends.

Every job fires on a grid counted from the Unix epoch (a daily job at UTC midnight, a minutely one
on the minute), first in the slot current at start, and each run is claimed in job_runs first
(maintenance.job_runs): a standby taking over in the middle of a slot finds the slot its dead
leader ran and skips it, so a failover never runs a slot twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ironlink.db import make_pool
from maintenance.job_runs import Clock, default_runner, once_per_slot, utc_now
from maintenance.jobs import Job
from maintenance.slots import EPOCH, slot_of

log = logging.getLogger(__name__)

LEADER_LOCK_KEY: Final = 0x1A0_0002
# How often a standby asks for the lock, and the leader checks it still holds it: the longest a
# failover waits. A leader that lost its session runs on at most this long; its runs' slots are
# claimed, so the overlap does nothing twice.
STANDBY_POLL_S: Final = 5.0


def run(
    database_url: str,
    jobs: list[Job],
    *,
    stop: threading.Event,
    poll_s: float = STANDBY_POLL_S,
    runner: str | None = None,
    clock: Clock = utc_now,
) -> None:
    runner = runner or default_runner()
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        waiting = False
        while not stop.is_set():
            row = lock_conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)
            ).fetchone()
            if row and row[0]:
                break
            if not waiting:
                log.info("another scheduler is active; standing by (polling every %.1f s)", poll_s)
                waiting = True
            stop.wait(poll_s)
        if stop.is_set():
            return
        log.info("scheduler %s is the leader; %d jobs", runner, len(jobs))
        runs_pool = make_pool(database_url, min_size=1, max_size=2)
        scheduler = BackgroundScheduler(timezone="UTC")
        now = clock()
        for job in jobs:
            scheduler.add_job(
                once_per_slot(
                    name=job.name,
                    every_s=job.every_s,
                    func=job.func,
                    pool=runs_pool,
                    runner=runner,
                    clock=clock,
                ),
                IntervalTrigger(seconds=job.every_s, start_date=EPOCH, timezone="UTC"),
                id=job.name,
                name=job.name,
                max_instances=1,
                coalesce=True,
                # However late (a slow previous run, the first run below): the claim decides.
                misfire_grace_time=None,
                # The current slot at once: a no-op when the previous leader ran it already.
                next_run_time=slot_of(now, every_s=job.every_s),
            )
        scheduler.start()
        try:
            while not stop.wait(poll_s):
                lock_conn.execute("SELECT 1")  # a lost lock connection must end leadership
        finally:
            scheduler.shutdown(wait=True)
            runs_pool.close()
