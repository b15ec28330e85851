"""Which ticket events become outbox rows, for whom, and in which transaction."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg
import pytest

from maintenance.alerts import delivery, subscriptions
from maintenance.alerts.channels import Sender
from maintenance.alerts.model import Audience, Channel
from maintenance.errors import Conflict, Invalid, NotFound
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets import lifecycle
from maintenance.tickets.flows import apply_findings
from maintenance.tickets.model import Status
from tests.factories import make_dealer, make_owner
from tests.integration.alerts.conftest import SECRET, Clock, Conn, World, add_subscription


def finding(world: World, *, priority: Priority = Priority.LOW, n: int = 1) -> Finding:
    return Finding(
        machine_id=world.machine_id,
        rule_key="anomaly-coolant_c",
        rule_kind="anomaly",
        title="Coolant temperature unusual",
        priority=priority,
        evidence={"episode_start": "2026-11-23T09:00:00+00:00", "event": n},
    )


def alerts(conn: Conn) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT o.kind, CASE WHEN s.owner_id IS NULL THEN 'dealer' ELSE 'owner' END"
        " FROM alert_outbox o JOIN alert_subscriptions s ON s.id = o.subscription_id"
        " ORDER BY o.id"
    ).fetchall()


@pytest.fixture
def subscribed(conn: Conn, world: World) -> World:
    for audience, rid in [(Audience.OWNER, world.owner_id), (Audience.DEALER, world.dealer_id)]:
        add_subscription(
            conn,
            audience=audience,
            recipient_id=rid,
            channel=Channel.EMAIL,
            target=f"{audience}@example.test",
        )
    return world


def test_alerts_are_written_and_rolled_back_with_the_ticket(
    conn: Conn, subscribed: World, clock: Clock
) -> None:
    with conn.transaction():
        apply_findings(conn, [finding(subscribed)], now=clock.now)
        assert len(alerts(conn)) == 2
        raise psycopg.Rollback  # the batch failed after the tickets were written
    assert alerts(conn) == []
    with conn.transaction():
        apply_findings(conn, [finding(subscribed)], now=clock.now)
    assert alerts(conn) == [("opened", "owner"), ("opened", "dealer")]


def test_only_the_tickets_owner_and_dealer_with_active_matching_subscriptions_get_rows(
    conn: Conn, world: World, clock: Clock
) -> None:
    other_dealer = make_dealer(conn)
    other_owner = make_owner(conn, dealer_id=other_dealer)
    for audience, rid, kinds in [
        (Audience.OWNER, other_owner, None),
        (Audience.DEALER, other_dealer, None),
        (Audience.OWNER, world.owner_id, ["resolved"]),
    ]:
        add_subscription(
            conn,
            audience=audience,
            recipient_id=rid,
            channel=Channel.EMAIL,
            target="x@example.test",
            kinds=kinds,
        )
    off = add_subscription(
        conn,
        audience=Audience.DEALER,
        recipient_id=world.dealer_id,
        channel=Channel.EMAIL,
        target="off@example.test",
    )
    with conn.transaction():
        subscriptions.deactivate(conn, subscription_id=off)
        apply_findings(conn, [finding(world)], now=clock.now)
    assert alerts(conn) == []


def test_escalation_resolution_cancel_and_reopen_alert_but_assignment_and_notes_do_not(
    conn: Conn, subscribed: World, clock: Clock
) -> None:
    with conn.transaction():
        [ticket] = apply_findings(conn, [finding(subscribed)], now=clock.now).opened
        # Sustained: the anomaly's second finding asks for NORMAL, raising the ticket.
        apply_findings(conn, [finding(subscribed, priority=Priority.NORMAL, n=2)], now=clock.now)
        lifecycle.add_note(conn, ticket_id=ticket, actor="dispatcher:1", text="called the owner")
        lifecycle.transition(
            conn, ticket_id=ticket, to=Status.IN_PROGRESS, actor="dispatcher:1", now=clock.now
        )
        lifecycle.transition(
            conn,
            ticket_id=ticket,
            to=Status.RESOLVED,
            actor="dispatcher:1",
            note="sensor connector cleaned",
            engine_hours=100.0,
            now=clock.now,
        )
        lifecycle.transition(
            conn, ticket_id=ticket, to=Status.IN_PROGRESS, actor="dispatcher:1", now=clock.now
        )
        lifecycle.transition(
            conn,
            ticket_id=ticket,
            to=Status.CANCELLED,
            actor="dispatcher:1",
            note="duplicate of a manual ticket",
            now=clock.now,
        )
    # Owners get opened/escalated/resolved by default; dealers everything.
    assert alerts(conn) == [
        ("opened", "owner"),
        ("opened", "dealer"),
        ("escalated", "owner"),
        ("escalated", "dealer"),
        ("resolved", "owner"),
        ("resolved", "dealer"),
        ("reopened", "dealer"),
        ("cancelled", "dealer"),
    ]
    payload = conn.execute(
        "SELECT payload FROM alert_outbox WHERE kind = 'resolved' LIMIT 1"
    ).fetchone()
    assert payload is not None
    doc = payload[0]
    assert isinstance(doc, dict)
    assert doc["event"]["note"] == "sensor connector cleaned"
    assert doc["ticket"]["status"] == "resolved"
    assert doc["ticket"]["priority"] == "normal"
    opened = conn.execute("SELECT payload FROM alert_outbox WHERE kind = 'opened' LIMIT 1")
    row = opened.fetchone()
    assert row is not None
    assert "owner_grade" not in str(row[0])  # the dealer's grading stays internal


def test_a_deactivated_subscriptions_pending_alerts_are_given_up(
    conn: Conn, subscribed: World, clock: Clock, senders: dict[Channel, Sender]
) -> None:
    with conn.transaction():
        apply_findings(conn, [finding(subscribed)], now=clock.now)
    [owner_sub] = subscriptions.subscriptions(conn, owner_id=subscribed.owner_id)
    with conn.transaction():
        subscriptions.deactivate(conn, subscription_id=owner_sub.id)
    run = delivery.deliver_due(
        conn, now=clock.now + timedelta(seconds=1), senders=senders, rng=random.Random(0)
    )
    assert (run.dead, run.delivered) == (1, 1)
    row = conn.execute(
        "SELECT status, last_error FROM alert_outbox WHERE subscription_id = %s", (owner_sub.id,)
    ).fetchone()
    assert row == ("dead", "subscription deactivated")


def test_subscriptions_are_checked(conn: Conn, world: World) -> None:
    def sub(**kw: object) -> int:
        args: dict[str, object] = {
            "audience": Audience.OWNER,
            "recipient_id": world.owner_id,
            "channel": Channel.WEBHOOK,
            "target": "https://example.test/hook",
            "secret": SECRET,
        }
        return subscriptions.subscribe(conn, **(args | kw))  # type: ignore[arg-type]

    sid = sub()
    [made] = subscriptions.subscriptions(conn, owner_id=world.owner_id)
    assert (made.id, made.channel, made.active) == (sid, Channel.WEBHOOK, True)
    with pytest.raises(Conflict):
        sub()
    with pytest.raises(Invalid, match="secret"):
        sub(target="https://example.test/other", secret="short")
    with pytest.raises(Invalid, match="http"):
        sub(target="ftp://example.test/hook")
    with pytest.raises(Invalid, match="e-mail"):
        sub(channel=Channel.EMAIL, target="not an address")
    with pytest.raises(NotFound):
        sub(recipient_id=world.owner_id + 1000)
