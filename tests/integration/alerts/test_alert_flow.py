"""Issue 8's done-when for alerts: a machine crosses a service interval and raises a red-stop
fault; its owner and dealer each get exactly one webhook and one e-mail per event, through a
webhook receiver that fails the first attempts and an SMTP server that defers the first."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from maintenance.alerts import render
from maintenance.alerts.channels import Sender
from maintenance.alerts.model import Channel
from maintenance.evaluate import run_rules
from maintenance.rules.load import default_rules
from maintenance.tickets import lifecycle
from maintenance.tickets.model import Status
from tests.integration.alerts.conftest import (
    SECRET,
    Clock,
    Conn,
    World,
    drain,
    subscribe_both,
)
from tests.integration.alerts.receivers import SmtpReceiver, WebhookReceiver

RULES = [r for r in default_rules().rules if r.key in ("svc-250h", "spn110-fmi0")]


def report(conn: Conn, world: World, clock: Clock, *, hours: float, faults: list[object]) -> None:
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, engine_hours, active_faults, faults_ts)"
        " VALUES (%(m)s, %(ts)s, %(h)s, %(f)s::jsonb, %(ts)s)"
        " ON CONFLICT (machine_id) DO UPDATE SET ts = EXCLUDED.ts,"
        " engine_hours = EXCLUDED.engine_hours, active_faults = EXCLUDED.active_faults,"
        " faults_ts = EXCLUDED.faults_ts",
        {"m": world.machine_id, "ts": clock.now, "h": hours, "f": json.dumps(faults)},
    )


def test_service_interval_and_fault_alert_each_recipient_once_per_event(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    senders: dict[Channel, Sender],
) -> None:
    webhook.fail_first = 2
    smtp.fail_first = 1
    subscribe_both(conn, world, webhook)

    # Below the 250 h service's lead: nothing. Then into it, twice (one ticket, one alert each).
    report(conn, world, clock, hours=210.0, faults=[])
    assert run_rules(conn, rules=RULES, machine_ids=[world.machine_id], now=clock.now).opened == []
    clock.advance(timedelta(hours=8))
    report(conn, world, clock, hours=228.0, faults=[])
    service = run_rules(conn, rules=RULES, machine_ids=[world.machine_id], now=clock.now).opened
    clock.advance(timedelta(minutes=10))
    report(conn, world, clock, hours=228.2, faults=[])
    assert run_rules(conn, rules=RULES, machine_ids=[world.machine_id], now=clock.now).opened == []
    # Coolant above normal, most severe: a red-stop fault, reported on two batches.
    clock.advance(timedelta(minutes=10))
    report(conn, world, clock, hours=228.4, faults=[{"spn": 110, "fmi": 0, "oc": 1}])
    fault = run_rules(conn, rules=RULES, machine_ids=[world.machine_id], now=clock.now).opened
    run_rules(conn, rules=RULES, machine_ids=[world.machine_id], now=clock.now)
    assert len(service) == len(fault) == 1
    # The dealer services the machine.
    clock.advance(timedelta(hours=2))
    with conn.transaction():
        lifecycle.transition(
            conn,
            ticket_id=service[0],
            to=Status.RESOLVED,
            actor="dispatcher:1",
            note="250 h service done",
            engine_hours=230.0,
            now=clock.now,
        )

    run = drain(conn, clock, senders)

    # Three events (service opened, fault opened, service resolved) x four subscriptions.
    rows = conn.execute(
        "SELECT o.idempotency_key::text, s.channel, s.owner_id IS NOT NULL, o.kind, o.attempts,"
        " o.status FROM alert_outbox o JOIN alert_subscriptions s ON s.id = o.subscription_id"
    ).fetchall()
    assert len(rows) == 12
    assert {r[5] for r in rows} == {"delivered"}
    assert Counter((r[1], r[3]) for r in rows) == {
        ("webhook", "opened"): 4,
        ("email", "opened"): 4,
        ("webhook", "resolved"): 2,
        ("email", "resolved"): 2,
    }
    # Webhooks: two 500s then 200 for each; e-mail: one 451 then accepted.
    assert {r[4] for r in rows if r[1] == "webhook"} == {3}
    assert {r[4] for r in rows if r[1] == "email"} == {2}
    assert run.delivered == 12
    assert run.retried == 6 * 2 + 6

    # Exactly one webhook per event and recipient, signed, none sent again once accepted.
    webhook_keys = {r[0] for r in rows if r[1] == "webhook"}
    assert set(webhook.accepted) == webhook_keys
    assert len(webhook.requests) == 3 * len(webhook_keys)
    assert webhook.repeats == 0
    per_recipient = Counter(
        (req.path, json.loads(req.body)["data"]["event"]["id"]) for req in webhook.accepted.values()
    )
    assert set(per_recipient.values()) == {1}
    assert len(per_recipient) == 6
    for req in webhook.accepted.values():
        assert render.verify(
            SECRET,
            header=req.headers["X-IronLink-Signature"],
            timestamp=req.headers["X-IronLink-Timestamp"],
            body=req.body,
            now=clock.now,
            tolerance_s=10**6,
        )
    kinds = Counter(
        (req.path, json.loads(req.body)["data"]["ticket"]["kind"], req.headers["X-IronLink-Event"])
        for req in webhook.accepted.values()
    )
    assert kinds == {
        (path, kind, f"ticket.{event}"): 1
        for path in ("/owner", "/dealer")
        for kind, event in [
            ("service_interval", "opened"),
            ("fault_code", "opened"),
            ("service_interval", "resolved"),
        ]
    }

    # Exactly one e-mail per event and recipient.
    assert len(smtp.messages) == 6
    assert len({m["Message-ID"] for m in smtp.messages}) == 6
    assert Counter(m["To"] for m in smtp.messages) == {
        "owner@example.test": 3,
        "dealer@example.test": 3,
    }
    subjects = sorted(m["Subject"] for m in smtp.messages if m["To"] == "owner@example.test")
    assert subjects == sorted(
        [
            f"[IronLink] {world.serial}: new ticket - 250-hour service (engine oil and filter)"
            " (normal)",
            f"[IronLink] {world.serial}: resolved - 250-hour service (engine oil and filter)"
            " (normal)",
            f"[IronLink] {world.serial}: new ticket - Engine coolant temperature above normal,"
            " most severe (critical)",
        ]
    )

    # Another run finds nothing to send.
    again = drain(conn, clock, senders)
    assert again.claimed == 0
    assert len(webhook.requests) == 18
    assert len(smtp.messages) == 6
