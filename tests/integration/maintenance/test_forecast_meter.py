"""The service forecast's daily hour meter (maintenance.forecast.repo.daily_usages) against the
meter computed here from the readings themselves: with no rollup, from the rollup, with dirty
hours, with a late reading, and in a half-hour time zone the rollup cannot serve."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from maintenance.fleet.seed import seed_demo
from maintenance.forecast.repo import daily_usages
from maintenance.forecast.service_due import usage_from_meter
from telemetry import hourly_rollup, store
from telemetry.wire import Reading

Conn = psycopg.Connection[tuple[object, ...]]

DAYS = 10
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _working_hours(machine_id: int) -> list[Reading]:
    """A reading every 30 min for DAYS days; the meter rises while the engine runs (07-17 UTC on
    working days, a different rest day per machine) and stands still otherwise."""
    readings: list[Reading] = []
    meter = 1000.0 + machine_id
    start = NOW - timedelta(days=DAYS)
    for k in range(DAYS * 48):
        ts = start + timedelta(minutes=30 * k)
        running = 7 <= ts.hour < 17 and (ts.toordinal() + machine_id) % 7 != 0
        meter += 0.5 if running else 0.0
        readings.append(Reading(seq=k + 1, ts=ts, engine_hours=round(meter, 2), rpm=1500.0))
    return readings


def _expected(
    readings: dict[int, list[Reading]], tz: str, first: date, last: date
) -> dict[int, list[float]]:
    """Each day's usage from the highest meter of the readings in that local day."""
    zone = ZoneInfo(tz)
    out: dict[int, list[float]] = {}
    for machine_id, rows in readings.items():
        by_day: dict[date, float] = {}
        for r in rows:
            day = r.ts.astimezone(zone).date()
            if r.engine_hours is not None:
                by_day[day] = max(by_day.get(day, r.engine_hours), r.engine_hours)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        out[machine_id] = usage_from_meter([by_day.get(d) for d in days]).tolist()
    return out


def _usages(conn: Conn, ids: list[int], tz: str, first: date, last: date) -> dict[int, list[float]]:
    got = daily_usages(conn, machine_ids=ids, timezone=tz, first_day=first, last_day=last)
    assert all(u.first_day == first for u in got.values())
    return {m: u.hours.tolist() for m, u in got.items()}


def _same(a: dict[int, list[float]], b: dict[int, list[float]]) -> bool:
    return a.keys() == b.keys() and all(
        np.allclose(a[k], b[k], equal_nan=True, atol=1e-9) for k in a
    )


@pytest.fixture
def fleet(conn: Conn) -> dict[int, list[Reading]]:
    with conn.transaction():
        seeded = seed_demo(conn, tractors=2, excavators=1, owners=3, record_machines=0)
    readings = {m.id: _working_hours(m.id) for m in seeded.machines}
    store.prepare(conn)
    with conn.transaction():
        store.write_batch(
            conn, readings=[(m, r) for m, rows in readings.items() for r in rows], reports=[]
        )
    return readings


TZ = "Europe/Berlin"  # whole-hour offsets: the rollup can serve its days


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(TZ)).astimezone(UTC)


def _span() -> tuple[date, date]:
    today = NOW.astimezone(ZoneInfo(TZ)).date()
    return today - timedelta(days=DAYS - 1), today - timedelta(days=1)


def test_before_any_rollup_every_day_is_probed_and_matches(
    conn: Conn, fleet: dict[int, list[Reading]]
) -> None:
    first, last = _span()
    assert _same(_usages(conn, list(fleet), TZ, first, last), _expected(fleet, TZ, first, last))


def test_days_the_rollup_holds_are_read_from_it_and_dirty_days_from_readings(
    conn: Conn, fleet: dict[int, list[Reading]]
) -> None:
    first, last = _span()
    hourly_rollup.refresh(conn, now=NOW)
    expected = _expected(fleet, TZ, first, last)
    assert _same(_usages(conn, list(fleet), TZ, first, last), expected)

    # Proof that a settled day comes from the rollup: raise its last hour there alone.
    machine = next(iter(fleet))
    day = first + timedelta(days=3)
    last_hour = _local_midnight(day + timedelta(days=1)) - timedelta(hours=1)
    conn.execute(
        "UPDATE readings_hourly SET engine_hours_max = engine_hours_max + 100"
        " WHERE machine_id = %s AND hour = %s",
        (machine, last_hour),
    )
    raised = _usages(conn, [machine], TZ, first, last)[machine]
    index = (day - first).days
    assert raised[index] == pytest.approx(expected[machine][index] + 100)

    # A dirty hour that day (late readings since it was rolled up): the day is read from readings.
    conn.execute(
        "INSERT INTO readings_hourly_dirty (machine_id, hour) VALUES (%s, %s)", (machine, last_hour)
    )
    assert _same(_usages(conn, [machine], TZ, first, last), {machine: expected[machine]})


def test_a_late_reading_counts_at_once_through_its_dirty_hour(
    conn: Conn, fleet: dict[int, list[Reading]]
) -> None:
    first, last = _span()
    hourly_rollup.refresh(conn, now=NOW)
    machine = next(iter(fleet))
    day = first + timedelta(days=2)
    # Buffered through a coverage gap: a reading late in that day with a meter 3 h higher than
    # any other of the day (and still below the next day's).
    rows = fleet[machine]
    evening = _local_midnight(day + timedelta(days=1)) - timedelta(minutes=10)
    top = max(r.engine_hours or 0.0 for r in rows if r.ts <= evening)
    late = Reading(seq=10_000, ts=evening, engine_hours=top + 3.0, rpm=1500.0)
    with conn.transaction():
        store.write_batch(conn, readings=[(machine, late)], reports=[])
    fleet[machine] = [*rows, late]
    got = _usages(conn, [machine], TZ, first, last)
    assert _same(got, {machine: _expected(fleet, TZ, first, last)[machine]})
    assert got[machine][(day - first).days] == pytest.approx(
        _expected({machine: rows}, TZ, first, last)[machine][(day - first).days] + 3.0
    )


def test_a_half_hour_zone_is_read_from_readings_whatever_the_rollup_holds(
    conn: Conn, fleet: dict[int, list[Reading]]
) -> None:
    tz = "Asia/Kolkata"  # UTC+05:30: its midnights fall mid-hour, so the rollup's hours straddle
    today = NOW.astimezone(ZoneInfo(tz)).date()
    first, last = today - timedelta(days=DAYS - 1), today - timedelta(days=1)
    hourly_rollup.refresh(conn, now=NOW)
    conn.execute("UPDATE readings_hourly SET engine_hours_max = engine_hours_max + 100")
    assert _same(_usages(conn, list(fleet), tz, first, last), _expected(fleet, tz, first, last))
