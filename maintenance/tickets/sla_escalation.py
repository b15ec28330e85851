"""The SLA escalation job's SQL side (the rules are maintenance.tickets.sla): live tickets near or
past their deadline get an sla_near or sla_breached event, once each, written by
lifecycle.INSERT_EVENT so their alerts are enqueued with them; a breach raises the priority one
step, recorded on the breach event itself (detail raised_to): one event, so one alert per
recipient, whose payload says the priority was raised. Subscribers to escalations hear of it as
that breach (maintenance.alerts.outbox); `escalated` events stay for the other raises (a
sustained anomaly, a dispatcher). All in the caller's transaction.

Once each, even with two runs at a time (a manual run beside the scheduler's): candidates are
locked, then their SLA events are read by a later statement, which sees what a run that held the
lock before committed. A ticket locked elsewhere (a dispatcher's change) is skipped until the next
run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString, TypeAlias

import psycopg

from maintenance.rules.model import Priority
from maintenance.tickets import lifecycle
from maintenance.tickets.sla import SlaStep, SlaTicket, check_fraction, due_actions

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

ACTOR: Final = "sla"

# Live tickets within the near part of their window that still lack the step due: sla_breached
# once past the deadline, sla_near (or a breach) before it. Overdue tickets already reported stay
# out, so the set locked each run is the work to do, not every overdue ticket.
LOCK_CANDIDATES: Final[LiteralString] = """
SELECT t.id, t.priority, t.opened_at, t.sla_due_at
FROM tickets t
WHERE t.status NOT IN ('resolved', 'closed', 'cancelled')
  AND t.sla_due_at - greatest(t.sla_due_at - t.opened_at, interval '0')
                     * %(near_fraction)s::float8 <= %(now)s
  AND NOT EXISTS (SELECT 1 FROM ticket_events e
                  WHERE e.ticket_id = t.id
                    AND (e.kind = 'sla_breached'
                         OR (e.kind = 'sla_near' AND t.sla_due_at >= %(now)s)))
ORDER BY t.id
FOR UPDATE OF t SKIP LOCKED
"""
SLA_EVENTS_OF_TICKETS: Final[LiteralString] = """
SELECT ticket_id, kind FROM ticket_events
WHERE ticket_id = ANY(%(ticket_ids)s) AND kind IN ('sla_near', 'sla_breached')
"""
SET_PRIORITY: Final[LiteralString] = (
    "UPDATE tickets SET priority = %(priority)s WHERE id = %(ticket_id)s"
)


@dataclass(frozen=True, slots=True)
class Escalated:
    near: list[int]  # ticket ids given sla_near
    breached: list[int]  # ... given sla_breached
    raised: list[int]  # ... of those, raised a priority step (the rest were critical already)


def escalate(conn: Conn, *, now: datetime, near_fraction: float) -> Escalated:
    check_fraction(near_fraction)
    rows = conn.execute(LOCK_CANDIDATES, {"now": now, "near_fraction": near_fraction}).fetchall()
    if not rows:
        return Escalated(near=[], breached=[], raised=[])
    ids = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    sent: defaultdict[int, set[str]] = defaultdict(set)
    for ticket_id, kind in conn.execute(SLA_EVENTS_OF_TICKETS, {"ticket_ids": ids}).fetchall():
        sent[int(ticket_id)].add(str(kind))  # type: ignore[call-overload]
    tickets = [
        SlaTicket(
            id=int(tid),  # type: ignore[call-overload]
            priority=Priority(str(priority)),
            opened_at=opened_at,  # type: ignore[arg-type]
            sla_due_at=due_at,  # type: ignore[arg-type]
            near_sent=SlaStep.NEAR in sent[int(tid)],  # type: ignore[call-overload]
            breached_sent=SlaStep.BREACHED in sent[int(tid)],  # type: ignore[call-overload]
        )
        for tid, priority, opened_at, due_at in rows
    ]
    due_at_of = {t.id: t.sla_due_at for t in tickets}
    raises: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    result = Escalated(near=[], breached=[], raised=[])
    for a in due_actions(tickets, now=now, near_fraction=near_fraction):
        detail: dict[str, object] = {
            "sla_due_at": due_at_of[a.ticket_id].isoformat(),
            "remaining_s": a.remaining_s,
            "priority": str(a.priority),
        }
        if a.step is SlaStep.NEAR:
            result.near.append(a.ticket_id)
        else:
            result.breached.append(a.ticket_id)
        if a.raise_to is not None:
            detail["raised_to"] = str(a.raise_to)
            result.raised.append(a.ticket_id)
            raises.append({"ticket_id": a.ticket_id, "priority": str(a.raise_to)})
        events.append(_event(a.ticket_id, kind=a.step, detail=detail, at=now))
    with conn.cursor() as cur:
        # Priorities first: the alerts enqueued with the events carry the ticket's new priority.
        if raises:
            cur.executemany(SET_PRIORITY, raises)
        if events:
            cur.executemany(lifecycle.INSERT_EVENT, events)
    return result


def _event(
    ticket_id: int, *, kind: str, detail: Mapping[str, object], at: datetime
) -> dict[str, object]:
    return {
        "ticket_id": ticket_id,
        "at": at,
        "actor": ACTOR,
        "kind": kind,
        "detail": json.dumps(detail, default=str),
    }
