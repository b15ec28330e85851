from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from maintenance.errors import NotFound
from maintenance.fleet.seed import seed_demo
from maintenance.parts import repo as parts
from maintenance.rules.findings import Finding
from maintenance.rules.load import default_rules
from maintenance.rules.model import PartLine, Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THERMOSTAT = "THERMOSTAT-82C"
COOLANT = "COOLANT-50-20L"

Conn = psycopg.Connection[tuple[object, ...]]


def finding(machine_id: int, *parts_needed: PartLine, rule_key: str = "spn110-fmi0") -> Finding:
    return Finding(
        machine_id=machine_id,
        rule_key=rule_key,
        rule_kind="fault_code",
        title="Coolant too hot",
        priority=Priority.CRITICAL,
        evidence={"spn": 110, "fmi": 0, "oc": 1, "reported_at": "2026-11-23T09:00:00+00:00"},
        parts=parts_needed,
    )


def machine_at(conn: Conn, dealer_id: int) -> int:
    owner = make_owner(conn, dealer_id=dealer_id)
    machine_id, _ = make_machine(conn, owner_id=owner, dealer_id=dealer_id)
    return machine_id


def open_ticket(conn: Conn, machine_id: int, *parts_needed: PartLine) -> int:
    with conn.transaction():
        applied = apply_findings(conn, [finding(machine_id, *parts_needed)], now=NOW)
    (ticket_id,) = applied.opened
    return ticket_id


def stock_up(conn: Conn, *, dealer_id: int, part_no: str, qty: int) -> list[int]:
    with conn.transaction():
        parts.catalogue_on_first_use(conn, [(part_no, "")])
        return parts.receive(conn, dealer_id=dealer_id, part_no=part_no, qty=qty, actor="test")


def requests_of(conn: Conn, ticket_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT part_no, qty, status, dealer_id FROM parts_requests WHERE ticket_id = %s"
        " ORDER BY part_no",
        (ticket_id,),
    ).fetchall()


def on_hand_reserved(conn: Conn, dealer_id: int, part_no: str) -> tuple[int, int]:
    s = parts.stock(conn, dealer_id=dealer_id, part_no=part_no)
    return (0, 0) if s is None else (s.on_hand, s.reserved)


def test_parts_in_stock_are_reserved_at_the_tickets_dealer(conn: Conn) -> None:
    dealer, elsewhere = make_dealer(conn), make_dealer(conn)
    stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=3)
    stock_up(conn, dealer_id=elsewhere, part_no=THERMOSTAT, qty=3)
    ticket = open_ticket(conn, machine_at(conn, dealer), PartLine(part_no=THERMOSTAT, qty=2))
    assert requests_of(conn, ticket) == [(THERMOSTAT, 2, "reserved", dealer)]
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (3, 2)
    assert on_hand_reserved(conn, elsewhere, THERMOSTAT) == (3, 0)
    movements = conn.execute(
        "SELECT kind, on_hand_delta, reserved_delta, ticket_id, actor FROM stock_movements"
        " WHERE dealer_id = %s AND kind = 'reserve'",
        (dealer,),
    ).fetchall()
    assert movements == [("reserve", 0, 2, ticket, "rules")]


def test_parts_short_of_stock_are_backordered_in_full(conn: Conn) -> None:
    dealer = make_dealer(conn)
    stock_up(conn, dealer_id=dealer, part_no=COOLANT, qty=1)
    ticket = open_ticket(
        conn,
        machine_at(conn, dealer),
        PartLine(part_no=THERMOSTAT),  # never stocked here
        PartLine(part_no=COOLANT, qty=2),  # one on the shelf is not enough
    )
    assert requests_of(conn, ticket) == [
        (COOLANT, 2, "backordered", dealer),
        (THERMOSTAT, 1, "backordered", dealer),
    ]
    assert on_hand_reserved(conn, dealer, COOLANT) == (1, 0)
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (0, 0)


def test_a_part_not_in_the_catalogue_is_catalogued_on_first_use(conn: Conn) -> None:
    dealer = make_dealer(conn)
    line = PartLine(part_no="NEW-GASKET-9", description="Rocker cover gasket")
    ticket = open_ticket(conn, machine_at(conn, dealer), line)
    assert requests_of(conn, ticket) == [("NEW-GASKET-9", 1, "backordered", dealer)]
    row = conn.execute(
        "SELECT description, unit_price FROM parts WHERE part_no = 'NEW-GASKET-9'"
    ).fetchone()
    assert row == ("Rocker cover gasket", None)


def test_release_on_cancel_restores_availability_and_drops_backorders(conn: Conn) -> None:
    dealer = make_dealer(conn)
    stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=1)
    ticket = open_ticket(
        conn, machine_at(conn, dealer), PartLine(part_no=THERMOSTAT), PartLine(part_no=COOLANT)
    )
    with conn.transaction():
        conn.execute("UPDATE tickets SET status = 'cancelled' WHERE id = %s", (ticket,))
        released = parts.release(conn, ticket_id=ticket, actor="dispatcher")
    assert len(released) == 1
    assert requests_of(conn, ticket) == [
        (COOLANT, 1, "released", dealer),
        (THERMOSTAT, 1, "released", dealer),
    ]
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (1, 0)
    # the dropped backorder is not filled by the next delivery
    assert stock_up(conn, dealer_id=dealer, part_no=COOLANT, qty=1) == []
    assert on_hand_reserved(conn, dealer, COOLANT) == (1, 0)


def test_consume_on_resolve_takes_reserved_parts_off_the_shelf(conn: Conn) -> None:
    dealer = make_dealer(conn)
    stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=5)
    ticket = open_ticket(conn, machine_at(conn, dealer), PartLine(part_no=THERMOSTAT, qty=2))
    with conn.transaction():
        consumed = parts.consume(conn, ticket_id=ticket, actor="technician")
        again = parts.consume(conn, ticket_id=ticket, actor="technician")
    assert len(consumed) == 1
    assert again == []
    assert requests_of(conn, ticket) == [(THERMOSTAT, 2, "consumed", dealer)]
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (3, 0)


def test_receive_fills_backorders_oldest_first_while_stock_lasts(conn: Conn) -> None:
    dealer = make_dealer(conn)
    tickets = [
        open_ticket(conn, machine_at(conn, dealer), PartLine(part_no=THERMOSTAT, qty=q))
        for q in (1, 2, 1)
    ]
    assert [requests_of(conn, t)[0][2] for t in tickets] == ["backordered"] * 3
    filled = stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=2)
    # the oldest (1 unit) is filled; the next needs 2 with 1 left, and the youngest waits behind it
    statuses = [requests_of(conn, t)[0][2] for t in tickets]
    assert statuses == ["reserved", "backordered", "backordered"]
    assert len(filled) == 1
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (2, 1)
    stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=2)
    assert [requests_of(conn, t)[0][2] for t in tickets] == ["reserved"] * 3
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (4, 4)


def test_receiving_a_part_not_in_the_catalogue_is_refused(conn: Conn) -> None:
    dealer = make_dealer(conn)
    with pytest.raises(NotFound), conn.transaction():
        parts.receive(conn, dealer_id=dealer, part_no="NO-SUCH-PART", qty=1, actor="test")


def test_the_ledger_sums_to_the_stock(conn: Conn) -> None:
    dealers = [make_dealer(conn), make_dealer(conn)]
    for dealer in dealers:
        stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=2)
        stock_up(conn, dealer_id=dealer, part_no=COOLANT, qty=1)
        tickets = [
            open_ticket(
                conn,
                machine_at(conn, dealer),
                PartLine(part_no=THERMOSTAT),
                PartLine(part_no=COOLANT, qty=q),
            )
            for q in (1, 1, 2)
        ]
        with conn.transaction():
            parts.release(conn, ticket_id=tickets[0], actor="test")
            parts.consume(conn, ticket_id=tickets[1], actor="test")
        stock_up(conn, dealer_id=dealer, part_no=COOLANT, qty=3)
    mismatches = conn.execute(
        """
        SELECT s.dealer_id, s.part_no, s.on_hand, s.reserved, m.on_hand, m.reserved
        FROM dealer_stock s
        FULL JOIN (SELECT dealer_id, part_no, sum(on_hand_delta) AS on_hand,
                          sum(reserved_delta) AS reserved
                   FROM stock_movements GROUP BY dealer_id, part_no) m
          USING (dealer_id, part_no)
        WHERE (s.on_hand, s.reserved) IS DISTINCT FROM (m.on_hand, m.reserved)
          AND NOT (s.on_hand = 0 AND s.reserved = 0 AND m.dealer_id IS NULL)
        """
    ).fetchall()
    assert mismatches == []
    reserved_requests = conn.execute(
        "SELECT dealer_id, part_no, sum(qty) FROM parts_requests WHERE status = 'reserved'"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    stock_reserved = conn.execute(
        "SELECT dealer_id, part_no, reserved FROM dealer_stock WHERE reserved > 0 ORDER BY 1, 2"
    ).fetchall()
    assert reserved_requests == stock_reserved
    assert len(stock_reserved) == 4  # the scenario left reservations at both dealers, both parts


def test_two_tickets_racing_for_the_last_unit_reserve_it_once(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        dealer = make_dealer(conn)
        machines = [machine_at(conn, dealer), machine_at(conn, dealer)]
        stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(machine_id: int) -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c, c.transaction():
                c.execute("SELECT txid_current()")  # the transaction has begun
                barrier.wait(timeout=10)  # ... and so has the other one
                apply_findings(c, [finding(machine_id, PartLine(part_no=THERMOSTAT))], now=NOW)
                time.sleep(0.2)  # hold the locks: the other one must not slip in between
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(m,)) for m in machines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        statuses = conn.execute(
            "SELECT status FROM parts_requests WHERE part_no = %s ORDER BY status", (THERMOSTAT,)
        ).fetchall()
        assert statuses == [("backordered",), ("reserved",)]
        assert on_hand_reserved(conn, dealer, THERMOSTAT) == (1, 1)


def test_units_released_on_cancel_go_to_the_oldest_backorder(conn: Conn) -> None:
    dealer = make_dealer(conn)
    stock_up(conn, dealer_id=dealer, part_no=THERMOSTAT, qty=1)
    first, waiting = (
        open_ticket(conn, machine_at(conn, dealer), PartLine(part_no=THERMOSTAT)) for _ in range(2)
    )
    assert requests_of(conn, waiting)[0][2] == "backordered"
    with conn.transaction():
        parts.release(conn, ticket_id=first, actor="dispatcher")
    assert requests_of(conn, waiting)[0][2] == "reserved"
    assert on_hand_reserved(conn, dealer, THERMOSTAT) == (1, 1)


def test_the_demo_seed_catalogues_every_rule_part_and_leaves_some_scarce(conn: Conn) -> None:
    with conn.transaction():
        fleet = seed_demo(conn, tractors=2, excavators=1)
    wanted = {p.part_no for r in default_rules().rules for p in getattr(r, "parts", ())}
    priced = conn.execute("SELECT part_no FROM parts WHERE unit_price > 0").fetchall()
    assert {str(p) for (p,) in priced} == wanted
    for dealer_id in fleet.dealer_ids.values():
        levels = conn.execute(
            "SELECT on_hand FROM dealer_stock WHERE dealer_id = %s", (dealer_id,)
        ).fetchall()
        on_hand = [int(n) for (n,) in levels]  # type: ignore[call-overload]
        assert len(on_hand) < len(wanted)  # some parts were never on this dealer's shelf
        assert 1 in on_hand  # some are down to their last unit
        assert max(on_hand) > 1


def test_seeding_again_frees_reservations_whose_requests_are_gone(conn: Conn) -> None:
    with conn.transaction():
        fleet = seed_demo(conn, tractors=1, excavators=0)
    machine = fleet.machines[0]
    dealer = conn.execute("SELECT dealer_id FROM machines WHERE id = %s", (machine.id,)).fetchone()
    assert dealer is not None
    in_stock = conn.execute(
        "SELECT part_no FROM dealer_stock WHERE dealer_id = %s AND on_hand > 1 LIMIT 1", dealer
    ).fetchone()
    assert in_stock is not None
    ticket = open_ticket(conn, machine.id, PartLine(part_no=str(in_stock[0])))
    assert requests_of(conn, ticket)[0][2] == "reserved"
    before = conn.execute("SELECT count(*) FROM stock_movements").fetchone()
    with conn.transaction():  # what the demo does on every start
        conn.execute(
            "TRUNCATE alert_outbox, ticket_events, parts_requests, service_requests, tickets"
        )
        seed_demo(conn, tractors=1, excavators=0)
    assert conn.execute("SELECT sum(reserved) FROM dealer_stock").fetchone() == (0,)
    after = conn.execute(
        "SELECT kind, reserved_delta FROM stock_movements ORDER BY id OFFSET %s", before
    ).fetchall()
    assert after == [("adjust", -1)]  # and no receipt: the shelves were already at their levels
