"""/v1/dispatch records beside the tickets: dealer stock, technicians for the assign dialog and the
customer view, each scoped to a dealer-bound key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ironlink.settings import Settings
from maintenance.crm.customer import grade_all
from tests.factories import make_machine, make_owner
from tests.integration.api.test_dispatch_support import (
    NOW,
    Api,
    Conn,
    World,
    build_world,
    make_ticket,
    serve,
)


@pytest.fixture
def world(conn: Conn) -> World:
    return build_world(conn)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from serve(settings)


# --- Stock ----------------------------------------------------------------------------------------


@pytest.fixture
def shelf(conn: Conn, world: World) -> World:
    """Dealer a: FLT-OIL-1 5 on hand, FLT-AIR-2 1 on hand and reserved, HYD-HOSE none and 2
    backordered, BELT-9 10 on hand; dealer b: FLT-OIL-1 7."""
    a, b = world.dealers["a"], world.dealers["b"]
    ticket = make_ticket(conn, machine_id=world.machines["a1"], due=NOW)
    for part_no, price in (("FLT-OIL-1", "12.50"), ("FLT-AIR-2", None), ("HYD-HOSE", "80"),
                           ("BELT-9", "30")):  # fmt: skip
        conn.execute(
            "INSERT INTO parts (part_no, description, unit_price) VALUES (%s, %s, %s)",
            (part_no, f"{part_no} part", price),
        )
    for dealer, part_no, on_hand, reserved in (
        (a, "FLT-OIL-1", 5, 0),
        (a, "FLT-AIR-2", 1, 1),
        (a, "HYD-HOSE", 0, 0),
        (a, "BELT-9", 10, 0),
        (b, "FLT-OIL-1", 7, 0),
    ):
        conn.execute(
            "INSERT INTO dealer_stock (dealer_id, part_no, on_hand, reserved)"
            " VALUES (%s, %s, %s, %s)",
            (dealer, part_no, on_hand, reserved),
        )
    conn.execute(
        "INSERT INTO parts_requests (ticket_id, dealer_id, part_no, qty, status)"
        " VALUES (%s, %s, 'HYD-HOSE', 2, 'backordered')",
        (ticket, a),
    )
    return world


def stock_url(w: World, dealer: str) -> str:
    return f"/v1/dispatch/dealers/{w.codes[dealer]}/stock"


def part_nos(page: dict[str, object]) -> list[str]:
    return [i["part_no"] for i in page["items"]]  # type: ignore[attr-defined, index]


def test_stock_lists_the_shelf_with_available_and_backorders(api: Api, shelf: World) -> None:
    status, page = api.get(stock_url(shelf, "a"), shelf.keys["a"])
    assert status == 200, page
    assert part_nos(page) == ["BELT-9", "FLT-AIR-2", "FLT-OIL-1", "HYD-HOSE"]
    by_part = {i["part_no"]: i for i in page["items"]}
    assert by_part["FLT-AIR-2"] | {"description": ""} == {
        "part_no": "FLT-AIR-2",
        "description": "",
        "unit_price": None,
        "on_hand": 1,
        "reserved": 1,
        "available": 0,
        "backordered": 0,
        "low": True,
    }
    assert Decimal(by_part["FLT-OIL-1"]["unit_price"]) == Decimal("12.50")
    assert (by_part["HYD-HOSE"]["backordered"], by_part["HYD-HOSE"]["low"]) == (2, True)
    assert by_part["BELT-9"]["low"] is False


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"prefix": "FLT-"}, ["FLT-AIR-2", "FLT-OIL-1"]),
        ({"prefix": "flt-"}, []),  # part numbers are exact
        ({"low": True}, ["FLT-AIR-2", "HYD-HOSE"]),
        ({"low": True, "min_available": 6}, ["FLT-AIR-2", "FLT-OIL-1", "HYD-HOSE"]),
        ({"low": True, "prefix": "FLT"}, ["FLT-AIR-2"]),
    ],
)
def test_stock_filters(
    api: Api, shelf: World, params: dict[str, object], expected: list[str]
) -> None:
    status, page = api.get(stock_url(shelf, "a"), shelf.keys["a"], **params)
    assert (status, part_nos(page)) == (200, expected)


def test_stock_pages_by_part_number(api: Api, shelf: World) -> None:
    _, first = api.get(stock_url(shelf, "a"), shelf.keys["a"], limit=3)
    assert (part_nos(first), first["next_after"]) == (
        ["BELT-9", "FLT-AIR-2", "FLT-OIL-1"],
        "FLT-OIL-1",
    )
    _, rest = api.get(stock_url(shelf, "a"), shelf.keys["a"], limit=3, after="FLT-OIL-1")
    assert (part_nos(rest), rest["next_after"]) == (["HYD-HOSE"], None)


def test_another_dealers_stock_is_404_like_a_missing_dealer(api: Api, shelf: World) -> None:
    status, theirs = api.get(stock_url(shelf, "b"), shelf.keys["a"])
    assert status == 404
    assert theirs["detail"] == f"dealer {shelf.codes['b']!r} does not exist"
    status, page = api.get(stock_url(shelf, "b"), shelf.keys["all"])
    assert (status, part_nos(page)) == (200, ["FLT-OIL-1"])
    assert api.get("/v1/dispatch/dealers/NOPE/stock", shelf.keys["admin"])[0] == 404


# --- Technicians ----------------------------------------------------------------------------------


def test_technicians_with_skills_and_live_load(api: Api, conn: Conn, world: World) -> None:
    ann, abe = world.techs["ann"], world.techs["abe"]
    for status, tech in (("open", ann), ("scheduled", ann), ("closed", ann), ("open", abe)):
        make_ticket(
            conn, machine_id=world.machines["a1"], due=NOW, status=status, technician_id=tech
        )
    status, page = api.get("/v1/dispatch/technicians", world.keys["a"], active=True)
    assert status == 200, page
    assert [(t["name"], t["load"], t["skills"], t["dealer"]) for t in page["items"]] == [
        ("Ann", 2, ["engine", "hydraulics"], world.codes["a"]),
        ("Abe", 1, ["service"], world.codes["a"]),
    ]
    _, page = api.get("/v1/dispatch/technicians", world.keys["a"])
    assert [t["name"] for t in page["items"]] == ["Ann", "Abe", "Old"]
    _, page = api.get("/v1/dispatch/technicians", world.keys["a"], skill="engine")
    assert [t["name"] for t in page["items"]] == ["Ann"]
    _, page = api.get("/v1/dispatch/technicians", world.keys["a"], limit=2)
    assert page["next_after"] == abe
    _, page = api.get("/v1/dispatch/technicians", world.keys["a"], after=abe)
    assert [t["name"] for t in page["items"]] == ["Old"]


def test_technicians_of_another_dealer_are_404_for_a_bound_key(api: Api, world: World) -> None:
    status, _ = api.get("/v1/dispatch/technicians", world.keys["a"], dealer=world.codes["b"])
    assert status == 404
    status, page = api.get("/v1/dispatch/technicians", world.keys["all"], dealer=world.codes["b"])
    assert [t["name"] for t in page["items"]] == ["Ben"]
    _, page = api.get("/v1/dispatch/technicians", world.keys["all"], skill="engine")
    assert [t["name"] for t in page["items"]] == ["Ann", "Ben"]


# --- Customers ------------------------------------------------------------------------------------


def service_record(
    conn: Conn, machine_id: int, *, days_ago: int, parts: str, labour: str, kind: str = "service"
) -> None:
    conn.execute(
        "INSERT INTO service_records (machine_id, rule_key, engine_hours, done_at, kind,"
        " parts_cost, labour_cost, labour_h, notes) VALUES (%s, 'svc-250h', 250, %s, %s, %s, %s,"
        " 1, 'done')",
        (machine_id, datetime.now(UTC) - timedelta(days=days_ago), kind, parts, labour),
    )


def test_customer_view_of_the_dealers_own_customer(api: Api, conn: Conn, world: World) -> None:
    alice, a1 = world.owners["alice"], world.machines["a1"]
    conn.execute(
        "INSERT INTO owner_contacts (owner_id, name, role, phone, preferred)"
        " VALUES (%s, 'Alice', 'owner', '+353 1', true)",
        (alice,),
    )
    service_record(conn, a1, days_ago=30, parts="100.00", labour="50.00")
    service_record(conn, a1, days_ago=60, parts="900.00", labour="0", kind="warranty")
    service_record(conn, a1, days_ago=400, parts="700.00", labour="0")
    for score in (4, 2):
        ticket = make_ticket(conn, machine_id=a1, due=NOW, status="closed")
        conn.execute(
            "UPDATE tickets SET satisfaction = %s, rated_at = now() WHERE id = %s",
            (score, ticket),
        )
    live = make_ticket(conn, machine_id=a1, due=NOW - timedelta(hours=1))
    grade_all(conn, now=datetime.now(UTC))
    status, body = api.get(f"/v1/dispatch/customers/{alice}", world.keys["a"])
    assert status == 200, body
    assert (body["owner"]["id"], body["owner"]["dealer"]) == (alice, world.codes["a"])
    assert [c["name"] for c in body["contacts"]] == ["Alice"]
    assert sorted(m["serial"] for m in body["machines"]) == sorted(
        [world.serials["a1"], world.serials["a2"]]
    )
    assert [(t["id"], t["overdue"]) for t in body["open_tickets"]] == [(live, True)]
    assert len(body["service_history"]) == 3
    assert {k: Decimal(v) for k, v in body["spend_12m"].items() if k != "records"} == {
        "parts": Decimal(100),
        "labour": Decimal(50),
        "total": Decimal(150),
    }
    assert body["spend_12m"]["records"] == 1
    assert (body["satisfaction"], body["ratings"]) == (3.0, 2)
    assert body["grade"]["grade"] in {"A", "B", "C", "D"}
    assert set(body["grade"]["scores"]) == {
        "revenue",
        "fleet_size",
        "fleet_value",
        "relationship",
        "satisfaction",
        "trend",
    }


def test_another_dealers_customer_is_404_like_a_missing_one(api: Api, world: World) -> None:
    bob = world.owners["bob"]
    status, body = api.get(f"/v1/dispatch/customers/{bob}", world.keys["a"])
    assert (status, body["detail"]) == (404, f"owner {bob} not found")
    status, body = api.get(f"/v1/dispatch/customers/{10**9}", world.keys["a"])
    assert (status, body["detail"]) == (404, f"owner {10**9} not found")
    status, body = api.get(f"/v1/dispatch/customers/{bob}", world.keys["all"])
    assert (status, [m["serial"] for m in body["machines"]]) == (200, [world.serials["b1"]])


def test_a_shared_customer_shows_a_bound_key_only_the_machines_its_dealer_services(
    api: Api, conn: Conn, world: World
) -> None:
    carol = make_owner(conn, dealer_id=world.dealers["b"])
    ours, our_serial = make_machine(conn, owner_id=carol, dealer_id=world.dealers["a"])
    theirs, their_serial = make_machine(conn, owner_id=carol, dealer_id=world.dealers["b"])
    for machine in (ours, theirs):
        make_ticket(conn, machine_id=machine, due=NOW)
        service_record(conn, machine, days_ago=5, parts="10", labour="10")
    status, body = api.get(f"/v1/dispatch/customers/{carol}", world.keys["a"])
    assert status == 200
    assert [m["serial"] for m in body["machines"]] == [our_serial]
    assert [t["serial"] for t in body["open_tickets"]] == [our_serial]
    assert [h["serial"] for h in body["service_history"]] == [our_serial]
    _, everything = api.get(f"/v1/dispatch/customers/{carol}", world.keys["all"])
    assert sorted(m["serial"] for m in everything["machines"]) == sorted([our_serial, their_serial])
