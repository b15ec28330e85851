from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg

from maintenance.rules.findings import Finding
from maintenance.rules.model import PartLine, Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def finding(
    machine_id: int, *, reported_at: str = "2026-11-23T09:00:00+00:00", oc: int = 1
) -> Finding:
    return Finding(
        machine_id=machine_id,
        rule_key="spn110-fmi0",
        rule_kind="fault_code",
        title="Coolant too hot",
        priority=Priority.CRITICAL,
        evidence={"spn": 110, "fmi": 0, "oc": oc, "reported_at": reported_at},
        parts=(PartLine(part_no="THERMOSTAT-82C"), PartLine(part_no="COOLANT-50-20L", qty=2)),
    )


def setup_machine(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int, int]:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    machine_id, _ = make_machine(conn, owner_id=owner, dealer_id=dealer)
    return machine_id, owner, dealer


def apply(
    conn: psycopg.Connection[tuple[object, ...]], *findings: Finding
) -> tuple[list[int], list[int]]:
    with conn.transaction():
        applied = apply_findings(conn, findings, now=NOW)
    return applied.opened, applied.appended


def test_a_finding_opens_a_ticket_tied_to_owner_and_dealer_with_parts(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    machine_id, owner, dealer = setup_machine(conn)
    opened, _ = apply(conn, finding(machine_id))
    assert len(opened) == 1
    ticket = conn.execute(
        "SELECT owner_id, dealer_id, priority, status, sla_due_at - opened_at"
        " FROM tickets WHERE id = %s",
        (opened[0],),
    ).fetchone()
    assert ticket is not None
    assert ticket[:4] == (owner, dealer, "critical", "open")
    assert ticket[4].total_seconds() == 4 * 3600  # type: ignore[attr-defined]
    parts = conn.execute(
        "SELECT part_no, qty, dealer_id FROM parts_requests WHERE ticket_id = %s ORDER BY part_no",
        (opened[0],),
    ).fetchall()
    assert parts == [("COOLANT-50-20L", 2, dealer), ("THERMOSTAT-82C", 1, dealer)]
    events = conn.execute(
        "SELECT kind, actor FROM ticket_events WHERE ticket_id = %s", (opened[0],)
    )
    assert events.fetchall() == [("opened", "rules")]


def test_repeats_append_evidence_to_the_one_open_ticket(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    machine_id, _, _ = setup_machine(conn)
    opened, _ = apply(conn, finding(machine_id))
    same, same_appended = apply(conn, finding(machine_id))  # the same report again: nothing new
    new, appended = apply(conn, finding(machine_id, reported_at="2026-11-23T09:30:00+00:00", oc=2))
    assert (same, same_appended) == ([], [])
    assert (new, appended) == ([], opened)
    row = conn.execute("SELECT occurrences, jsonb_array_length(evidence) FROM tickets").fetchone()
    assert row == (2, 2)
    assert conn.execute("SELECT count(*) FROM parts_requests").fetchone() == (2,)


def test_a_resolved_ticket_lets_the_next_finding_open_a_new_one(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    machine_id, _, _ = setup_machine(conn)
    first, _ = apply(conn, finding(machine_id))
    conn.execute("UPDATE tickets SET status = 'resolved' WHERE id = %s", (first[0],))
    second, _ = apply(conn, finding(machine_id, reported_at="2026-11-24T09:00:00+00:00"))
    assert len(second) == 1
    assert second != first


def test_the_evidence_of_a_finished_ticket_opens_no_new_one(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    """A rule that read the machine's faults just before the DTC cleared, evaluated after the
    dispatcher closed the ticket, must not open it again; a new report of the code does."""
    machine_id, _, _ = setup_machine(conn)
    first, _ = apply(conn, finding(machine_id))
    for status in ("closed", "cancelled"):
        conn.execute("UPDATE tickets SET status = %s WHERE id = %s", (status, first[0]))
        assert apply(conn, finding(machine_id)) == ([], [])
    again, _ = apply(conn, finding(machine_id, reported_at="2026-11-23T11:00:00+00:00"))
    assert len(again) == 1


def test_concurrent_findings_for_one_machine_and_rule_open_exactly_one_ticket(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        machine_id, _, _ = setup_machine(conn)
    barrier = threading.Barrier(4)
    results: list[tuple[list[int], list[int]]] = []

    def worker(i: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            results.append(
                apply(c, finding(machine_id, reported_at=f"2026-11-23T09:0{i}:00+00:00"))
            )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(db_url, autocommit=True) as conn:
        tickets = conn.execute("SELECT occurrences FROM tickets").fetchall()
        parts = conn.execute("SELECT count(*) FROM parts_requests").fetchone()
    assert sum(len(opened) for opened, _ in results) == 1
    assert tickets == [(4,)]
    assert parts == (2,)
