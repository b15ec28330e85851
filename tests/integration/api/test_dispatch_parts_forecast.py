"""The dispatcher's parts forecast on the real database: service kits from machines' hour meters
and service records, fault-driven parts from the fleet's ticket history, the live shelf, the daily
job's snapshot, and the dealer scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.db import make_pool
from ironlink.settings import Settings
from maintenance import jobs
from maintenance.forecast.parts_demand import poisson_quantile
from maintenance.rules.findings import Finding
from maintenance.rules.model import PartLine, Priority
from maintenance.rules.store import load_rule_set
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
KIT = [
    {"part_no": "FLT-FUEL-PRI", "qty": 1, "description": "Primary fuel filter"},
    {"part_no": "FLT-FUEL-SEC", "qty": 1, "description": "Secondary fuel filter"},
]
RULES = {
    "version": 1,
    "rules": [{"key": "svc-500h", "kind": "service_interval", "every_h": 500, "parts": KIT}],
}
PER_DAY_H = 10.0


@dataclass
class World:
    code: str  # dealer A's code
    keys: dict[str, str]  # "a": bound to A, "b": bound to B, "all": unbound


def add_steady_work(conn: Conn, machine_id: int, *, end_h: float, today: Any) -> None:
    """A reading at noon UTC on each of the last 60 days, the meter rising 10 h a day to `end_h`
    yesterday."""
    rows = [
        (machine_id, datetime.combine(today - timedelta(days=k), time(12), UTC), 60 - k,
         end_h - PER_DAY_H * (k - 1))
        for k in range(60, 0, -1)
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
            rows,
        )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
        rows[-1],
    )


def finding(machine_id: int, rule_key: str, kind: str, part: PartLine) -> Finding:
    return Finding(machine_id, rule_key, kind, rule_key, Priority.NORMAL, {}, (part,))


@pytest.fixture
def world(conn: Conn) -> World:
    now = datetime.now(UTC)
    today = now.date()
    load_rule_set(conn, document=RULES, source="test", actor="test")
    a, b = make_dealer(conn), make_dealer(conn)
    owner_a, owner_b = make_owner(conn, dealer_id=a), make_owner(conn, dealer_id=b)
    conn.execute(
        "INSERT INTO parts (part_no, description) VALUES ('FLT-FUEL-PRI', 'Primary fuel filter'),"
        " ('FLT-FUEL-SEC', 'Secondary fuel filter'), ('BATT-12V-180AH', 'Battery 12 V 180 Ah')"
        " ON CONFLICT DO NOTHING"
    )
    conn.execute(
        "INSERT INTO dealer_stock (dealer_id, part_no, on_hand) VALUES"
        " (%(a)s, 'FLT-FUEL-PRI', 2), (%(a)s, 'FLT-FUEL-SEC', 10), (%(a)s, 'BATT-12V-180AH', 3)",
        {"a": a},
    )
    # Dealer A: three working machines at 10 h a day, all last serviced at 1000 h (due at 1500 h),
    # and one that never reported. m3's service ticket is open already.
    m1, m2, m3, m4 = (make_machine(conn, owner_id=owner_a, dealer_id=a)[0] for _ in range(4))
    for machine_id, end_h in ((m1, 1300.0), (m2, 1150.0), (m3, 1450.0)):
        add_steady_work(conn, machine_id, end_h=end_h, today=today)
        conn.execute(
            "INSERT INTO service_records (machine_id, rule_key, engine_hours)"
            " VALUES (%s, 'svc-500h', 1000)",
            (machine_id,),
        )
    # Dealer B's machine of the same model needed 73 alternator belts in the last year.
    m5, _ = make_machine(conn, owner_id=owner_b, dealer_id=b)
    with conn.transaction():
        apply_findings(
            conn,
            [
                finding(m3, "svc-500h", "service_interval", PartLine("FLT-FUEL-PRI", 1)),
                finding(m5, "spn168-charging", "fault_code", PartLine("BELT-ALT", 73)),
            ],
            now=now,
        )
    # Five machines of the model, each in the fleet for the whole year: 1825 machine-days.
    conn.execute(
        "UPDATE machines SET created_at = %s WHERE id = ANY(%s)",
        (now - timedelta(days=400), [m1, m2, m3, m4, m5]),
    )
    code = conn.execute("SELECT code FROM dealers WHERE id = %s", (a,)).fetchone()
    assert code is not None
    return World(
        str(code[0]),
        {
            "a": create_key(conn, role=Role.DISPATCHER, dealer_id=a),
            "b": create_key(conn, role=Role.DISPATCHER, dealer_id=b),
            "all": create_key(conn, role=Role.DISPATCHER),
        },
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def get(client: TestClient, code: str, key: str, **params: int) -> Any:
    return client.get(
        f"/v1/dispatch/dealers/{code}/parts-forecast",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
    )


def forecast(client: TestClient, world: World, **params: int) -> Any:
    response = get(client, world.code, world.keys["a"], **params)
    assert response.status_code == 200, response.text
    return response.json()


def by_part(body: Any) -> dict[str, Any]:
    return {line["part_no"]: line for line in body["lines"]}


# Visits of the 500 h service at 10 h a day: m1 on day 20 and 70, m2 on day 35 and 85, m3 on day
# 55 (its day-5 visit is its open ticket's); steady usage, so the earliest dates are the same.
@pytest.mark.parametrize(("horizon", "visits"), [(30, 1), (60, 3), (90, 5)])
def test_service_kits_by_horizon_against_the_shelf(
    client: TestClient, world: World, horizon: int, visits: int
) -> None:
    body = forecast(client, world, horizon_days=horizon)
    assert (body["dealer"], body["horizon_days"], body["machines"]) == (world.code, horizon, 4)
    assert body["from_snapshot"] is False
    lines = by_part(body)
    pri, sec = lines["FLT-FUEL-PRI"], lines["FLT-FUEL-SEC"]
    for line in (pri, sec):
        assert (line["service_demand_mean"], line["service_demand_upper"]) == (visits, visits)
        assert (line["fault_demand_mean"], line["fault_demand_upper"]) == (0.0, 0)
        assert line["expected_demand_mean"] == visits
        # Over lead time 14 + review 7 days only m1's day-20 visit: one unit.
        assert line["forecast_stock"] == 1
        assert line["habit_stock"] == -(-140 * visits // horizon)  # ceil
    # 2 on hand, 1 reserved for m3's open ticket.
    assert (pri["on_hand"], pri["available"], pri["reorder_qty"]) == (2, 1, 0)
    assert pri["days_of_cover"] == round(1 / (visits / horizon), 1)
    assert sec["days_of_cover"] == round(10 / (visits / horizon), 1)
    battery = lines["BATT-12V-180AH"]
    assert (battery["on_hand"], battery["expected_demand_mean"], battery["days_of_cover"]) == (
        3,
        0.0,
        None,
    )
    assert (battery["reorder_qty"], battery["habit_stock"]) == (0, 0)


def test_fault_driven_parts_from_the_models_history(client: TestClient, world: World) -> None:
    # 73 belts over 1825 machine-days is 0.04 a machine-day; dealer A has 4 such machines.
    belt = by_part(forecast(client, world, horizon_days=30))["BELT-ALT"]
    assert belt["fault_demand_mean"] == pytest.approx(4.8)
    assert belt["fault_demand_upper"] == poisson_quantile(4.8, 0.95)
    assert (belt["on_hand"], belt["available"], belt["days_of_cover"]) == (0, 0, 0.0)
    assert belt["reorder_qty"] == belt["forecast_stock"] == poisson_quantile(0.16 * 21, 0.95)


def test_repair_records_kept_outside_tickets_count_and_exposure_runs_from_purchase(
    client: TestClient, world: World, conn: Conn
) -> None:
    # Dealer B's machine: 73 more belts in a repair booked by hand (counted), 1000 in a record of a
    # ticket (its requests already counted) and 500 in a service record (a kit, not a fault).
    m5, ticket = conn.execute(
        "SELECT machine_id, id FROM tickets WHERE rule_key = 'spn168-charging'"
    ).fetchone() or (0, 0)
    for kind, ticket_id, qty in (
        ("repair", None, 73),
        ("repair", ticket, 1000),
        ("service", None, 500),
    ):
        conn.execute(
            "INSERT INTO service_records (machine_id, rule_key, engine_hours, done_at, ticket_id,"
            " kind, parts) VALUES (%s, 'spn168-charging', 900, now() - interval '100 days', %s,"
            " %s, %s::jsonb)",
            (m5, ticket_id, kind, f'[{{"part_no": "BELT-ALT", "qty": {qty}}}]'),
        )
    # The machines joined IronLink 10 days ago, but were bought long before: a year of exposure.
    conn.execute(
        "UPDATE machines SET created_at = now() - interval '10 days',"
        " purchase_date = current_date - 800"
    )
    belt = by_part(forecast(client, world, horizon_days=30))["BELT-ALT"]
    assert belt["fault_demand_mean"] == pytest.approx(2 * 4.8)  # 146 belts / 1825 machine-days


def test_totals_compare_the_habit_with_the_forecast(client: TestClient, world: World) -> None:
    body = forecast(client, world, horizon_days=90)
    totals, lines = body["totals"], body["lines"]
    assert totals["habit_days"] == 140
    assert totals["habit_stock"] == sum(line["habit_stock"] for line in lines)
    assert totals["forecast_stock"] == sum(line["forecast_stock"] for line in lines)
    assert totals["less_with_forecast"] == totals["habit_stock"] - totals["forecast_stock"] > 0
    assert totals["on_hand"] == 15


def test_a_shorter_lead_time_needs_less_stock(client: TestClient, world: World) -> None:
    # Lead 7 + review 7 days: m1's day-20 visit is outside.
    pri = by_part(forecast(client, world, lead_time_days=7))["FLT-FUEL-PRI"]
    assert pri["forecast_stock"] == 0


def test_the_daily_job_stores_what_the_request_reads(
    conn: Conn, client: TestClient, world: World, settings: Settings
) -> None:
    live = forecast(client, world, horizon_days=60)
    pool = make_pool(settings.database_url)
    try:
        jobs.parts_forecast(pool)
    finally:
        pool.close()
    stored = forecast(client, world, horizon_days=60)
    assert (live["from_snapshot"], stored["from_snapshot"]) == (False, True)
    assert stored["lines"] == live["lines"]
    assert stored["totals"] == live["totals"]
    # A snapshot the job has not replaced for two days is stale: the request computes again.
    conn.execute("UPDATE parts_forecast_runs SET computed_at = computed_at - interval '2 days'")
    assert forecast(client, world, horizon_days=60)["from_snapshot"] is False


def test_another_dealers_dispatcher_gets_404_and_a_bad_horizon_422(
    client: TestClient, world: World
) -> None:
    response = get(client, world.code, world.keys["b"])
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert get(client, "NO-SUCH-DEALER", world.keys["all"]).status_code == 404
    assert get(client, world.code, world.keys["all"]).status_code == 200
    response = get(client, world.code, world.keys["a"], horizon_days=45)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "horizon_days"]
    response = get(client, world.code, world.keys["a"], lead_time_days=61)
    assert response.status_code == 422, response.text
