"""The hourly rollup on the real database: ingest marks hours dirty, a refresh recomputes the
settled ones exactly, and an ingest batch racing a refresh is never left out."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from telemetry import hourly_rollup, store
from telemetry.wire import Reading
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
T0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2, minutes=30)  # the current hour is T0 + 2 days
HOURLY = "SELECT readings, rpm_n, rpm_sum, rpm_min, rpm_max FROM readings_hourly"


def machine(conn: Conn) -> int:
    dealer = make_dealer(conn)
    return make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)[0]


def reading(seq: int, at: datetime, rpm: float | None) -> Reading:
    return Reading(seq=seq, ts=at, engine_hours=100 + seq / 60, rpm=rpm)


def write(conn: Conn, readings: list[tuple[int, Reading]]) -> None:
    store.prepare(conn)
    with conn.transaction():
        store.write_batch(conn, readings=readings, reports=[])


def dirty(conn: Conn) -> set[tuple[int, datetime]]:
    rows = conn.execute("SELECT machine_id, hour FROM readings_hourly_dirty").fetchall()
    return {(int(m), h) for m, h in rows}  # type: ignore[call-overload, misc]


def hourly(conn: Conn, machine_id: int, hour: datetime) -> tuple[object, ...] | None:
    return conn.execute(
        HOURLY + " WHERE machine_id = %s AND hour = %s", (machine_id, hour)
    ).fetchone()


def test_a_batch_marks_each_of_its_machine_hours_dirty_once(conn: Conn) -> None:
    a, b = machine(conn), machine(conn)
    write(
        conn,
        [
            (a, reading(1, T0 + timedelta(minutes=5), 900.0)),
            (a, reading(2, T0 + timedelta(minutes=55), 910.0)),
            (a, reading(3, T0 + timedelta(minutes=65), 920.0)),
            (b, reading(1, T0 + timedelta(minutes=5), 930.0)),
        ],
    )
    write(conn, [(a, reading(4, T0 + timedelta(minutes=6), 940.0))])  # already dirty
    assert dirty(conn) == {(a, T0), (a, T0 + timedelta(hours=1)), (b, T0)}


def test_refresh_rolls_up_settled_hours_and_leaves_the_current_one_dirty(conn: Conn) -> None:
    m = machine(conn)
    current = NOW.replace(minute=0)
    write(
        conn,
        [
            (m, reading(1, T0 + timedelta(minutes=1), 800.0)),
            (m, reading(2, T0 + timedelta(minutes=2), None)),
            (m, reading(3, T0 + timedelta(minutes=59), 1200.0)),
            (m, reading(4, current + timedelta(minutes=1), 1000.0)),
        ],
    )
    done = hourly_rollup.refresh(conn, now=NOW)
    assert (done.started, done.hours, done.rolled_up_before) == (True, 1, current)
    assert hourly(conn, m, T0) == (3, 2, 2000.0, 800.0, 1200.0)
    assert hourly(conn, m, current) is None
    assert dirty(conn) == {(m, current)}


def test_the_first_refresh_rolls_up_readings_stored_before_the_rollup_existed(
    conn: Conn,
) -> None:
    m = machine(conn)
    conn.execute(
        "INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm) VALUES (%s, %s, 1, 1, 700)",
        (m, T0 + timedelta(minutes=30)),
    )
    assert hourly_rollup.refresh(conn, now=NOW).started
    assert hourly(conn, m, T0) == (1, 1, 700.0, 700.0, 700.0)
    assert not hourly_rollup.refresh(conn, now=NOW).started


def test_a_late_reading_makes_its_hour_dirty_and_the_next_refresh_recomputes_it(
    conn: Conn,
) -> None:
    m = machine(conn)
    write(conn, [(m, reading(1, T0 + timedelta(minutes=10), 1000.0))])
    hourly_rollup.refresh(conn, now=NOW)
    write(conn, [(m, reading(2, T0 + timedelta(minutes=20), 2000.0))])
    assert dirty(conn) == {(m, T0)}
    assert hourly_rollup.refresh(conn, now=NOW).hours == 1
    assert hourly(conn, m, T0) == (2, 2, 3000.0, 1000.0, 2000.0)
    assert dirty(conn) == set()


def test_refresh_works_in_bounded_batches(conn: Conn) -> None:
    m = machine(conn)
    write(conn, [(m, reading(i, T0 + timedelta(hours=i), 900.0)) for i in range(7)])
    done = hourly_rollup.refresh(conn, now=NOW, batch_hours=3)
    assert (done.hours, done.batches) == (7, 3)
    assert conn.execute("SELECT count(*) FROM readings_hourly").fetchone() == (7,)


def test_an_hour_locked_by_a_batch_in_flight_is_left_dirty_for_the_next_run(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn, psycopg.connect(db_url) as ingest:
        m = machine(conn)
        write(conn, [(m, reading(1, T0 + timedelta(minutes=10), 1000.0))])
        hourly_rollup.refresh(conn, now=NOW)
        write(conn, [(m, reading(2, T0 + timedelta(minutes=20), 2000.0))])  # dirty again
        store.prepare(ingest)
        ingest.commit()
        # A third late reading for that hour, its batch not yet committed.
        late = [(m, reading(3, T0 + timedelta(minutes=30), 3000.0))]
        store.write_batch(ingest, readings=late, reports=[])
        assert hourly_rollup.refresh(conn, now=NOW).hours == 0  # skipped, not waited for
        ingest.commit()
        hourly_rollup.refresh(conn, now=NOW)
        assert hourly(conn, m, T0) == (3, 3, 6000.0, 1000.0, 3000.0)


def test_a_batch_for_an_hour_being_recomputed_marks_it_dirty_again(db_url: str) -> None:
    with (
        psycopg.connect(db_url, autocommit=True) as conn,
        psycopg.connect(db_url) as claimer,
        psycopg.connect(db_url) as ingest,
    ):
        m = machine(conn)
        write(conn, [(m, reading(1, T0 + timedelta(minutes=10), 1000.0))])
        hourly_rollup.refresh(conn, now=NOW)
        write(conn, [(m, reading(2, T0 + timedelta(minutes=20), 2000.0))])
        store.prepare(ingest)
        ingest.commit()
        ingest_pid = ingest.info.backend_pid
        # The refresh has claimed and recomputed the hour but not committed yet ...
        assert hourly_rollup.refresh_batch(claimer, before=NOW, limit=10) == 1
        # ... when a late batch for that hour arrives: it waits for the claim to end.
        late = [(m, reading(3, T0 + timedelta(minutes=30), 3000.0))]
        errors: list[BaseException] = []

        def ingest_late() -> None:
            try:
                store.write_batch(ingest, readings=late, reports=[])
                ingest.commit()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        worker = threading.Thread(target=ingest_late)
        worker.start()
        while not conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
            (ingest_pid,),
        ).fetchone():
            time.sleep(0.01)
        claimer.commit()
        worker.join()
        assert not errors
        assert dirty(conn) == {(m, T0)}
        assert hourly(conn, m, T0) == (2, 2, 3000.0, 1000.0, 2000.0)  # without the late one
        hourly_rollup.refresh(conn, now=NOW)
        assert hourly(conn, m, T0) == (3, 3, 6000.0, 1000.0, 3000.0)


@pytest.mark.parametrize("name", hourly_rollup.SIGNAL_NAMES)
def test_readings_hourly_has_the_four_columns_of_every_signal(conn: Conn, name: str) -> None:
    columns = {
        str(r[0])
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'readings_hourly'"
        )
    }
    assert set(hourly_rollup.signal_columns(name)) <= columns
