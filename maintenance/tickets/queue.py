"""The dispatcher's ticket queue: filters, three orders, and a keyset position per order.

Scope is a dealer id (a dealer-bound dispatcher key) or None (everyone's tickets); a ticket out of
scope is read exactly like a missing one.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

from maintenance.errors import Invalid, NotFound

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]


class Sort(enum.StrEnum):
    SLA = "sla"  # the most urgent promise first
    PRIORITY = "priority"  # critical first, then by SLA deadline
    OPENED = "opened"  # the newest first


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    machine_id: int
    serial: str
    machine_kind: str
    machine_model: str
    owner_id: int
    owner_name: str
    dealer_id: int
    dealer_code: str
    rule_key: str
    kind: str
    title: str
    priority: str
    priority_rank: int  # 0 critical .. 3 low: the order of Sort.PRIORITY
    status: str
    sla_due_at: datetime
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int
    evidence: list[dict[str, object]]
    assigned_technician_id: int | None
    technician_name: str | None
    scheduled_for: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_reason: str | None
    satisfaction: int | None


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended, in the terms of its sort: (at, id) for sla and opened, (rank, at, id)
    for priority, `at` being the SLA deadline or the opening time. As text: an opaque cursor."""

    sort: Sort
    at: datetime
    id: int
    rank: int = 0

    @classmethod
    def of(cls, sort: Sort, row: QueueRow) -> Position:
        at = row.opened_at if sort is Sort.OPENED else row.sla_due_at
        return cls(sort, at, row.id, row.priority_rank if sort is Sort.PRIORITY else 0)

    def encode(self) -> str:
        micros = (self.at - _EPOCH) // timedelta(microseconds=1)
        return f"{self.sort}.{self.rank}.{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str, *, sort: Sort) -> Position:
        """Invalid for text that is not a cursor of this sort (a cursor of another sort would
        skip or repeat rows silently)."""
        try:
            name, rank, micros, ticket_id = text.split(".")
            position = cls(
                Sort(name), _EPOCH + timedelta(microseconds=int(micros)), int(ticket_id), int(rank)
            )
        except (ValueError, OverflowError):
            raise Invalid("after must be the next_after value of a previous page") from None
        if position.sort is not sort:
            raise Invalid(f"after is a cursor of sort={position.sort}, not sort={sort}")
        return position


# Spelt as in the indexes of migration 0017, so the planner matches them.
_RANK: Final[LiteralString] = (
    "CASE t.priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END"
)
_SELECT: Final[LiteralString] = (
    """
SELECT t.id, t.machine_id, m.serial, m.kind AS machine_kind, m.model AS machine_model,
       t.owner_id, o.name AS owner_name, t.dealer_id, d.code AS dealer_code, t.rule_key, t.kind,
       t.title, t.priority, """
    + _RANK
    + """ AS priority_rank,
       t.status, t.sla_due_at, t.opened_at, t.last_seen_at, t.occurrences, t.evidence,
       t.assigned_technician_id, k.name AS technician_name, t.scheduled_for, t.resolved_at,
       t.resolution, t.closed_at, t.cancelled_at, t.cancelled_reason, t.satisfaction
FROM tickets t
JOIN machines m ON m.id = t.machine_id
JOIN owners o ON o.id = t.owner_id
JOIN dealers d ON d.id = t.dealer_id
LEFT JOIN technicians k ON k.id = t.assigned_technician_id
"""
)
# Empty arrays mean "any"; NULLs mean "no such filter".
_FILTERS: Final[LiteralString] = """
WHERE (%(dealer_id)s::bigint IS NULL OR t.dealer_id = %(dealer_id)s)
  AND (cardinality(%(statuses)s::text[]) = 0 OR t.status = ANY(%(statuses)s::text[]))
  AND (cardinality(%(priorities)s::text[]) = 0 OR t.priority = ANY(%(priorities)s::text[]))
  AND (%(technician_id)s::bigint IS NULL OR t.assigned_technician_id = %(technician_id)s)
  AND (NOT %(unassigned)s OR t.assigned_technician_id IS NULL)
  AND (%(due_before)s::timestamptz IS NULL OR t.sla_due_at < %(due_before)s)
  AND (%(serial)s::text IS NULL OR m.serial = %(serial)s)
"""
QUEUE_BY_SLA: Final[LiteralString] = (
    _SELECT
    + _FILTERS
    + """
  AND (%(k_id)s::bigint IS NULL OR (t.sla_due_at, t.id) > (%(k_at)s::timestamptz, %(k_id)s))
ORDER BY t.sla_due_at, t.id LIMIT %(limit)s"""
)
QUEUE_BY_PRIORITY: Final[LiteralString] = (
    _SELECT
    + _FILTERS
    + "  AND (%(k_id)s::bigint IS NULL OR ("
    + _RANK
    + """, t.sla_due_at, t.id) > (%(k_rank)s::integer, %(k_at)s::timestamptz, %(k_id)s))
ORDER BY """
    + _RANK
    + ", t.sla_due_at, t.id LIMIT %(limit)s"
)
QUEUE_BY_OPENED: Final[LiteralString] = (
    _SELECT
    + _FILTERS
    + """
  AND (%(k_id)s::bigint IS NULL OR (t.opened_at, t.id) < (%(k_at)s::timestamptz, %(k_id)s))
ORDER BY t.opened_at DESC, t.id DESC LIMIT %(limit)s"""
)
QUERY_BY_SORT: Final[dict[Sort, LiteralString]] = {
    Sort.SLA: QUEUE_BY_SLA,
    Sort.PRIORITY: QUEUE_BY_PRIORITY,
    Sort.OPENED: QUEUE_BY_OPENED,
}
TICKET_IN_SCOPE: Final[LiteralString] = (
    _SELECT
    + " WHERE t.id = %(id)s AND (%(dealer_id)s::bigint IS NULL OR t.dealer_id = %(dealer_id)s)"
)


@dataclass(frozen=True, slots=True)
class Filters:
    dealer_id: int | None = None  # the caller's scope, or the dealer asked for within it
    statuses: Collection[str] = ()
    priorities: Collection[str] = ()
    technician_id: int | None = None
    unassigned: bool = False
    due_before: datetime | None = None
    serial: str | None = None


def queue(
    conn: Conn, *, filters: Filters, sort: Sort, after: Position | None, limit: int
) -> list[QueueRow]:
    params = {
        "dealer_id": filters.dealer_id,
        "statuses": sorted(filters.statuses),
        "priorities": sorted(filters.priorities),
        "technician_id": filters.technician_id,
        "unassigned": filters.unassigned,
        "due_before": filters.due_before,
        "serial": filters.serial,
        "k_id": after.id if after else None,
        "k_at": after.at if after else None,
        "k_rank": after.rank if after else None,
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(QueueRow)) as cur:
        return cur.execute(QUERY_BY_SORT[sort], params).fetchall()


def ticket(conn: Conn, *, ticket_id: int, dealer_id: int | None) -> QueueRow:
    """The ticket if it is in scope (any dealer when dealer_id is None); NotFound otherwise, with
    the same words for another dealer's ticket as for a missing one."""
    with conn.cursor(row_factory=class_row(QueueRow)) as cur:
        row = cur.execute(TICKET_IN_SCOPE, {"id": ticket_id, "dealer_id": dealer_id}).fetchone()
    if row is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return row
