"""APScheduler 3 runs the job table in one process at a time: the holder of a PostgreSQL advisory
lock is the leader; a standby polls for the lock and takes over when the leader's session ends."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Final

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from maintenance.jobs import Job

log = logging.getLogger(__name__)

LEADER_LOCK_KEY: Final = 0x1A0_0002
STANDBY_POLL_S: Final = 5.0


def run(database_url: str, jobs: list[Job], *, stop: threading.Event) -> None:
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        while not stop.is_set():
            row = lock_conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)
            ).fetchone()
            if row and row[0]:
                break
            log.info("another scheduler is active; standing by")
            stop.wait(STANDBY_POLL_S)
        if stop.is_set():
            return
        log.info("scheduler is the leader; %d jobs", len(jobs))
        scheduler = BackgroundScheduler(timezone="UTC")
        for job in jobs:
            scheduler.add_job(
                job.func,
                IntervalTrigger(seconds=job.every_s),
                id=job.name,
                name=job.name,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),  # first run at once
            )
        scheduler.start()
        try:
            while not stop.wait(1.0):
                lock_conn.execute("SELECT 1")  # a lost lock connection must end leadership
        finally:
            scheduler.shutdown(wait=True)
