"""The alert outbox's SQL: rows written with the ticket events that cause them, claimed by
deliverers with FOR UPDATE SKIP LOCKED, and their outcomes.

Enqueueing is part of the ticket event's own INSERT (maintenance.tickets.lifecycle.INSERT_EVENT
ends with ENQUEUE_FOR_TICKET_EVENT): every path that writes a ticket event (rules, anomaly
sweeps, dispatchers, owners' requests, single rows or executemany batches) writes its alerts in the
same statement, so neither can be committed without the other, and no call site can forget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Final, LiteralString, TypeAlias
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from maintenance.alerts.model import AlertKind, Channel, Claimed, QuietHours
from maintenance.rules.model import Priority

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# The tail of INSERT_EVENT, reading the new ticket_events row from the CTE `e` (id, ticket_id,
# at, actor, kind, detail). Which ticket events are alerts, and as which kind, is decided here:
# opened, escalated and the SLA job's events as they are; a status change to resolved or
# cancelled, or a reopening. Assignments, notes, parts and ratings are the dispatcher's business,
# not an alert. The payload carries the event's note (a resolution, a reason), never the event's
# internal detail (the owner's grade, parts request ids). One row per matching active
# subscription of the ticket's owner and of its dealer; the unique (event_key, subscription_id)
# makes a replay add nothing. An SLA breach that raised the priority is one event and one alert
# (sla_breached, with raised_from): a subscriber to escalations gets that alert, since the raise
# is what they subscribed to, rather than a second alert for the same breach.
ENQUEUE_FOR_TICKET_EVENT: Final[LiteralString] = """
INSERT INTO alert_outbox (event_key, subscription_id, ticket_id, kind, priority, payload,
                          created_at, next_attempt_at)
SELECT 'ticket-event:' || e.id, s.id, t.id, a.kind, t.priority,
       jsonb_build_object(
           'event', jsonb_build_object('id', e.id, 'kind', a.kind, 'at', e.at,
                                       'actor', e.actor, 'note', e.detail ->> 'note',
                                       'raised_from', a.raised_from),
           'ticket', jsonb_build_object('id', t.id, 'title', t.title, 'kind', t.kind,
                                        'rule_key', t.rule_key, 'priority', t.priority,
                                        'status', t.status, 'opened_at', t.opened_at,
                                        'sla_due_at', t.sla_due_at),
           'machine', jsonb_build_object('serial', m.serial, 'kind', m.kind, 'model', m.model),
           'owner', jsonb_build_object('id', o.id, 'name', o.name),
           'dealer', jsonb_build_object('id', d.id, 'code', d.code, 'name', d.name)),
       e.at, e.at
FROM e
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN e.kind IN ('opened', 'escalated', 'sla_near', 'sla_breached') THEN e.kind
        WHEN e.kind = 'status' AND e.detail ->> 'to' IN ('resolved', 'cancelled')
            THEN e.detail ->> 'to'
        WHEN e.kind = 'status' AND e.detail ->> 'reopened' = 'true' THEN 'reopened'
    END AS kind,
    CASE WHEN e.kind = 'sla_breached' AND e.detail ? 'raised_to'
         THEN e.detail ->> 'priority' END AS raised_from
) a
JOIN tickets t ON t.id = e.ticket_id
JOIN machines m ON m.id = t.machine_id
JOIN owners o ON o.id = t.owner_id
JOIN dealers d ON d.id = t.dealer_id
JOIN alert_subscriptions s
  ON s.active
 AND (a.kind = ANY(s.event_kinds)
      OR (a.raised_from IS NOT NULL AND 'escalated' = ANY(s.event_kinds)))
 AND (s.owner_id = t.owner_id OR s.dealer_id = t.dealer_id)
ON CONFLICT (event_key, subscription_id) DO NOTHING
"""

# Claiming is a short transaction of its own: the rows are locked only while their lease is
# written (SKIP LOCKED: a concurrent deliverer takes other rows instead of waiting), and the
# lease, not a lock held across the network, keeps other deliverers off while the row is sent.
# A lock held while sending would also hold a transaction open for minutes of timeouts. The
# attempt is counted at the claim, so a row that kills its worker still runs out of attempts.
CLAIM_DUE: Final[LiteralString] = """
WITH due AS (
    SELECT id FROM alert_outbox
    WHERE status = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE alert_outbox o
SET attempts = o.attempts + 1, next_attempt_at = %(lease_until)s
FROM due, alert_subscriptions s
WHERE o.id = due.id AND s.id = o.subscription_id
RETURNING o.id, o.idempotency_key, o.kind, o.priority, o.payload, o.attempts, o.created_at,
          s.channel, s.target, s.secret, s.quiet_start, s.quiet_end, s.timezone, s.active
"""
# Outcomes are written only while the row is still this claim's (same attempt count, still
# pending): a deliverer whose lease ran out must not overwrite the next claim's lease or result.
# A delivery is recorded whatever happened since, since the recipient has it.
MARK_DELIVERED: Final[LiteralString] = """
UPDATE alert_outbox
SET status = 'delivered', delivered_at = %(now)s, last_error = NULL
WHERE id = %(id)s AND status = 'pending'
"""
MARK_RETRY: Final[LiteralString] = """
UPDATE alert_outbox SET next_attempt_at = %(at)s, last_error = %(error)s
WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempts)s
"""
MARK_DEAD: Final[LiteralString] = """
UPDATE alert_outbox SET status = 'dead', last_error = %(error)s
WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempts)s
"""
# Quiet hours are not an attempt: the claim's count is given back.
DEFER: Final[LiteralString] = """
UPDATE alert_outbox SET next_attempt_at = %(until)s, attempts = attempts - 1
WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempts)s
"""

# Finished rows (delivered or dead) created before the cut, a batch at a time: one statement over
# months of rows would hold its locks and its WAL for the whole delete. Pending rows are never
# pruned, however old: they are still owed. The once-only keys of service-due alerts and digests
# live in their own tables, so pruning these rows never lets an alert be enqueued again.
PRUNE_FINISHED: Final[LiteralString] = """
DELETE FROM alert_outbox
WHERE id IN (SELECT id FROM alert_outbox
             WHERE status <> 'pending' AND created_at < %(before)s
             LIMIT %(batch)s)
"""
PRUNE_BATCH: Final = 5_000

# Errors are stored for a person to read; a receiver's whole error page is not.
MAX_ERROR_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class _ClaimedRow:
    id: int
    idempotency_key: UUID
    kind: str
    priority: str
    payload: dict[str, object]
    attempts: int
    created_at: datetime
    channel: str
    target: str
    secret: str | None
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    active: bool


def claim_due(conn: Conn, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Up to `limit` due rows, leased to the caller until `lease_until`; committed before
    returning. The caller is then responsible for sending them and recording each outcome."""
    with conn.transaction(), conn.cursor(row_factory=class_row(_ClaimedRow)) as cur:
        rows = cur.execute(
            CLAIM_DUE, {"now": now, "lease_until": lease_until, "limit": limit}
        ).fetchall()
    return [
        Claimed(
            id=r.id,
            idempotency_key=r.idempotency_key,
            kind=AlertKind(r.kind),
            priority=Priority(r.priority),
            payload=r.payload,
            attempts=r.attempts,
            created_at=r.created_at,
            channel=Channel(r.channel),
            target=r.target,
            secret=r.secret,
            quiet=(
                QuietHours(r.quiet_start, r.quiet_end, r.timezone)
                if r.quiet_start is not None and r.quiet_end is not None
                else None
            ),
            active=r.active,
        )
        for r in sorted(rows, key=lambda r: r.id)
    ]


def mark_delivered(conn: Conn, row: Claimed, *, now: datetime) -> None:
    conn.execute(MARK_DELIVERED, {"id": row.id, "now": now})


def mark_retry(conn: Conn, row: Claimed, *, at: datetime, error: str) -> None:
    conn.execute(
        MARK_RETRY,
        {"id": row.id, "attempts": row.attempts, "at": at, "error": error[:MAX_ERROR_CHARS]},
    )


def mark_dead(conn: Conn, row: Claimed, *, error: str) -> None:
    conn.execute(
        MARK_DEAD, {"id": row.id, "attempts": row.attempts, "error": error[:MAX_ERROR_CHARS]}
    )


def defer(conn: Conn, row: Claimed, *, until: datetime) -> None:
    conn.execute(DEFER, {"id": row.id, "attempts": row.attempts, "until": until})


def prune_finished(conn: Conn, *, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Deletes delivered and dead rows created before `before`, one short transaction per batch
    (opened here: a retention run is its own edge); the number deleted."""
    total = 0
    while True:
        with conn.transaction():
            n = conn.execute(PRUNE_FINISHED, {"before": before, "batch": batch}).rowcount
        total += n
        if n < batch:
            return total
