"""Job runs on the real database: a slot is claimed once whoever fires it, and each run's outcome
is recorded; a controllable clock picks the slot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ironlink.db import make_pool
from maintenance.job_runs import once_per_slot, prune

T0 = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)

Conn = psycopg.Connection[tuple[object, ...]]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    p = make_pool(db_url, min_size=1, max_size=2)
    yield p
    p.close()


def test_a_slot_runs_once_whichever_scheduler_fires_it(pool: ConnectionPool, conn: Conn) -> None:
    clock = Clock(T0)
    calls: list[str] = []

    def scheduler(runner: str) -> Callable[[], bool]:
        return once_per_slot(
            name="sweep",
            every_s=60.0,
            func=lambda: calls.append(runner),
            pool=pool,
            runner=runner,
            clock=clock,
        )

    a, b = scheduler("a"), scheduler("b")
    assert a() is True
    clock.now = T0 + timedelta(seconds=30)  # the same minute, fired by the next leader
    assert b() is False
    assert a() is False
    clock.now = T0 + timedelta(seconds=60)
    assert b() is True
    assert calls == ["a", "b"]
    rows = conn.execute("SELECT slot, runner, status FROM job_runs ORDER BY slot").fetchall()
    assert rows == [
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), "a", "done"),
        (datetime(2026, 11, 23, 10, 1, tzinfo=UTC), "b", "done"),
    ]


def test_jobs_have_slots_of_their_own(pool: ConnectionPool) -> None:
    clock = Clock(T0)
    runs = [
        once_per_slot(name=n, every_s=60.0, func=lambda: None, pool=pool, runner="a", clock=clock)
        for n in ("sweep", "grading")
    ]
    assert [run() for run in runs] == [True, True]


def test_a_failed_run_is_recorded_with_its_error_and_its_slot_stays_taken(
    pool: ConnectionPool, conn: Conn
) -> None:
    clock = Clock(T0)

    def boom() -> None:
        clock.now = T0 + timedelta(seconds=2)
        raise RuntimeError("receiver refused")

    run = once_per_slot(name="sweep", every_s=60.0, func=boom, pool=pool, runner="a", clock=clock)
    assert run() is True
    assert run() is False
    row = conn.execute("SELECT started_at, finished_at, status, error FROM job_runs").fetchone()
    assert row == (T0, T0 + timedelta(seconds=2), "failed", "RuntimeError: receiver refused")


def test_prune_deletes_runs_of_earlier_slots(pool: ConnectionPool, conn: Conn) -> None:
    clock = Clock(T0)
    run = once_per_slot(
        name="s", every_s=60.0, func=lambda: None, pool=pool, runner="a", clock=clock
    )
    for minutes in (0, 1, 2):
        clock.now = T0 + timedelta(minutes=minutes)
        run()
    assert prune(pool, before=datetime(2026, 11, 23, 10, 2, tzinfo=UTC)) == 2
    assert conn.execute("SELECT slot FROM job_runs").fetchall() == [
        (datetime(2026, 11, 23, 10, 2, tzinfo=UTC),)
    ]
