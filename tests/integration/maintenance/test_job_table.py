"""The scheduler's job table as `ironlink scheduler` builds it: the jobs the scheduling issue names,
and every one of them run once on a seeded fleet with two weeks of hour-meter readings, so a job
whose wiring (arguments, imports, SQL) is broken fails here and not first in production."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import LiteralString

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ironlink.db import make_pool
from maintenance import jobs
from maintenance.fleet.seed import seed_demo
from maintenance.rules.load import default_rules
from telemetry import store
from telemetry.wire import Reading

Conn = psycopg.Connection[tuple[object, ...]]

NAMED_JOBS = {
    "service-sweep",
    "silence-sweep",
    "anomaly-sweep",
    "sla-escalation",
    "alert-delivery",
    "owner-digest",
    "customer-grading",
    "parts-forecast",
    "service-due-alerts",
    "retention",
}
# Housekeeping the history API needs (telemetry.chunk_reorder, telemetry.hourly_rollup).
HOUSEKEEPING = {"chunk-reorder", "hourly-rollup"}


def count(conn: Conn, query: LiteralString) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    value = row[0]
    assert isinstance(value, int)
    return value


@pytest.fixture
def pool(conn: Conn, db_url: str) -> Iterator[ConnectionPool]:
    with conn.transaction():
        fleet = seed_demo(conn, tractors=3, excavators=2, owners=6, record_machines=4)
    # Two weeks of a working day's hours, a reading every 2 h: usage for the service forecast,
    # hours for the rules, something to roll up.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = [
        (m.id, Reading(seq=i + 1, ts=ts, engine_hours=310.0 + i * 1.05, rpm=1500.0))
        for m in fleet.machines
        for i, ts in enumerate(
            now - timedelta(days=14) + timedelta(hours=2 * k) for k in range(168)
        )
    ]
    store.prepare(conn)
    with conn.transaction():
        store.write_batch(conn, readings=rows, reports=[])
    pool = make_pool(db_url, max_size=2)
    yield pool
    pool.close()


def test_the_table_holds_the_named_jobs_and_each_runs(pool: ConnectionPool, conn: Conn) -> None:
    table = jobs.job_table(pool, default_rules(), alert_senders={})
    names = [j.name for j in table]
    assert len(names) == len(set(names))
    assert set(names) == NAMED_JOBS | HOUSEKEEPING
    assert all(j.every_s > 0 for j in table)
    for job in table:
        job.func()  # raises on a broken job
    # Some did visible work: the service sweep opened the 250 h services now 25 h away, the
    # rollup recorded its watermark, the parts forecast stored a snapshot.
    assert count(conn, "SELECT count(*) FROM tickets WHERE rule_key = 'svc-250h'") > 0
    assert count(conn, "SELECT count(*) FROM parts_forecast_runs") > 0
    state = conn.execute("SELECT rolled_up_before FROM readings_hourly_state").fetchone()
    assert state is not None
    assert state[0] is not None
