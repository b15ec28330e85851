"""Owner API on the real database: the service forecast from readings, service records and the
active rule set, on the machine's own calendar days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
# Far from UTC, so a day boundary in UTC would split the working day (08:00-16:00 is
# 14:00-22:00 UTC in winter, 13:00-21:00 in summer).
ZONE = ZoneInfo("America/Chicago")
START_H = 1000.0


def add_weekday_work(conn: Conn, machine_id: int, *, today: date, days: int = 70) -> float:
    """A reading an hour from 08:00 to 16:00 local on weekdays (8 engine hours a day), nothing at
    weekends; returns the hour meter at the end."""
    hours, seq, rows = START_H, 0, []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        for k in range(9):
            ts = datetime.combine(day, time(8 + k), ZONE)
            rows.append((machine_id, ts, seq, hours + k))
            seq += 1
        hours += 8
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
            rows,
        )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
        (machine_id, rows[-1][1], seq, hours),
    )
    return hours


def expected_day(today: date, hours_left: float) -> date:
    """Hand count: 8 h on each weekday from tomorrow."""
    day, used = today, 0.0
    while used < hours_left:
        day += timedelta(days=1)
        used += 8.0 if day.weekday() < 5 else 0.0
    return day


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def setup(conn: Conn) -> dict[str, Any]:
    dealer = make_dealer(conn)
    conn.execute("UPDATE dealers SET timezone = %s WHERE id = %s", (ZONE.key, dealer))
    owner = make_owner(conn, dealer_id=dealer)
    machine_id, serial = make_machine(conn, owner_id=owner, dealer_id=dealer)
    parked_id, parked = make_machine(conn, owner_id=owner, dealer_id=dealer)
    return {
        "key": create_key(conn, role=Role.OWNER, owner_id=owner),
        "machine_id": machine_id,
        "serial": serial,
        "parked_id": parked_id,
        "parked": parked,
    }


def forecast(client: TestClient, serial: str, key: str) -> Any:
    response = client.get(
        f"/v1/owner/machines/{serial}/service-forecast",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_weekday_usage_forecasts_each_interval_on_the_machines_calendar(
    conn: Conn, client: TestClient, setup: dict[str, Any]
) -> None:
    today = datetime.now(ZONE).date()
    hours = add_weekday_work(conn, setup["machine_id"], today=today)
    # The 500-hour service was done at 1010 h; the 250-hour one has no record.
    conn.execute(
        "INSERT INTO service_records (machine_id, rule_key, engine_hours) VALUES (%s, %s, %s)",
        (setup["machine_id"], "svc-500h", 1010.0),
    )
    with conn.transaction():
        [ticket] = apply_findings(
            conn,
            [
                Finding(
                    setup["machine_id"],
                    "svc-250h",
                    "service_interval",
                    "250-hour service",
                    Priority.NORMAL,
                    {"due_at_h": 1250.0},
                )
            ],
            now=datetime.now(UTC),
        ).opened
    body = forecast(client, setup["serial"], setup["key"])
    assert (body["today"], body["timezone"]) == (today.isoformat(), ZONE.key)
    assert body["engine_hours"] == hours
    usage = body["usage"]
    assert usage["basis"] == "weekly_profile"
    assert usage["per_weekday_h"] == [8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0]
    assert usage["hours_per_week"] == 40.0
    services = {s["rule_key"]: s for s in body["services"]}
    svc250, svc500 = services["svc-250h"], services["svc-500h"]
    due250 = (hours // 250 + 1) * 250
    assert (svc250["due_at_h"], svc250["hours_left"]) == (due250, due250 - hours)
    assert svc250["expected"] == expected_day(today, due250 - hours).isoformat()
    assert svc250["open_ticket_id"] == ticket
    assert (svc500["last_service_h"], svc500["due_at_h"]) == (1010.0, 1510.0)
    if 1510.0 > hours:
        assert svc500["expected"] == expected_day(today, 1510.0 - hours).isoformat()
    else:
        assert svc500["expected"] == today.isoformat()  # overdue
    assert svc500["open_ticket_id"] is None


def test_a_parked_machine_gets_no_date_and_the_reason(
    conn: Conn, client: TestClient, setup: dict[str, Any]
) -> None:
    today = datetime.now(ZONE).date()
    # It reports every day at noon, but its hour meter has not moved for four weeks.
    rows = [
        (
            setup["parked_id"],
            datetime.combine(today - timedelta(days=back), time(12), ZONE),
            back,
            500.0 if back <= 28 else 500.0 - 8 * (back - 28),
        )
        for back in range(60, 0, -1)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
            rows,
        )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, engine_hours) VALUES (%s, %s, 500)",
        (setup["parked_id"], rows[-1][1]),
    )
    body = forecast(client, setup["parked"], setup["key"])
    since = today - timedelta(days=27)  # the day after its meter last rose
    assert body["usage"]["reason"] == f"parked: no engine hours since {since.isoformat()}"
    assert [(s["due_at_h"], s["expected"], s["reason"]) for s in body["services"]] == [
        (750.0, None, body["usage"]["reason"]),
        (1000.0, None, body["usage"]["reason"]),
    ]


def test_a_machine_never_heard_from(client: TestClient, setup: dict[str, Any]) -> None:
    body = forecast(client, setup["parked"], setup["key"])
    assert body["engine_hours"] is None
    assert body["usage"]["reason"] == "the machine has not reported yet"
    assert {s["reason"] for s in body["services"]} == {"the machine has reported no engine hours"}
