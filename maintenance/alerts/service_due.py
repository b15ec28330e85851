"""Service-due alerts: each reporting machine's service forecast (maintenance.forecast.repo), the
services inside the alert window not alerted yet (maintenance.alerts.due_window), and for each one
the service_due_alerts key and its outbox rows in one statement. In the caller's transaction.

At most once per (machine, rule, due point) and recipient, across runs, a manual run beside the
scheduler's and failovers: the key's primary key makes a second insert do nothing (a concurrent
one waits for the first to commit, then does nothing), and no outbox rows are written without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString, TypeAlias

import psycopg

from maintenance.alerts.due_window import DueAlert, DueKey, MachineDue, due_alerts, due_key
from maintenance.forecast.repo import service_forecasts
from maintenance.forecast.service_due import STALE_AFTER_DAYS
from telemetry import reader

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# A service due soon is worth planning, not waking anyone: it waits for quiet hours to end.
PRIORITY: Final = "normal"

ALERTED_KEYS: Final[LiteralString] = """
SELECT machine_id, rule_key, due_at_h::float8 FROM service_due_alerts
WHERE machine_id = ANY(%(machine_ids)s)
"""
# The key first; the outbox rows only if this statement inserted it. One row per active
# subscription to service_due of the machine's owner and of its servicing dealer.
ENQUEUE_SERVICE_DUE: Final[LiteralString] = """
WITH k AS (
    INSERT INTO service_due_alerts (machine_id, rule_key, due_at_h, expected, alerted_at)
    VALUES (%(machine_id)s, %(rule_key)s, %(due_at_h)s, %(expected)s, %(now)s)
    ON CONFLICT DO NOTHING
    RETURNING machine_id
), rows AS (
    INSERT INTO alert_outbox (event_key, subscription_id, kind, priority, payload, created_at,
                              next_attempt_at)
    SELECT %(event_key)s, s.id, 'service_due', %(priority)s,
           jsonb_build_object(
               'service', %(service)s::jsonb,
               'machine', jsonb_build_object('serial', m.serial, 'kind', m.kind,
                                             'model', m.model),
               'owner', jsonb_build_object('id', o.id, 'name', o.name),
               'dealer', jsonb_build_object('id', d.id, 'code', d.code, 'name', d.name)),
           %(now)s, %(now)s
    FROM k
    JOIN machines m ON m.id = k.machine_id
    JOIN owners o ON o.id = m.owner_id
    JOIN dealers d ON d.id = m.dealer_id
    JOIN alert_subscriptions s
      ON s.active AND 'service_due' = ANY(s.event_kinds)
     AND (s.owner_id = m.owner_id OR s.dealer_id = m.dealer_id)
    ON CONFLICT (event_key, subscription_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM rows)
"""


@dataclass(frozen=True, slots=True)
class Swept:
    machines: int  # forecast
    alerted: list[DueKey]  # keys written by this run
    rows: int  # outbox rows enqueued


def machine_dues(conn: Conn, *, machine_ids: list[int], now: datetime) -> list[MachineDue]:
    return [
        MachineDue(
            machine_id=machine_id,
            today=mf.today,
            engine_hours=mf.forecast.engine_hours,
            hours_per_week=mf.forecast.usage.hours_per_week,
            services=tuple(mf.forecast.services),
            open_ticket_rules=frozenset(mf.open_tickets),
        )
        for machine_id, mf in service_forecasts(conn, machine_ids=machine_ids, now=now).items()
    ]


def alerted_keys(conn: Conn, *, machine_ids: list[int]) -> set[DueKey]:
    rows = conn.execute(ALERTED_KEYS, {"machine_ids": machine_ids}).fetchall()
    return {due_key(int(m), str(r), float(h)) for m, r, h in rows}  # type: ignore[call-overload, arg-type]


def event_key(key: DueKey) -> str:
    return f"service-due:{key.machine_id}:{key.rule_key}:{key.due_at_h:.1f}"


def service_json(alert: DueAlert) -> str:
    s = alert.service
    return json.dumps(
        {
            "rule_key": s.rule_key,
            "title": s.title,
            "every_h": s.every_h,
            "due_at_h": alert.key.due_at_h,
            "engine_hours": round(alert.engine_hours, 1),
            "hours_left": s.hours_left,
            "expected": alert.expected.isoformat(),
            "earliest": alert.earliest.isoformat(),
            "latest": s.latest.isoformat() if s.latest else None,
            "hours_per_week": round(alert.hours_per_week, 1),
        }
    )


def enqueue(conn: Conn, alert: DueAlert, *, now: datetime) -> int | None:
    """The alert's outbox rows (one per subscribed recipient); None when its key was written
    before (by an earlier or a concurrent run)."""
    row = conn.execute(
        ENQUEUE_SERVICE_DUE,
        {
            "machine_id": alert.key.machine_id,
            "rule_key": alert.key.rule_key,
            "due_at_h": alert.key.due_at_h,
            "expected": alert.expected,
            "now": now,
            "event_key": event_key(alert.key),
            "priority": PRIORITY,
            "service": service_json(alert),
        },
    ).fetchone()
    assert row is not None
    keys, rows = row
    return int(rows) if keys else None  # type: ignore[call-overload]


def sweep(conn: Conn, *, now: datetime, lead_days: int) -> Swept:
    """Every machine that reported recently enough to have a usage rate."""
    ids = reader.machines_reporting_since(conn, now - timedelta(days=STALE_AFTER_DAYS + 1))
    if not ids:
        return Swept(machines=0, alerted=[], rows=0)
    dues = machine_dues(conn, machine_ids=ids, now=now)
    picks = due_alerts(dues, lead_days=lead_days, alerted=alerted_keys(conn, machine_ids=ids))
    alerted: list[DueKey] = []
    rows = 0
    for alert in picks:
        n = enqueue(conn, alert, now=now)
        if n is not None:
            alerted.append(alert.key)
            rows += n
    return Swept(machines=len(dues), alerted=alerted, rows=rows)
