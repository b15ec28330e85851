"""Delivery against real receivers: retries and their end, refusals, quiet hours, leases and
concurrent deliverers."""

from __future__ import annotations

import json
import random
import threading
import uuid
from datetime import UTC, datetime, time, timedelta

import psycopg
import pytest

from maintenance.alerts import delivery, outbox, policy
from maintenance.alerts.channels import Sender
from maintenance.alerts.model import Audience, Channel, QuietHours
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.integration.alerts.conftest import (
    Clock,
    Conn,
    World,
    add_subscription,
    drain,
    pending,
)
from tests.integration.alerts.receivers import SmtpReceiver, WebhookReceiver


def open_ticket(
    conn: Conn, world: World, clock: Clock, *, priority: Priority = Priority.NORMAL
) -> int:
    finding = Finding(
        machine_id=world.machine_id,
        rule_key=f"manual-{uuid.uuid4().hex[:6]}",
        rule_kind="manual",
        title="Hydraulic hose weeping",
        priority=priority,
        evidence={"n": uuid.uuid4().hex},
    )
    with conn.transaction():
        opened = apply_findings(conn, [finding], now=clock.now).opened
    assert len(opened) == 1
    return opened[0]


def outbox_rows(conn: Conn) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT status, attempts, last_error, next_attempt_at FROM alert_outbox ORDER BY id"
    ).fetchall()


def test_a_receiver_that_keeps_failing_makes_the_alert_dead_after_n_attempts(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
) -> None:
    webhook.fail_first = 1_000
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
    )
    open_ticket(conn, world, clock)
    run = drain(conn, clock, senders, max_attempts=4)
    assert (run.retried, run.dead, run.delivered) == (3, 1, 0)
    [(status, attempts, error, _)] = outbox_rows(conn)
    assert (status, attempts) == ("dead", 4)
    assert error == "webhook: HTTP 500: receiver says no (attempt 4 of 4)"
    assert len(webhook.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_4xx_refusal_is_dead_at_once(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
    status: int,
) -> None:
    webhook.fail_first, webhook.fail_status = 1_000, status
    add_subscription(
        conn,
        audience=Audience.DEALER,
        recipient_id=world.dealer_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
    )
    open_ticket(conn, world, clock)
    drain(conn, clock, senders)
    [(row_status, attempts, error, _)] = outbox_rows(conn)
    assert (row_status, attempts) == ("dead", 1)
    assert str(error).startswith(f"webhook: HTTP {status}")


@pytest.mark.parametrize("status", [408, 429, 503])
def test_busy_and_server_errors_are_retried(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
    status: int,
) -> None:
    webhook.fail_first, webhook.fail_status = 1, status
    add_subscription(
        conn,
        audience=Audience.DEALER,
        recipient_id=world.dealer_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
    )
    open_ticket(conn, world, clock)
    drain(conn, clock, senders)
    assert [r[:2] for r in outbox_rows(conn)] == [("delivered", 2)]


def test_an_unreachable_receiver_is_retried(
    conn: Conn, world: World, clock: Clock, senders: dict[Channel, Sender]
) -> None:
    closed = WebhookReceiver().start()
    url = closed.url()
    closed.stop()
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.WEBHOOK,
        target=url,
    )
    open_ticket(conn, world, clock)
    run = delivery.deliver_due(conn, now=clock.now, senders=senders, rng=random.Random(0))
    assert run.retried == 1
    [(status, attempts, error, next_at)] = outbox_rows(conn)
    assert (status, attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in str(error)
    assert isinstance(next_at, datetime)
    assert clock.now + timedelta(seconds=15) <= next_at <= clock.now + timedelta(seconds=30)


def test_an_email_to_a_refused_recipient_is_dead_at_once(
    conn: Conn,
    world: World,
    clock: Clock,
    smtp: SmtpReceiver,
    senders: dict[Channel, Sender],
) -> None:
    smtp.refuse = frozenset({"nobody@example.test"})
    for target in ("nobody@example.test", "owner@example.test"):
        add_subscription(
            conn,
            audience=Audience.OWNER,
            recipient_id=world.owner_id,
            channel=Channel.EMAIL,
            target=target,
        )
    open_ticket(conn, world, clock)
    drain(conn, clock, senders)
    rows = outbox_rows(conn)
    assert [r[:2] for r in rows] == [("dead", 1), ("delivered", 1)]
    assert "recipient refused" in str(rows[0][2])
    assert [m["To"] for m in smtp.messages] == ["owner@example.test"]


def test_quiet_hours_defer_until_their_end_but_critical_goes_at_once(
    conn: Conn,
    world: World,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
) -> None:
    # 23:00 UTC is midnight in Berlin, inside the owner's 22:00-06:00 night (ends 05:00 UTC).
    night = Clock(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
        quiet=QuietHours(time(22, 0), time(6, 0), "Europe/Berlin"),
    )
    normal = open_ticket(conn, world, night)
    critical = open_ticket(conn, world, night, priority=Priority.CRITICAL)
    rng = random.Random(0)

    run = delivery.deliver_due(conn, now=night.now, senders=senders, rng=rng)
    assert (run.delivered, run.deferred) == (1, 1)
    [first] = webhook.accepted.values()
    assert json.loads(first.body)["data"]["ticket"]["id"] == critical
    row = conn.execute(
        "SELECT attempts, next_attempt_at FROM alert_outbox WHERE ticket_id = %s", (normal,)
    ).fetchone()
    morning = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert row == (0, morning)  # a deferral is not an attempt

    assert (
        delivery.deliver_due(conn, now=morning - timedelta(seconds=1), senders=senders, rng=rng)
        == delivery.Run()
    )
    assert delivery.deliver_due(conn, now=morning, senders=senders, rng=rng).delivered == 1
    assert len(webhook.accepted) == 2
    assert pending(conn) == 0


def test_a_deliverer_that_dies_holding_a_claim_leaves_the_alert_to_the_next_after_the_lease(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
) -> None:
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
    )
    open_ticket(conn, world, clock)
    lost = outbox.claim_due(
        conn, now=clock.now, lease_until=clock.now + policy.LEASE, limit=10
    )  # ... and the worker is gone before sending
    assert len(lost) == 1
    rng = random.Random(0)
    assert delivery.deliver_due(conn, now=clock.now, senders=senders, rng=rng).claimed == 0
    almost = clock.now + policy.LEASE - timedelta(seconds=1)
    assert delivery.deliver_due(conn, now=almost, senders=senders, rng=rng).claimed == 0
    after = clock.now + policy.LEASE
    assert delivery.deliver_due(conn, now=after, senders=senders, rng=rng).delivered == 1
    assert [r[:2] for r in outbox_rows(conn)] == [("delivered", 2)]
    assert len(webhook.requests) == 1
    # The lost worker's late outcome changes nothing: the row is no longer its claim.
    outbox.mark_retry(conn, lost[0], at=after, error="late")
    outbox.mark_dead(conn, lost[0], error="late")
    assert [r[:3] for r in outbox_rows(conn)] == [("delivered", 2, None)]


def test_a_resend_after_a_lost_outcome_carries_the_same_key_and_the_receiver_drops_it(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
) -> None:
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.WEBHOOK,
        target=webhook.url(),
    )
    open_ticket(conn, world, clock)
    [row] = outbox.claim_due(conn, now=clock.now, lease_until=clock.now + policy.LEASE, limit=1)
    senders[Channel.WEBHOOK](row, now=clock.now)  # sent, then the worker died before recording
    later = clock.advance(policy.LEASE)
    assert delivery.deliver_due(conn, now=later, senders=senders).delivered == 1
    assert len(webhook.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in webhook.requests} == {str(row.idempotency_key)}
    assert webhook.requests[0].body == webhook.requests[1].body
    assert (len(webhook.accepted), webhook.repeats) == (1, 1)


ROWS = 40


def many_rows(conn: Conn, world: World, clock: Clock, webhook: WebhookReceiver) -> None:
    for i in range(ROWS // 2):
        add_subscription(
            conn,
            audience=Audience.DEALER,
            recipient_id=world.dealer_id,
            channel=Channel.WEBHOOK,
            target=webhook.url(f"/hook/{i}"),
        )
    open_ticket(conn, world, clock)
    open_ticket(conn, world, clock)
    assert pending(conn) == ROWS


def test_two_deliverers_claiming_at_once_never_claim_the_same_row(
    conn: Conn, db_url: str, world: World, clock: Clock, webhook: WebhookReceiver
) -> None:
    many_rows(conn, world, clock, webhook)
    start = threading.Barrier(2)
    claims: list[list[int]] = [[], []]

    def claim(i: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            start.wait()
            rows = outbox.claim_due(
                c, now=clock.now, lease_until=clock.now + policy.LEASE, limit=ROWS - 5
            )
            claims[i] = [r.id for r in rows]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claims[0]) & set(claims[1])
    assert len(claims[0]) + len(claims[1]) == ROWS


def test_two_deliverers_running_at_once_send_each_alert_once(
    conn: Conn,
    db_url: str,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    senders: dict[Channel, Sender],
) -> None:
    many_rows(conn, world, clock, webhook)
    start = threading.Barrier(2)
    runs: list[delivery.Run] = [delivery.Run(), delivery.Run()]

    def deliver(i: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            start.wait()
            runs[i] = delivery.deliver_due(c, now=clock.now, senders=senders, batch=3)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs[0].delivered + runs[1].delivered == ROWS
    assert len(webhook.requests) == ROWS
    assert len(webhook.accepted) == ROWS
    assert pending(conn) == 0
