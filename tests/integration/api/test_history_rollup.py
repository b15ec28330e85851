"""The owner's history served from the hourly rollup answers what the raw query answers, for
buckets of whole hours over ranges not aligned to hours, before and after refreshes, with late
readings and the current hour. Averages are compared with a relative tolerance of 1e-9: the rollup
adds float8 sums in another order than avg does, so the last bits may differ; counts, bucket
starts, minima and maxima must be equal."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.history import params, queries
from telemetry import hourly_rollup, store
from telemetry.wire import Kind, Reading
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
T0 = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
DAYS = 3
NOW = T0 + timedelta(days=2, hours=13, minutes=40)  # readings run on past now: clock skew
SIGNALS = ("engine_hours", "rpm", "coolant_c", "lat", "pto_rpm", "boom_cycles", "idle_hours")
RANGES = (
    (T0 + timedelta(hours=1, minutes=17), T0 + timedelta(days=2, hours=5, minutes=43)),
    (T0 - timedelta(hours=3), NOW + timedelta(hours=2, seconds=7)),  # across the watermark
    (T0 + timedelta(hours=5, minutes=10), T0 + timedelta(hours=5, minutes=50)),  # no whole hour
    (T0 + timedelta(hours=6), T0 + timedelta(days=1, hours=6)),  # aligned
)
BUCKETS = ("1h", "6h", "1d", "7d", "30m")


def fleet(conn: Conn) -> list[tuple[int, Kind]]:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    kinds = (Kind.TRACTOR, Kind.EXCAVATOR, Kind.TRACTOR)
    return [(make_machine(conn, owner_id=owner, dealer_id=dealer, kind=k)[0], k) for k in kinds]


def readings(machine_id: int, kind: Kind, rng: random.Random) -> list[tuple[int, Reading]]:
    """Every 3 to 11 minutes over DAYS, with gaps of hours and signals now and then missing."""
    out: list[tuple[int, Reading]] = []
    at, seq = T0 + timedelta(seconds=rng.randrange(600)), 0
    while at < T0 + timedelta(days=DAYS):
        seq += 1
        maybe = rng.random() > 0.1
        out.append(
            (
                machine_id,
                Reading(
                    seq=seq,
                    ts=at,
                    engine_hours=1000 + seq / 10,
                    rpm=rng.uniform(700, 2200) if maybe else None,
                    coolant_c=rng.uniform(60, 105),
                    lat=52 + rng.random() / 1000,
                    pto_rpm=rng.choice((0.0, 540.0, 1000.0)) if kind is Kind.TRACTOR else None,
                    boom_cycles=10_000 + seq * 3 if kind is Kind.EXCAVATOR and maybe else None,
                    idle_hours=100 + seq / 40,
                ),
            )
        )
        gap = rng.uniform(3 * 3600, 6 * 3600) if rng.random() < 0.01 else rng.uniform(180, 660)
        at += timedelta(seconds=gap)
    return out


def write(conn: Conn, rows: Sequence[tuple[int, Reading]], *, per_batch: int = 200) -> None:
    store.prepare(conn)
    for lo in range(0, len(rows), per_batch):
        with conn.transaction():
            store.write_batch(conn, readings=rows[lo : lo + per_batch], reports=[])


@pytest.fixture
def machines(conn: Conn) -> list[tuple[int, Kind]]:
    rng = random.Random(11)
    ms = fleet(conn)
    write(conn, [r for m, k in ms for r in readings(m, k, rng)])
    return ms


def raw(conn: Conn, machine_id: int, span: params.Range) -> list[tuple[object, ...]]:
    with conn.transaction():
        conn.execute(queries.NO_JIT)
        return conn.execute(
            queries.raw_bucketed_query(SIGNALS),
            queries.bucketed_params(machine_id=machine_id, span=span),
        ).fetchall()


def served(conn: Conn, machine_id: int, span: params.Range) -> list[tuple[object, ...]]:
    got = queries.bucketed(conn, machine_id=machine_id, span=span, signals=SIGNALS)
    columns = [c for name in SIGNALS for c in got.stats[name]]
    return [
        (start, n, *(c[i] for c in columns))
        for i, (start, n) in enumerate(zip(got.starts, got.readings, strict=True))
    ]


def assert_same(conn: Conn, machines: list[tuple[int, Kind]]) -> None:
    for machine_id, _ in machines:
        for start, end in RANGES:
            for bucket in BUCKETS:
                span = params.Range(start, end, params.parse_bucket(bucket))
                want, got = raw(conn, machine_id, span), served(conn, machine_id, span)
                where = f"machine {machine_id}, {start}..{end} by {bucket}"
                assert [r[:2] for r in got] == [r[:2] for r in want], where
                for g, w in zip(got, want, strict=True):
                    for i, (a, b) in enumerate(zip(g[2:], w[2:], strict=True)):
                        if i % 3 == 0 and a is not None and b is not None:  # avg
                            assert math.isclose(a, b, rel_tol=1e-9), (where, g[0], i)  # type: ignore[arg-type]
                        else:
                            assert a == b, (where, g[0], i)


def test_history_before_the_first_refresh_is_the_raw_answer(
    conn: Conn, machines: list[tuple[int, Kind]]
) -> None:
    assert_same(conn, machines)


def test_history_from_the_rollup_equals_the_raw_answer(
    conn: Conn, machines: list[tuple[int, Kind]]
) -> None:
    assert hourly_rollup.refresh(conn, now=NOW).hours > 100
    assert_same(conn, machines)


def test_a_late_reading_is_in_the_answer_before_and_after_the_next_refresh(
    conn: Conn, machines: list[tuple[int, Kind]]
) -> None:
    hourly_rollup.refresh(conn, now=NOW)
    m, _ = machines[0]
    late = Reading(seq=99_999, ts=T0 + timedelta(hours=9, minutes=1), engine_hours=5, rpm=4999)
    write(conn, [(m, late)])
    assert_same(conn, machines)  # its hour dirty: read raw
    hourly_rollup.refresh(conn, now=NOW)
    assert_same(conn, machines)
    span = params.Range(T0, T0 + timedelta(days=1), params.parse_bucket("1d"))
    assert served(conn, m, span)[0][7] == 4999.0  # rpm max (start, n, then 3 a signal)


def test_whole_settled_hours_come_from_the_rollup_and_the_current_hour_from_readings(
    conn: Conn, machines: list[tuple[int, Kind]]
) -> None:
    m, _ = machines[0]
    current = NOW.replace(minute=0)
    write(conn, [(m, Reading(seq=88_888, ts=current + timedelta(minutes=1), engine_hours=5))])
    hourly_rollup.refresh(conn, now=NOW)
    span = params.Range(T0, NOW + timedelta(hours=1), params.parse_bucket("1h"))
    before = {r[0]: r[1] for r in served(conn, m, span)}
    # Doctored rollup rows show which hours it serves: every settled hour, never the current one.
    conn.execute(
        "UPDATE readings_hourly SET readings = readings + 1000 WHERE machine_id = %s", (m,)
    )
    after = {r[0]: r[1] for r in served(conn, m, span)}
    assert current in after
    assert after[current] == before[current]
    assert all(after[h] == before[h] + 1000 for h in before if h < current)
