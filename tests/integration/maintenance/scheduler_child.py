"""One scheduler process for the failover test: `python -m
tests.integration.maintenance.scheduler_child DATABASE_URL RUNNER POLL_S`. Runs two counting jobs
(hourly and every FAST_EVERY_S) that add a row to `counted` per run; SIGTERM stops it cleanly."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Final

from ironlink.db import make_pool
from maintenance import scheduler
from maintenance.jobs import Job

FAST_EVERY_S: Final = 0.3
COUNT: Final = "INSERT INTO counted (job, runner) VALUES (%s, %s)"


def main(database_url: str, runner: str, poll_s: float) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    pool = make_pool(database_url, min_size=1, max_size=2)

    def count(job: str) -> None:
        with pool.connection() as conn:
            conn.execute(COUNT, (job, runner))

    jobs = [
        Job("count-hourly", 3_600.0, lambda: count("count-hourly")),
        Job("count-fast", FAST_EVERY_S, lambda: count("count-fast")),
    ]
    try:
        scheduler.run(database_url, jobs, stop=stop, poll_s=poll_s, runner=runner)
    finally:
        pool.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
