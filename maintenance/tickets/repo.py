"""Ticket reads for owners and dispatchers; owner-scoped functions end in _for_owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class PartsRequestRow:
    id: int
    part_no: str
    description: str
    qty: int
    status: str
    dealer_code: str


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    serial: str
    owner_id: int
    owner_name: str
    dealer_code: str
    rule_key: str
    kind: str
    title: str
    priority: str
    status: str
    sla_due_at: datetime
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int
    evidence: list[dict[str, object]]
    assigned_technician_id: int | None
    scheduled_for: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    closed_at: datetime | None
    satisfaction: int | None
    rule_set_version: int | None


_TICKET_SELECT: Final[LiteralString] = """
SELECT t.id, m.serial, t.owner_id, o.name AS owner_name, d.code AS dealer_code, t.rule_key, t.kind,
       t.title, t.priority, t.status, t.sla_due_at, t.opened_at, t.last_seen_at, t.occurrences,
       t.evidence, t.assigned_technician_id, t.scheduled_for, t.resolved_at, t.resolution,
       t.closed_at, t.satisfaction, t.rule_set_version
FROM tickets t
JOIN machines m ON m.id = t.machine_id
JOIN owners o ON o.id = t.owner_id
JOIN dealers d ON d.id = t.dealer_id
"""
TICKETS_FOR_OWNER: Final[LiteralString] = (
    _TICKET_SELECT
    + " WHERE t.owner_id = %(owner_id)s AND t.id < %(before)s ORDER BY t.id DESC LIMIT %(limit)s"
)
# The owner's list with filters (owner API); a NULL filter filters nothing.
FILTERED_TICKETS_FOR_OWNER: Final[LiteralString] = (
    _TICKET_SELECT
    + """ WHERE t.owner_id = %(owner_id)s AND t.id < %(before)s
          AND (%(statuses)s::text[] IS NULL OR t.status = ANY(%(statuses)s))
          AND (%(serial)s::text IS NULL OR m.serial = %(serial)s)
          AND (%(kind)s::text IS NULL OR t.kind = %(kind)s)
        ORDER BY t.id DESC LIMIT %(limit)s"""
)
TICKET_FOR_OWNER: Final[LiteralString] = (
    _TICKET_SELECT + " WHERE t.owner_id = %(owner_id)s AND t.id = %(id)s"
)
# The dispatcher's queue: most urgent promise first.
TICKETS_FOR_DISPATCH: Final[LiteralString] = (
    _TICKET_SELECT
    + """ WHERE (%(dealer_id)s::bigint IS NULL OR t.dealer_id = %(dealer_id)s)
          AND (%(status)s::text IS NULL OR t.status = %(status)s)
          AND (t.sla_due_at, t.id) > (%(after_due)s, %(after_id)s)
        ORDER BY t.sla_due_at, t.id LIMIT %(limit)s"""
)
PARTS_FOR_TICKETS: Final[LiteralString] = """
SELECT p.ticket_id, p.id, p.part_no, p.description, p.qty, p.status, d.code AS dealer_code
FROM parts_requests p JOIN dealers d ON d.id = p.dealer_id
WHERE p.ticket_id = ANY(%(ids)s) ORDER BY p.id
"""


MACHINES_WITH_LIVE_TICKETS: Final[LiteralString] = """
SELECT DISTINCT machine_id FROM tickets
WHERE machine_id = ANY(%(ids)s) AND kind = ANY(%(kinds)s)
  AND status NOT IN ('resolved', 'closed', 'cancelled')
"""


def machines_with_live_tickets(
    conn: psycopg.Connection[tuple[object, ...]], *, machine_ids: list[int], kinds: list[str]
) -> set[int]:
    """Machines among these with an unfinished ticket of one of these kinds."""
    rows = conn.execute(MACHINES_WITH_LIVE_TICKETS, {"ids": machine_ids, "kinds": kinds})
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def tickets_for_owner(
    conn: psycopg.Connection[tuple[object, ...]], *, owner_id: int, before: int, limit: int
) -> list[TicketRow]:
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(
            TICKETS_FOR_OWNER, {"owner_id": owner_id, "before": before, "limit": limit}
        ).fetchall()


def filtered_tickets_for_owner(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    owner_id: int,
    before: int,
    limit: int,
    statuses: list[str] | None = None,
    serial: str | None = None,
    kind: str | None = None,
) -> list[TicketRow]:
    """Newest first from before `before` (a ticket id), of any of `statuses`, of the machine with
    `serial`, of `kind`; None (or an empty list of statuses) filters nothing."""
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(
            FILTERED_TICKETS_FOR_OWNER,
            {
                "owner_id": owner_id,
                "before": before,
                "limit": limit,
                "statuses": statuses or None,
                "serial": serial,
                "kind": kind,
            },
        ).fetchall()


def ticket_for_owner(
    conn: psycopg.Connection[tuple[object, ...]], *, owner_id: int, ticket_id: int
) -> TicketRow | None:
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(TICKET_FOR_OWNER, {"owner_id": owner_id, "id": ticket_id}).fetchone()


def tickets_for_dispatch(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    dealer_id: int | None,
    status: str | None,
    after_due: datetime,
    after_id: int,
    limit: int,
) -> list[TicketRow]:
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(
            TICKETS_FOR_DISPATCH,
            {
                "dealer_id": dealer_id,
                "status": status,
                "after_due": after_due,
                "after_id": after_id,
                "limit": limit,
            },
        ).fetchall()


def parts_for_tickets(
    conn: psycopg.Connection[tuple[object, ...]], ticket_ids: list[int]
) -> dict[int, list[PartsRequestRow]]:
    out: dict[int, list[PartsRequestRow]] = {i: [] for i in ticket_ids}
    for row in conn.execute(PARTS_FOR_TICKETS, {"ids": ticket_ids}).fetchall():
        ticket_id, *rest = row
        out[int(ticket_id)].append(PartsRequestRow(*rest))  # type: ignore[call-overload, arg-type]
    return out
