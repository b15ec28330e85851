"""Service-due alerts on the real database: a machine whose 250-hour service is forecast within
the window gets one alert per recipient, never again for that due point, across runs and a
second scheduler deciding from the same stale view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg

from maintenance.alerts import service_due
from maintenance.alerts.channels import Sender
from maintenance.alerts.due_window import due_alerts
from maintenance.alerts.model import Channel
from maintenance.alerts.outbox import prune_finished
from tests.integration.alerts.conftest import Clock, Conn, World, drain, subscribe_both
from tests.integration.alerts.receivers import SmtpReceiver, WebhookReceiver

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAILY_H = 8.0


def work_daily(conn: Conn, machine_id: int, *, until_h: float, days: int = 30) -> None:
    """A reading at 08:00 and 16:00 UTC each day before NOW's, 8 engine hours a day, the meter
    reaching `until_h` on the last day."""
    rows, seq = [], 0
    for back in range(days, 0, -1):
        day = (NOW - timedelta(days=back)).replace(hour=8)
        end_h = until_h - (back - 1) * DAILY_H
        for ts, h in ((day, end_h - DAILY_H), (day.replace(hour=16), end_h)):
            rows.append((machine_id, ts, seq, h))
            seq += 1
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
            rows,
        )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours) VALUES (%s, %s, %s, %s)",
        (machine_id, rows[-1][1], seq, until_h),
    )


def sweep(conn: Conn, *, now: datetime = NOW, lead_days: int = 7) -> service_due.Swept:
    with conn.transaction():
        return service_due.sweep(conn, now=now, lead_days=lead_days)


def outbox(conn: Conn) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT o.event_key, o.kind, s.channel, s.owner_id IS NOT NULL FROM alert_outbox o"
        " JOIN alert_subscriptions s ON s.id = o.subscription_id ORDER BY o.id"
    ).fetchall()


def test_a_service_inside_the_window_is_alerted_once_to_owner_and_dealer(
    conn: Conn,
    world: World,
    clock: Clock,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    senders: dict[Channel, Sender],
) -> None:
    subscribe_both(conn, world, webhook)
    # 1230 h at 8 h a day: the 250-hour service (due at 1250 h) in 3 days, the 500-hour one
    # (1500 h) in 34: only the first is inside a week.
    work_daily(conn, world.machine_id, until_h=1230.0)
    first = sweep(conn)
    assert first.machines == 1
    assert [(k.rule_key, k.due_at_h) for k in first.alerted] == [("svc-250h", 1250.0)]
    assert first.rows == 4
    key = f"service-due:{world.machine_id}:svc-250h:1250.0"
    assert sorted(outbox(conn), key=str) == sorted(
        [
            (key, "service_due", "webhook", True),
            (key, "service_due", "email", True),
            (key, "service_due", "webhook", False),
            (key, "service_due", "email", False),
        ],
        key=str,
    )
    # Later runs (an hour on, the next day) find the key and add nothing.
    assert sweep(conn, now=NOW + timedelta(hours=1)).alerted == []
    assert sweep(conn, now=NOW + timedelta(days=1)).alerted == []
    assert len(outbox(conn)) == 4

    clock.now = NOW
    run = drain(conn, clock, senders)
    assert run.delivered == 4
    assert len(webhook.accepted) == 2
    for req in webhook.accepted.values():
        doc = json.loads(req.body)
        assert doc["type"] == req.headers["X-IronLink-Event"] == "machine.service_due"
        svc = doc["data"]["service"]
        assert (svc["rule_key"], svc["due_at_h"], svc["engine_hours"]) == ("svc-250h", 1250.0, 1230)
        assert svc["expected"] == "2026-11-26"  # 20 h left at 8 h a day: the third day
        assert svc["earliest"] <= svc["expected"] <= svc["latest"]
        assert doc["data"]["machine"]["serial"] == world.serial
    assert sorted(m["To"] for m in smtp.messages) == ["dealer@example.test", "owner@example.test"]
    text = smtp.messages[0].get_content()
    assert f"[IronLink] {world.serial}: 250-hour service" in smtp.messages[0]["Subject"]
    assert "Expected:  2026-11-26 (earliest" in text
    assert "1230.0 h now, due at 1250 h (20.0 h left)" in text


def test_a_second_scheduler_deciding_from_the_same_view_enqueues_nothing(
    conn: Conn, world: World, webhook: WebhookReceiver, db_url: str
) -> None:
    subscribe_both(conn, world, webhook)
    work_daily(conn, world.machine_id, until_h=1230.0)
    dues = service_due.machine_dues(conn, machine_ids=[world.machine_id], now=NOW)
    # Both decide before either commits: the same alert, not yet alerted in either's view.
    [alert] = due_alerts(dues, lead_days=7, alerted=set())
    with psycopg.connect(db_url) as other:
        assert service_due.enqueue(other, alert, now=NOW) == 4
        other.commit()
    with conn.transaction():
        assert service_due.enqueue(conn, alert, now=NOW) is None
    assert len(outbox(conn)) == 4


def test_a_service_beyond_the_window_waits_and_the_next_interval_is_a_new_alert(
    conn: Conn, world: World, webhook: WebhookReceiver
) -> None:
    subscribe_both(conn, world, webhook)
    work_daily(conn, world.machine_id, until_h=1170.0)  # 80 h left: 10 days
    assert sweep(conn).alerted == []
    assert [k.due_at_h for k in sweep(conn, lead_days=10).alerted] == [1250.0]
    # The 250-hour service done at 1250 h: its next due point (1500 h) is a new service.
    conn.execute(
        "INSERT INTO service_records (machine_id, rule_key, engine_hours) VALUES (%s, %s, %s)",
        (world.machine_id, "svc-250h", 1250.0),
    )
    conn.execute(
        "UPDATE machine_state SET engine_hours = 1480 WHERE machine_id = %s", (world.machine_id,)
    )
    assert {(k.rule_key, k.due_at_h) for k in sweep(conn).alerted} == {
        ("svc-250h", 1500.0),
        ("svc-500h", 1500.0),
    }


def test_a_pruned_alert_is_not_enqueued_again(
    conn: Conn, world: World, webhook: WebhookReceiver
) -> None:
    subscribe_both(conn, world, webhook)
    work_daily(conn, world.machine_id, until_h=1230.0)
    assert len(sweep(conn).alerted) == 1
    conn.execute("UPDATE alert_outbox SET status = 'dead'")
    assert outbox_rows_pruned(conn) == 4
    assert sweep(conn, now=NOW + timedelta(hours=2)).alerted == []
    assert outbox(conn) == []


def outbox_rows_pruned(conn: Conn) -> int:
    return prune_finished(conn, before=NOW + timedelta(days=1))
