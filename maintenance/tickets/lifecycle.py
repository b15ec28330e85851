"""Ticket state changes: status transitions with their side effects, assignment, notes, the owner's
rating. Each writes a ticket_events row (who, when, what) and the alerts it causes (INSERT_EVENT)
in the caller's transaction.

Concurrency: a change locks the ticket row (`FOR UPDATE`) and reads its status from that same
statement, so of two transactions changing one ticket the second waits, then sees the first's
committed status (READ COMMITTED re-reads a row after its lock is granted) and is checked against
that. Locks are taken ticket row first, then stock rows (maintenance.parts.repo), the order
apply_findings uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

from maintenance.alerts import outbox
from maintenance.errors import AlreadyRated, Conflict, Invalid, NotFound
from maintenance.parts import repo as parts
from maintenance.tickets import policy
from maintenance.tickets.model import CLOSED_STATUSES, Status, TicketEvent

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# Free text is stored in events and shown to dispatchers; beyond this it is a paste, not a note.
MAX_TEXT_CHARS: Final = 4000
SATISFACTION_SCORES: Final = range(1, 6)


@dataclass(frozen=True, slots=True)
class LockedTicket:
    id: int
    machine_id: int
    owner_id: int
    dealer_id: int
    rule_key: str
    kind: str
    status: str
    assigned_technician_id: int | None
    scheduled_for: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_reason: str | None


@dataclass(frozen=True, slots=True)
class Transitioned:
    ticket_id: int
    from_status: Status
    to_status: Status
    # Requests consumed (-> resolved with work done) or released (-> cancelled, or resolved by the
    # rules); empty otherwise.
    parts_request_ids: list[int]
    service_record_id: int | None


# Every ticket event is written by this statement, and writes its alerts to the outbox in the
# same statement (maintenance.alerts.outbox.ENQUEUE_FOR_TICKET_EVENT).
INSERT_EVENT: Final[LiteralString] = (
    """
WITH e AS (
    INSERT INTO ticket_events (ticket_id, at, actor, kind, detail)
    VALUES (%(ticket_id)s, %(at)s, %(actor)s, %(kind)s, %(detail)s::jsonb)
    RETURNING id, ticket_id, at, actor, kind, detail
)
"""
    + outbox.ENQUEUE_FOR_TICKET_EVENT
)
SET_ASSIGNEE: Final[LiteralString] = """
UPDATE tickets SET assigned_technician_id = %(technician_id)s, assigned_at = %(at)s
WHERE id = %(ticket_id)s
"""
LOCK_TICKET: Final[LiteralString] = """
SELECT id, machine_id, owner_id, dealer_id, rule_key, kind, status, assigned_technician_id,
       scheduled_for, resolved_at, resolution, closed_at, cancelled_at, cancelled_reason
FROM tickets WHERE id = %(ticket_id)s
FOR UPDATE
"""
TICKET_EXISTS: Final[LiteralString] = "SELECT 1 FROM tickets WHERE id = %(ticket_id)s"
SET_STATUS: Final[LiteralString] = """
UPDATE tickets
SET status = %(status)s, scheduled_for = %(scheduled_for)s, resolved_at = %(resolved_at)s,
    resolution = %(resolution)s, closed_at = %(closed_at)s, cancelled_at = %(cancelled_at)s,
    cancelled_reason = %(cancelled_reason)s
WHERE id = %(ticket_id)s
"""
# A reopened ticket takes the (machine, rule) slot of the partial unique index again.
OTHER_LIVE_TICKET: Final[LiteralString] = """
SELECT id FROM tickets
WHERE machine_id = %(machine_id)s AND rule_key = %(rule_key)s AND id <> %(ticket_id)s
  AND status NOT IN ('resolved', 'closed', 'cancelled')
"""
MACHINE_ENGINE_HOURS: Final[LiteralString] = (
    "SELECT engine_hours FROM machine_state WHERE machine_id = %(machine_id)s"
)
# The record's engine hours are what machine_views reads as the rule's last service, so a service
# record restarts that rule's interval clock. Parts are the requests just consumed, priced from the
# catalogue (an unpriced part is listed with a null price and adds nothing to parts_cost); labour
# at the dealer's rate (none when unpriced).
INSERT_SERVICE_RECORD: Final[LiteralString] = """
INSERT INTO service_records (machine_id, rule_key, engine_hours, done_at, ticket_id, notes, kind,
                             technician_id, dealer_id, labour_h, labour_cost, parts_cost, parts)
SELECT t.machine_id, t.rule_key, %(engine_hours)s, %(at)s, t.id, %(notes)s, %(kind)s,
       t.assigned_technician_id, t.dealer_id, %(labour_h)s::numeric,
       round(%(labour_h)s::numeric * coalesce(d.labour_rate_per_h, 0), 2),
       coalesce(p.cost, 0), coalesce(p.lines, '[]'::jsonb)
FROM tickets t
JOIN dealers d ON d.id = t.dealer_id
LEFT JOIN LATERAL (
    SELECT round(sum(r.qty * c.unit_price), 2) AS cost,
           jsonb_agg(jsonb_build_object('parts_request_id', r.id, 'part_no', r.part_no,
                                        'description', c.description, 'qty', r.qty,
                                        'unit_price', c.unit_price)
                     ORDER BY r.id) AS lines
    FROM parts_requests r JOIN parts c ON c.part_no = r.part_no
    WHERE r.id = ANY(%(consumed)s)
) p ON true
WHERE t.id = %(ticket_id)s
RETURNING id
"""
TECHNICIAN: Final[LiteralString] = (
    "SELECT dealer_id, active FROM technicians WHERE id = %(technician_id)s"
)
# Conditional, so a second rating (even a concurrent one, which waits for the row lock and then
# re-checks the WHERE) changes nothing.
RATE: Final[LiteralString] = """
UPDATE tickets
SET satisfaction = %(score)s, satisfaction_comment = %(comment)s, rated_at = %(at)s
WHERE id = %(ticket_id)s AND owner_id = %(owner_id)s AND status IN ('resolved', 'closed')
  AND satisfaction IS NULL
RETURNING id
"""
RATING_STATE_FOR_OWNER: Final[LiteralString] = """
SELECT status, satisfaction FROM tickets WHERE id = %(ticket_id)s AND owner_id = %(owner_id)s
"""
EVENTS_OF_TICKET: Final[LiteralString] = """
SELECT id, ticket_id, at, actor, kind, detail FROM ticket_events
WHERE ticket_id = %(ticket_id)s ORDER BY at, id
"""
LOCK_STOCK_OF_TICKETS: Final[LiteralString] = """
SELECT 1 FROM dealer_stock s
WHERE (s.dealer_id, s.part_no) IN (
    SELECT dealer_id, part_no FROM parts_requests
    WHERE ticket_id = ANY(%(ticket_ids)s) AND status IN ('reserved', 'backordered'))
ORDER BY s.dealer_id, s.part_no
FOR UPDATE OF s
"""


def _event(
    conn: Conn, *, ticket_id: int, at: datetime, actor: str, kind: str, detail: Mapping[str, object]
) -> None:
    conn.execute(
        INSERT_EVENT,
        {
            "ticket_id": ticket_id,
            "at": at,
            "actor": actor,
            "kind": kind,
            "detail": json.dumps(detail, default=str),
        },
    )


def _text(value: str | None, *, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(f"{what} must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"{what} is {len(text)} characters; at most {MAX_TEXT_CHARS}")
    return text


def lock_ticket(conn: Conn, *, ticket_id: int) -> LockedTicket:
    """The ticket row, locked to the end of the caller's transaction; NotFound if there is none."""
    with conn.cursor(row_factory=class_row(LockedTicket)) as cur:
        ticket = cur.execute(LOCK_TICKET, {"ticket_id": ticket_id}).fetchone()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def lock_stock_of_tickets(conn: Conn, *, ticket_ids: list[int]) -> None:
    """Locks, in one sorted order, the stock rows that settling these tickets' parts will lock one
    ticket at a time: two transactions settling several tickets each then cannot deadlock."""
    conn.execute(LOCK_STOCK_OF_TICKETS, {"ticket_ids": ticket_ids})


def transition(
    conn: Conn,
    *,
    ticket_id: int,
    to: Status,
    actor: str,
    note: str | None = None,
    scheduled_for: datetime | None = None,
    labour_h: float = 0.0,
    engine_hours: float | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Moves a ticket to `to` if policy.TRANSITIONS allows it from its current status.

    - scheduled: `scheduled_for` is required (and replaces the previous date on a reschedule).
    - resolved: `note` (the resolution) is required; reserved parts are consumed, backorders
      dropped, and a service_records row is written (kind 'service' for service_interval tickets,
      'repair' otherwise) at `engine_hours` (as read on the hour meter) or else the machine's last
      reported hours, with `labour_h` and the consumed parts. Invalid when neither hours is known.
    - cancelled: `note` (the reason) is required; reserved parts are released, backorders dropped.
    - closed: closed_at is set. resolved -> in_progress (reopen) clears resolved_at and the
      resolution (both stay in the event history) and is a Conflict if another live ticket has
      taken the (machine, rule) since.
    Raises NotFound, InvalidTransition, Invalid or Conflict; nothing is changed then.
    """
    at = now or datetime.now(UTC)
    # The status machine first: "a closed ticket cannot become cancelled" says more than "the
    # reason is missing".
    ticket = lock_ticket(conn, ticket_id=ticket_id)
    policy.check_transition(Status(ticket.status), to=to)
    if to is Status.SCHEDULED and scheduled_for is None:
        raise Invalid("scheduling a ticket needs scheduled_for")
    if to is Status.RESOLVED:
        note = _text(note, what="resolution notes")
    elif to is Status.CANCELLED:
        note = _text(note, what="the reason for cancelling")
    elif note is not None:
        note = _text(note, what="the note")
    if labour_h < 0:
        raise Invalid(f"labour_h must not be negative, got {labour_h:g}")
    return apply_transition(
        conn,
        ticket,
        to=to,
        actor=actor,
        note=note,
        scheduled_for=scheduled_for,
        labour_h=labour_h,
        engine_hours=engine_hours,
        at=at,
        work_done=True,
    )


def apply_transition(
    conn: Conn,
    ticket: LockedTicket,
    *,
    to: Status,
    actor: str,
    note: str | None,
    at: datetime,
    work_done: bool,
    scheduled_for: datetime | None = None,
    labour_h: float = 0.0,
    engine_hours: float | None = None,
    extra: Mapping[str, object] | None = None,
) -> Transitioned:
    """The side effects and event of a transition already checked against the policy, on a ticket
    locked by the caller. `work_done=False` resolves without a visit: parts are released instead of
    consumed and no service record is written (flows.resolve_cleared)."""
    current = Status(ticket.status)
    new = {
        "ticket_id": ticket.id,
        "status": str(to),
        "scheduled_for": ticket.scheduled_for,
        "resolved_at": ticket.resolved_at,
        "resolution": ticket.resolution,
        "closed_at": ticket.closed_at,
        "cancelled_at": ticket.cancelled_at,
        "cancelled_reason": ticket.cancelled_reason,
    }
    detail: dict[str, object] = {"from": str(current), "to": str(to)}
    if note is not None:
        detail["note"] = note
    settled: list[int] = []
    record_id: int | None = None
    match to:
        case Status.SCHEDULED:
            new["scheduled_for"] = scheduled_for
            detail["scheduled_for"] = scheduled_for
        case Status.IN_PROGRESS if current is Status.RESOLVED:
            other = conn.execute(
                OTHER_LIVE_TICKET,
                {
                    "machine_id": ticket.machine_id,
                    "rule_key": ticket.rule_key,
                    "ticket_id": ticket.id,
                },
            ).fetchone()
            if other is not None:
                raise Conflict(
                    f"ticket {ticket.id} cannot be reopened: ticket {other[0]} is open for the"
                    f" same machine and rule {ticket.rule_key}"
                )
            new["resolved_at"], new["resolution"] = None, None
            detail["reopened"] = True
        case Status.RESOLVED if work_done:
            hours = _engine_hours(conn, ticket, engine_hours)
            settled = parts.consume(conn, ticket_id=ticket.id, actor=actor)
            record_id = _service_record(
                conn,
                ticket,
                notes=note or "",
                engine_hours=hours,
                labour_h=labour_h,
                consumed=settled,
                at=at,
            )
            new["resolved_at"], new["resolution"] = at, note
            detail |= {"consumed": settled, "service_record_id": record_id, "labour_h": labour_h}
        case Status.RESOLVED:
            settled = parts.release(conn, ticket_id=ticket.id, actor=actor)
            new["resolved_at"], new["resolution"] = at, note
            detail["released"] = settled
        case Status.CANCELLED:
            settled = parts.release(conn, ticket_id=ticket.id, actor=actor)
            new["cancelled_at"], new["cancelled_reason"] = at, note
            detail["released"] = settled
        case Status.CLOSED:
            new["closed_at"] = at
        case _:
            pass
    conn.execute(SET_STATUS, new)
    _event(
        conn,
        ticket_id=ticket.id,
        at=at,
        actor=actor,
        kind="status",
        detail=detail | dict(extra or {}),
    )
    return Transitioned(
        ticket_id=ticket.id,
        from_status=current,
        to_status=to,
        parts_request_ids=settled,
        service_record_id=record_id,
    )


def _engine_hours(conn: Conn, ticket: LockedTicket, given: float | None) -> float:
    if given is not None:
        if given < 0:
            raise Invalid(f"engine_hours must not be negative, got {given:g}")
        return given
    row = conn.execute(MACHINE_ENGINE_HOURS, {"machine_id": ticket.machine_id}).fetchone()
    if row is None or row[0] is None:
        raise Invalid(
            f"machine {ticket.machine_id} has reported no engine hours; resolving needs"
            " engine_hours read from its hour meter"
        )
    return float(row[0])  # type: ignore[arg-type]


def _service_record(
    conn: Conn,
    ticket: LockedTicket,
    *,
    notes: str,
    engine_hours: float,
    labour_h: float,
    consumed: list[int],
    at: datetime,
) -> int:
    row = conn.execute(
        INSERT_SERVICE_RECORD,
        {
            "ticket_id": ticket.id,
            "engine_hours": engine_hours,
            "at": at,
            "notes": notes,
            "kind": "service" if ticket.kind == "service_interval" else "repair",
            "labour_h": labour_h,
            "consumed": consumed,
        },
    ).fetchone()
    assert row is not None
    record_id = row[0]
    assert isinstance(record_id, int)
    return record_id


def assign(
    conn: Conn, *, ticket_id: int, technician_id: int, actor: str, now: datetime | None = None
) -> None:
    """Assigns a live ticket to an active technician of its servicing dealer. Assigning the
    technician it already has changes nothing and writes no event."""
    at = now or datetime.now(UTC)
    ticket = lock_ticket(conn, ticket_id=ticket_id)
    if Status(ticket.status) in CLOSED_STATUSES:
        raise Conflict(f"ticket {ticket_id} is {ticket.status}; only a live ticket is assigned")
    tech = conn.execute(TECHNICIAN, {"technician_id": technician_id}).fetchone()
    if tech is None:
        raise NotFound(f"technician {technician_id} does not exist")
    if tech[0] != ticket.dealer_id:
        raise Invalid(
            f"technician {technician_id} works for dealer {tech[0]}, not for the ticket's"
            f" dealer {ticket.dealer_id}"
        )
    if not tech[1]:
        raise Invalid(f"technician {technician_id} is not active")
    if ticket.assigned_technician_id == technician_id:
        return
    conn.execute(SET_ASSIGNEE, {"ticket_id": ticket_id, "technician_id": technician_id, "at": at})
    _event(
        conn,
        ticket_id=ticket_id,
        at=at,
        actor=actor,
        kind="assigned",
        detail={"technician_id": technician_id, "previous": ticket.assigned_technician_id},
    )


def add_note(
    conn: Conn, *, ticket_id: int, actor: str, text: str, now: datetime | None = None
) -> None:
    body = _text(text, what="the note")
    if conn.execute(TICKET_EXISTS, {"ticket_id": ticket_id}).fetchone() is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    _event(
        conn,
        ticket_id=ticket_id,
        at=now or datetime.now(UTC),
        actor=actor,
        kind="note",
        detail={"text": body},
    )


def rate(
    conn: Conn,
    *,
    ticket_id: int,
    owner_id: int,
    score: int,
    comment: str | None,
    now: datetime | None = None,
) -> None:
    """The owner's satisfaction (1-5) with a resolved or closed ticket of theirs. Given once: a
    second rating is refused (AlreadyRated), not a replacement. Another owner's ticket is NotFound,
    as a missing one is."""
    if score not in SATISFACTION_SCORES:
        raise Invalid(f"a satisfaction score is 1 to 5, got {score}")
    body = (comment or "").strip()
    if len(body) > MAX_TEXT_CHARS:
        raise Invalid(f"the comment is {len(body)} characters; at most {MAX_TEXT_CHARS}")
    at = now or datetime.now(UTC)
    params = {"ticket_id": ticket_id, "owner_id": owner_id}
    rated = conn.execute(RATE, {**params, "score": score, "comment": body or None, "at": at})
    if rated.fetchone() is None:
        state = conn.execute(RATING_STATE_FOR_OWNER, params).fetchone()
        if state is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        if state[1] is not None:
            raise AlreadyRated(f"ticket {ticket_id} has been rated already")
        raise Conflict(f"ticket {ticket_id} is {state[0]}; only a resolved or closed one is rated")
    _event(
        conn,
        ticket_id=ticket_id,
        at=at,
        actor=f"owner:{owner_id}",
        kind="rated",
        detail={"score": score, "comment": body or None},
    )


def events(conn: Conn, *, ticket_id: int) -> list[TicketEvent]:
    with conn.cursor(row_factory=class_row(TicketEvent)) as cur:
        return cur.execute(EVENTS_OF_TICKET, {"ticket_id": ticket_id}).fetchall()
