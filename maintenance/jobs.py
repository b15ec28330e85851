"""The job table: every periodic job and its schedule, readable on one screen."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from maintenance.evaluate import run_rules
from maintenance.fleet import repo as fleet
from maintenance.rules.model import Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_s: float
    func: Callable[[], None]


def service_sweep(pool: ConnectionPool, rules: Sequence[Rule]) -> None:
    """Hours-based service intervals and any fault still active, over every reporting machine."""
    with pool.connection() as conn:
        ids = fleet.active_machine_ids(conn)
        if ids:
            applied = run_rules(conn, rules=rules, machine_ids=ids, now=datetime.now(UTC))
            log.info("service sweep: %d machines, %d tickets opened", len(ids), len(applied.opened))


def job_table(
    pool: ConnectionPool, rules: Sequence[Rule], *, sweep_every_s: float = 60.0
) -> list[Job]:
    return [
        Job("service-sweep", sweep_every_s, lambda: service_sweep(pool, rules)),
    ]
