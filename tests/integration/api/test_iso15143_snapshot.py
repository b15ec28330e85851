"""The ISO 15143-3 snapshot query on the real database: a page whose machines' newest readings
are far apart (read by separate bounded queries) and machines with no newest reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from api.iso15143.documents import EquipmentRow
from api.iso15143.queries import SNAPSHOT_LOOKBACK, Scope, equipment_snapshot, fleet_page
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PARKED = NOW - timedelta(days=400)  # another readings chunk, far outside any one-day span
H = timedelta(hours=1)


def add_reading(conn: Conn, machine_id: int, ts: datetime, seq: int, **values: float) -> None:
    columns = ["machine_id", "ts", "seq", "engine_hours", *values]
    query = sql.SQL("INSERT INTO readings ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join([sql.Placeholder()] * len(columns)),
    )
    conn.execute(query, (machine_id, ts, seq, 100.0 + seq, *values.values()))


def set_newest(conn: Conn, machine_id: int, ts: datetime | None) -> None:
    conn.execute("INSERT INTO machine_state (machine_id, ts) VALUES (%s, %s)", (machine_id, ts))


def test_page_with_newest_times_a_year_apart_and_machines_without_any(conn: Conn) -> None:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    ids = [make_machine(conn, owner_id=owner, dealer_id=dealer) for _ in range(5)]
    (parked, parked_sn), (_, silent_sn), (status_only, status_sn) = ids[:3]
    (current, current_sn), (near, near_sn) = ids[3:]

    # Parked a year ago: DEF only 5 h before its newest reading (within the look-back); an
    # older DEF level beyond the look-back must not be taken.
    add_reading(conn, parked, PARKED - SNAPSHOT_LOOKBACK - H, 1, def_pct=10.0)
    add_reading(conn, parked, PARKED - 5 * H, 2, def_pct=45.0, fuel_pct=70.0)
    add_reading(conn, parked, PARKED, 3, rpm=0.0, idle_hours=12.0, lat=52.5, lon=-7.25)
    set_newest(conn, parked, PARKED)
    # silent: no readings, no state row. status_only: a state row with no reading time.
    set_newest(conn, status_only, None)
    # Current machine: a reading after its state's newest time is left out, as it always was.
    add_reading(conn, current, NOW - H, 1, fuel_pct=55.0, def_pct=80.0)
    add_reading(conn, current, NOW, 2, rpm=1500.0, idle_hours=3.0, lat=48.0, lon=11.0)
    add_reading(conn, current, NOW + H, 3, fuel_pct=1.0)
    set_newest(conn, current, NOW)
    add_reading(conn, near, NOW - 3 * H, 1, fuel_pct=20.0, rpm=900.0)
    set_newest(conn, near, NOW - 3 * H)

    expected = [
        EquipmentRow(parked_sn, "6155M", None, PARKED, 103.0, PARKED, 12.0, PARKED, 52.5, -7.25,
                     PARKED - 5 * H, 70.0, PARKED - 5 * H, 45.0, PARKED, 0.0),
        EquipmentRow(silent_sn, "6155M", None),
        EquipmentRow(status_sn, "6155M", None),
        EquipmentRow(current_sn, "6155M", None, NOW, 102.0, NOW, 3.0, NOW, 48.0, 11.0,
                     NOW - H, 55.0, NOW - H, 80.0, NOW, 1500.0),
        EquipmentRow(near_sn, "6155M", None, NOW - 3 * H, 101.0, None, None, None, None, None,
                     NOW - 3 * H, 20.0, None, None, NOW - 3 * H, 900.0),
    ]  # fmt: skip
    assert fleet_page(conn, scope=Scope(owner_id=owner), limit=100, offset=0) == expected
    # One machine a page: each alone in its own query.
    assert [
        equipment_snapshot(conn, scope=Scope(owner_id=owner), equipment_id=serial)
        for serial in (parked_sn, silent_sn, status_sn, current_sn, near_sn)
    ] == expected
