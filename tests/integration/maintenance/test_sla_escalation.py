"""SLA escalation on the real database with a controllable `now`: near and breached events once
each, a priority step on breach, and the alerts the events enqueue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from maintenance.alerts.model import Audience, Channel
from maintenance.alerts.subscriptions import subscribe
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets import lifecycle
from maintenance.tickets.flows import apply_findings
from maintenance.tickets.model import Status
from maintenance.tickets.sla_escalation import Escalated, escalate
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
OPENED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NEAR = 0.25


@dataclass(frozen=True)
class World:
    machine_id: int
    owner_id: int
    dealer_id: int


@pytest.fixture
def world(conn: Conn) -> World:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    machine_id, _ = make_machine(conn, owner_id=owner, dealer_id=dealer)
    with conn.transaction():  # each audience's default kinds: dealers hear of SLA steps
        for audience, recipient in ((Audience.OWNER, owner), (Audience.DEALER, dealer)):
            subscribe(
                conn,
                audience=audience,
                recipient_id=recipient,
                channel=Channel.EMAIL,
                target=f"{audience}@example.test",
            )
    return World(machine_id, owner, dealer)


def open_ticket(conn: Conn, world: World, *, priority: Priority = Priority.NORMAL) -> int:
    finding = Finding(
        machine_id=world.machine_id,
        rule_key=f"manual-{uuid.uuid4().hex[:6]}",
        rule_kind="manual",
        title="Hydraulic hose weeping",
        priority=priority,
        evidence={"n": uuid.uuid4().hex},
    )
    with conn.transaction():
        [ticket_id] = apply_findings(conn, [finding], now=OPENED).opened
    return ticket_id


def run(conn: Conn, *, hours: float) -> Escalated:
    with conn.transaction():
        return escalate(conn, now=OPENED + timedelta(hours=hours), near_fraction=NEAR)


def sla_events(conn: Conn, ticket_id: int) -> list[tuple[str, str]]:
    return [
        (e.kind, e.actor)
        for e in lifecycle.events(conn, ticket_id=ticket_id)
        if e.kind in {"sla_near", "sla_breached", "escalated"}
    ]


def alerts(conn: Conn, ticket_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT o.kind, s.target, o.priority FROM alert_outbox o"
        " JOIN alert_subscriptions s ON s.id = o.subscription_id"
        " WHERE o.ticket_id = %s AND o.kind <> 'opened' ORDER BY o.id",
        (ticket_id,),
    ).fetchall()


def priority_of(conn: Conn, ticket_id: int) -> str:
    row = conn.execute("SELECT priority FROM tickets WHERE id = %s", (ticket_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_ticket_in_the_last_quarter_of_its_window_is_near_once(conn: Conn, world: World) -> None:
    ticket = open_ticket(conn, world)  # normal: 72 h, near from 54 h
    assert run(conn, hours=53) == Escalated(near=[], breached=[], raised=[])
    assert run(conn, hours=55) == Escalated(near=[ticket], breached=[], raised=[])
    assert run(conn, hours=60) == Escalated(near=[], breached=[], raised=[])
    assert sla_events(conn, ticket) == [("sla_near", "sla")]
    assert alerts(conn, ticket) == [("sla_near", "dealer@example.test", "normal")]
    assert priority_of(conn, ticket) == "normal"


def test_a_breach_is_reported_once_and_raises_the_priority_one_step(
    conn: Conn, world: World
) -> None:
    ticket = open_ticket(conn, world)
    run(conn, hours=55)
    assert run(conn, hours=73) == Escalated(near=[], breached=[ticket], raised=[ticket])
    assert run(conn, hours=74) == Escalated(near=[], breached=[], raised=[])
    assert priority_of(conn, ticket) == "high"
    # The breach is one event that records the raise: no separate escalation.
    assert sla_events(conn, ticket) == [("sla_near", "sla"), ("sla_breached", "sla")]
    # The dealer hears of both steps; the owner, subscribed to escalations, of the breach that
    # raised the priority: one alert each per event, carrying the new priority and the old one.
    near, *breach = alerts(conn, ticket)
    assert near == ("sla_near", "dealer@example.test", "normal")
    assert sorted(breach) == [
        ("sla_breached", "dealer@example.test", "high"),
        ("sla_breached", "owner@example.test", "high"),
    ]
    raised = conn.execute(
        "SELECT DISTINCT payload #>> '{event,raised_from}', payload #>> '{ticket,priority}'"
        " FROM alert_outbox WHERE ticket_id = %s AND kind = 'sla_breached'",
        (ticket,),
    ).fetchall()
    assert raised == [("normal", "high")]


def test_a_critical_ticket_past_its_deadline_is_breached_without_a_raise(
    conn: Conn, world: World
) -> None:
    ticket = open_ticket(conn, world, priority=Priority.CRITICAL)  # 4 h
    assert run(conn, hours=5) == Escalated(near=[], breached=[ticket], raised=[])
    assert priority_of(conn, ticket) == "critical"
    assert sla_events(conn, ticket) == [("sla_breached", "sla")]
    # Nothing was raised: only the dealer, who subscribes to breaches, hears of it.
    assert alerts(conn, ticket) == [("sla_breached", "dealer@example.test", "critical")]


def test_finished_tickets_are_left_alone(conn: Conn, world: World) -> None:
    ticket = open_ticket(conn, world)
    with conn.transaction():
        lifecycle.transition(
            conn, ticket_id=ticket, to=Status.CANCELLED, actor="test", note="sold", now=OPENED
        )
    assert run(conn, hours=100) == Escalated(near=[], breached=[], raised=[])


def test_a_ticket_locked_by_another_transaction_waits_for_the_next_run(
    conn: Conn, world: World, db_url: str
) -> None:
    ticket = open_ticket(conn, world)
    with psycopg.connect(db_url) as other:
        other.execute("SELECT 1 FROM tickets WHERE id = %s FOR UPDATE", (ticket,))
        assert run(conn, hours=73) == Escalated(near=[], breached=[], raised=[])
    assert run(conn, hours=73) == Escalated(near=[], breached=[ticket], raised=[ticket])
