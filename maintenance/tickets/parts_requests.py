"""Parts a dispatcher asks for on a ticket: the request is made at the ticket's servicing dealer and
reserved there or backordered (maintenance.parts.repo) in the caller's transaction, with an event on
the ticket. Lock order as everywhere: the ticket row, then stock rows."""

from __future__ import annotations

import enum
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

from maintenance.errors import Conflict, Invalid
from maintenance.parts import repo as parts
from maintenance.tickets import lifecycle
from maintenance.tickets.model import CLOSED_STATUSES, Status

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# A ticket needs a handful of a part; hundreds is a typo that would reserve a dealer's shelf.
MAX_QTY: Final = 100


class RequestStatus(enum.StrEnum):
    """parts_requests.status: requested, then reserved or backordered, then consumed (work done)
    or released (cancelled, or resolved without the part)."""

    REQUESTED = "requested"
    RESERVED = "reserved"
    BACKORDERED = "backordered"
    CONSUMED = "consumed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class PartsRequest:
    id: int
    ticket_id: int
    part_no: str
    description: str
    qty: int
    status: str
    dealer_code: str
    unit_price: Decimal | None
    created_at: datetime


_SELECT: Final[LiteralString] = """
SELECT r.id, r.ticket_id, r.part_no, coalesce(nullif(r.description, ''), c.description, '')
       AS description, r.qty, r.status, d.code AS dealer_code, c.unit_price, r.created_at
FROM parts_requests r
JOIN dealers d ON d.id = r.dealer_id
LEFT JOIN parts c ON c.part_no = r.part_no
"""
REQUESTS_OF_TICKET: Final[LiteralString] = (
    _SELECT
    + """WHERE r.ticket_id = %(ticket_id)s AND r.id > %(after)s
  AND (cardinality(%(statuses)s::text[]) = 0 OR r.status = ANY(%(statuses)s::text[]))
ORDER BY r.id LIMIT %(limit)s"""
)
REQUEST_BY_ID: Final[LiteralString] = _SELECT + "WHERE r.id = %(id)s"
CATALOGUED: Final[LiteralString] = "SELECT description FROM parts WHERE part_no = %(part_no)s"
INSERT_REQUEST: Final[LiteralString] = """
INSERT INTO parts_requests (ticket_id, dealer_id, part_no, description, qty)
VALUES (%(ticket_id)s, %(dealer_id)s, %(part_no)s, %(description)s, %(qty)s)
RETURNING id
"""


def requests_of_ticket(
    conn: Conn, *, ticket_id: int, statuses: Collection[str] = (), after: int = 0, limit: int = 100
) -> list[PartsRequest]:
    params = {"ticket_id": ticket_id, "statuses": sorted(statuses), "after": after, "limit": limit}
    with conn.cursor(row_factory=class_row(PartsRequest)) as cur:
        return cur.execute(REQUESTS_OF_TICKET, params).fetchall()


def request_part(
    conn: Conn,
    *,
    ticket_id: int,
    part_no: str,
    qty: int,
    actor: str,
    description: str = "",
    now: datetime | None = None,
) -> PartsRequest:
    """Requests a catalogued part for a live ticket and reserves it at the ticket's dealer if the
    whole quantity is available there, else backorders it. Unlike a rule's part, a typed part
    number must already be in the catalogue: a typo should not become a catalogue row.
    Raises NotFound (ticket), Conflict (finished ticket) or Invalid (part, quantity)."""
    if not 1 <= qty <= MAX_QTY:
        raise Invalid(f"qty is 1 to {MAX_QTY}, got {qty}")
    ticket = lifecycle.lock_ticket(conn, ticket_id=ticket_id)
    if Status(ticket.status) in CLOSED_STATUSES:
        raise Conflict(f"ticket {ticket_id} is {ticket.status}; parts are requested for a live one")
    catalogued = conn.execute(CATALOGUED, {"part_no": part_no}).fetchone()
    if catalogued is None:
        raise Invalid(f"part {part_no!r} is not in the catalogue")
    row = conn.execute(
        INSERT_REQUEST,
        {
            "ticket_id": ticket_id,
            "dealer_id": ticket.dealer_id,
            "part_no": part_no,
            "description": description.strip() or str(catalogued[0]),
            "qty": qty,
        },
    ).fetchone()
    assert row is not None
    request_id = int(row[0])  # type: ignore[call-overload]
    decision = parts.reserve_for_request(conn, parts_request_id=request_id, actor=actor)
    conn.execute(
        lifecycle.INSERT_EVENT,
        {
            "ticket_id": ticket_id,
            "at": now or datetime.now(UTC),
            "actor": actor,
            "kind": "parts_requested",
            "detail": json.dumps(
                {
                    "parts_request_id": request_id,
                    "part_no": part_no,
                    "qty": qty,
                    "status": str(decision),
                }
            ),
        },
    )
    with conn.cursor(row_factory=class_row(PartsRequest)) as cur:
        made = cur.execute(REQUEST_BY_ID, {"id": request_id}).fetchone()
    assert made is not None
    return made
