"""Technicians with their load, for choosing who gets a ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class TechnicianRow:
    id: int
    name: str
    dealer_code: str
    skills: list[str]
    active: bool
    phone: str | None
    email: str | None
    load: int  # live tickets assigned: the count auto-assignment balances


# Load is counted as flows.TECHNICIAN_CANDIDATES counts it, on tickets_technician_live_idx.
TECHNICIANS: Final[LiteralString] = """
SELECT t.id, t.name, d.code AS dealer_code, t.skills, t.active, t.phone, t.email,
       (SELECT count(*) FROM tickets k
        WHERE k.assigned_technician_id = t.id
          AND k.status NOT IN ('resolved', 'closed', 'cancelled'))::integer AS load
FROM technicians t
JOIN dealers d ON d.id = t.dealer_id
WHERE (%(dealer_id)s::bigint IS NULL OR t.dealer_id = %(dealer_id)s)
  AND (%(skill)s::text IS NULL OR %(skill)s = ANY(t.skills))
  AND (%(active)s::boolean IS NULL OR t.active = %(active)s)
  AND t.id > %(after)s
ORDER BY t.id
LIMIT %(limit)s
"""


def technicians(
    conn: Conn,
    *,
    dealer_id: int | None,
    skill: str | None = None,
    active: bool | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[TechnicianRow]:
    params = {
        "dealer_id": dealer_id,
        "skill": skill,
        "active": active,
        "after": after,
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(TechnicianRow)) as cur:
        return cur.execute(TECHNICIANS, params).fetchall()
