"""The demo CRM records, the customer view and grade_all against the real database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from maintenance.crm.customer import WarrantyStatus, customer_view, grade_all
from maintenance.crm.grading import GradeLetter, GradingConfig
from maintenance.errors import NotFound
from maintenance.fleet import demo_crm
from maintenance.fleet.seed import SeededFleet, model_for, seed_demo
from telemetry.wire import Kind

Conn = psycopg.Connection[tuple[object, ...]]
AS_OF = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
SNAPSHOT_TABLES = (
    "dealers",
    "technicians",
    "owners",
    "owner_contacts",
    "machines",
    "service_records",
    "parts",
    "dealer_stock",
    "stock_movements",
)


def seed(conn: Conn, *, owners: int = 12, record_machines: int = 60) -> SeededFleet:
    with conn.transaction():
        return seed_demo(
            conn,
            tractors=4,
            excavators=2,
            owners=owners,
            record_machines=record_machines,
            as_of=AS_OF,
        )


def one(conn: Conn, query: str, *params: object) -> object:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def snapshot(conn: Conn) -> dict[str, list[object]]:
    return {
        t: [r[0] for r in conn.execute(f"SELECT to_jsonb(x) FROM {t} x ORDER BY 1::text")]  # type: ignore[arg-type]
        for t in SNAPSHOT_TABLES
    }


def owner_with_most_machines(conn: Conn) -> int:
    return int(
        one(conn, "SELECT owner_id FROM machines GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")  # type: ignore[call-overload]
    )


def test_the_default_generator_creates_the_promised_records(conn: Conn) -> None:
    with conn.transaction():
        fleet = seed_demo(conn, tractors=12, excavators=8, as_of=AS_OF)
    assert one(conn, "SELECT count(*) FROM dealers") == 5
    assert one(conn, "SELECT count(*) FROM owners") == 40
    assert one(conn, "SELECT count(*) FROM machines") == 320
    assert one(conn, "SELECT count(*) FROM machines WHERE left(serial, 4) = 'REC-'") == 300
    assert fleet.records_services == one(conn, "SELECT count(*) FROM service_records")
    assert fleet.records_services > 1000
    kinds = dict(conn.execute("SELECT kind, count(*) FROM owners GROUP BY 1").fetchall())
    assert set(kinds) == {"farmer", "cooperative", "contractor", "rental", "government"}
    assert kinds["farmer"] == max(kinds.values())
    contacts = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE preferred) FROM owner_contacts GROUP BY owner_id"
    ).fetchall()
    assert len(contacts) == 40
    assert all(1 <= n <= 3 and preferred == 1 for n, preferred in contacts)  # type: ignore[operator]
    skills = conn.execute(
        "SELECT dealer_id, array_agg(DISTINCT s ORDER BY s) FROM technicians, unnest(skills) s"
        " GROUP BY 1"
    ).fetchall()
    assert [sorted(s) for _, s in skills] == [sorted(demo_crm.SKILLS)] * 5  # type: ignore[call-overload]
    assert (
        one(
            conn,
            "SELECT count(*) FROM dealers WHERE opening_hours = '{}' OR parts_warehouse = ''"
            " OR phone IS NULL",
        )
        == 0
    )
    # The simulated machines keep their serials and models.
    sim = [(m.serial, m.kind) for m in fleet.machines]
    assert sim[:2] == [("TR-0001", Kind.TRACTOR), ("TR-0002", Kind.TRACTOR)]
    assert sim[-1] == ("EX-0008", Kind.EXCAVATOR)
    models = dict(conn.execute("SELECT serial, model FROM machines").fetchall())
    for m in fleet.machines:
        assert models[m.serial] == model_for(m.kind, int(m.serial.split("-")[1]))
    assert set(fleet.owner_ids) == {"OWN-HARGREAVE", "OWN-MEADOWCOOP", "OWN-STONEWAY",
                                    "OWN-RENTALL", "OWN-COUNTY", "OWN-BRIGHTWELL"}  # fmt: skip


def test_service_costs_come_from_labour_rates_and_catalogue_prices(conn: Conn) -> None:
    seed(conn)
    rates = {d.code: d.labour_rate_per_h for d in demo_crm.DEALERS}
    rows = conn.execute(
        "SELECT d.code, r.labour_h, r.labour_cost, r.parts_cost,"
        "       (SELECT COALESCE(sum(p.unit_price * (l->>'qty')::int), 0)"
        "        FROM jsonb_array_elements(r.parts) l JOIN parts p ON p.part_no = l->>'part_no')"
        " FROM service_records r JOIN dealers d ON d.id = r.dealer_id"
    ).fetchall()
    assert rows
    for code, labour_h, labour_cost, parts_cost, catalogue_cost in rows:
        assert labour_cost == (labour_h * rates[str(code)]).quantize(Decimal("0.01"))  # type: ignore[operator]
        assert parts_cost == catalogue_cost
    assert one(conn, "SELECT count(*) FROM service_records WHERE technician_id IS NULL") == 0


def test_seeding_again_changes_nothing(conn: Conn) -> None:
    seed(conn)
    before = snapshot(conn)
    seed(conn)
    assert snapshot(conn) == before


def test_the_view_lists_the_owners_machines_only(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    view = customer_view(conn, owner_id=owner_id, now=NOW)
    own = {
        str(s)
        for (s,) in conn.execute("SELECT serial FROM machines WHERE owner_id = %s", (owner_id,))
    }
    assert {m.serial for m in view.machines} == own
    assert len(own) > 1
    assert {h.serial for h in view.service_history} <= own
    assert view.owner.id == owner_id
    assert sum(c.preferred for c in view.contacts) == 1
    assert view.contacts[0].preferred


def test_warranty_status_and_latest_engine_hours(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    first = customer_view(conn, owner_id=owner_id, now=NOW).machines[0]
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, engine_hours) VALUES (%s, %s, 1234.5)",
        (first.id, NOW),
    )
    view = customer_view(conn, owner_id=owner_id, now=NOW)
    machine = next(m for m in view.machines if m.id == first.id)
    assert machine.engine_hours == 1234.5
    assert all(m.engine_hours is None for m in view.machines if m.id != first.id)
    for m in view.machines:
        assert m.warranty_end is not None
        expected = WarrantyStatus.IN_WARRANTY if m.warranty_end >= AS_OF else WarrantyStatus.EXPIRED
        assert m.warranty is expected


def test_12_month_spend_is_the_direct_sum_without_warranty_work(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    direct = conn.execute(
        "SELECT sum(r.parts_cost), sum(r.labour_cost) FROM service_records r"
        " JOIN machines m ON m.id = r.machine_id"
        " WHERE m.owner_id = %s AND r.kind <> 'warranty'"
        "   AND r.done_at > %s::timestamptz - interval '12 months' AND r.done_at <= %s",
        (owner_id, NOW, NOW),
    ).fetchone()
    spend = customer_view(conn, owner_id=owner_id, now=NOW).spend_12m
    assert (spend.parts, spend.labour) == direct
    assert spend.total > 0


def test_the_view_shows_open_tickets_most_urgent_first(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    machine_id, dealer_id = conn.execute(
        "SELECT id, dealer_id FROM machines WHERE owner_id = %s ORDER BY id LIMIT 1", (owner_id,)
    ).fetchone()  # type: ignore[misc]
    insert = (
        "INSERT INTO tickets (machine_id, owner_id, dealer_id, rule_key, kind, title, priority,"
        " status, sla_due_at) VALUES (%s, %s, %s, %s, 'fault_code', 't', %s, %s, %s)"
    )
    for rule, priority, status, due in [
        ("a", "normal", "open", NOW + timedelta(days=2)),
        ("b", "critical", "in_progress", NOW - timedelta(hours=1)),
        ("c", "high", "resolved", NOW - timedelta(days=3)),
    ]:
        conn.execute(insert, (machine_id, owner_id, dealer_id, rule, priority, status, due))
    tickets = customer_view(conn, owner_id=owner_id, now=NOW).open_tickets
    assert [(t.rule_key, t.priority, t.status, t.overdue) for t in tickets] == [
        ("b", "critical", "in_progress", True),
        ("a", "normal", "open", False),
    ]


def test_satisfaction_is_the_mean_rating_once_tickets_carry_one(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    has_column = one(
        conn,
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'tickets' AND column_name = 'satisfaction'",
    )
    assert customer_view(conn, owner_id=owner_id, now=NOW).satisfaction is None
    if not has_column:
        pytest.skip("tickets.satisfaction (migration 0010) has not landed")
    machine_id, dealer_id = conn.execute(
        "SELECT id, dealer_id FROM machines WHERE owner_id = %s ORDER BY id LIMIT 1", (owner_id,)
    ).fetchone()  # type: ignore[misc]
    for rule, score in [("a", 5), ("b", 2)]:
        conn.execute(
            "INSERT INTO tickets (machine_id, owner_id, dealer_id, rule_key, kind, title,"
            " priority, status, sla_due_at, satisfaction, rated_at)"
            " VALUES (%s, %s, %s, %s, 'manual', 't', 'low', 'closed', %s, %s, %s)",
            (machine_id, owner_id, dealer_id, rule, NOW, score, NOW),
        )
    view = customer_view(conn, owner_id=owner_id, now=NOW)
    assert (view.satisfaction, view.ratings) == (3.5, 2)


def test_grade_all_stores_grades_the_view_then_shows(conn: Conn) -> None:
    seed(conn)
    owner_id = owner_with_most_machines(conn)
    assert customer_view(conn, owner_id=owner_id, now=NOW).grade is None
    grades = grade_all(conn, now=NOW)
    assert len(grades) == one(conn, "SELECT count(*) FROM owners")
    assert set(Counter(str(g.grade) for g in grades.values())) <= set(GradeLetter)
    view = customer_view(conn, owner_id=owner_id, now=NOW)
    assert view.grade == grades[owner_id]
    assert view.graded_at == NOW
    stored = dict(conn.execute("SELECT id, grade FROM owners").fetchall())
    assert stored == {i: str(g.grade) for i, g in grades.items()}
    # The owner with the biggest fleet scores top for fleet size.
    assert grades[owner_id].scores.fleet_size == 1.0


def test_grade_all_is_deterministic_and_follows_the_config(conn: Conn) -> None:
    seed(conn)
    first = grade_all(conn, now=NOW)
    details = dict(conn.execute("SELECT id, grade_detail FROM owners").fetchall())
    assert grade_all(conn, now=NOW) == first
    assert dict(conn.execute("SELECT id, grade_detail FROM owners").fetchall()) == details
    everyone_key = grade_all(conn, now=NOW, config=GradingConfig(current_cut=0, future_cut=0))
    assert {g.grade for g in everyone_key.values()} == {GradeLetter.A}


def test_revenue_in_the_grade_is_the_12_month_spend(conn: Conn) -> None:
    seed(conn)
    grades = grade_all(conn, now=NOW)
    for owner_id, g in list(grades.items())[:5]:
        spend = customer_view(conn, owner_id=owner_id, now=NOW).spend_12m
        assert g.facts.revenue_12m == pytest.approx(float(spend.total))


def test_an_unknown_owner_is_not_found(conn: Conn) -> None:
    with pytest.raises(NotFound):
        customer_view(conn, owner_id=999_999, now=NOW)
