"""Fleet health at a glance and where the machines are, for a dispatcher's scope (a dealer id, or
None for every dealer). Machines are counted by their servicing dealer, tickets by theirs; only
active machines (machines.active) count.

Lamps: a machine is `red` when any active DTC lights the red stop lamp, and `amber` when none does
but one lights amber, protect or MIL (the warning lamps): each machine counts once, at its worst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

from maintenance.rules.model import Priority

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# A live ticket whose SLA falls due within this is "near": still savable if someone moves now.
NEAR_SLA: Final = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Health:
    machines: int
    online: int  # last status message said online
    offline: int  # last status message said offline (or the broker's last will did)
    unknown: int  # no status message yet
    red: int
    amber: int
    open_tickets: int
    by_priority: dict[Priority, int]
    unassigned: int
    sla_breached: int
    sla_near: int


MACHINE_COUNTS: Final[LiteralString] = """
WITH lamps AS (
    SELECT s.online,
           EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(s.active_faults, '[]')) f
                   WHERE f->>'lamp' = 'red') AS red,
           EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(s.active_faults, '[]')) f
                   WHERE f->>'lamp' IN ('amber', 'protect', 'mil')) AS amber
    FROM machines m
    LEFT JOIN machine_state s ON s.machine_id = m.id
    WHERE m.active AND (%(dealer_id)s::bigint IS NULL OR m.dealer_id = %(dealer_id)s)
)
SELECT count(*)::integer,
       count(*) FILTER (WHERE online IS TRUE)::integer,
       count(*) FILTER (WHERE online IS FALSE)::integer,
       count(*) FILTER (WHERE online IS NULL)::integer,
       count(*) FILTER (WHERE red)::integer,
       count(*) FILTER (WHERE amber AND NOT red)::integer
FROM lamps
"""
LIVE_TICKET_COUNTS: Final[LiteralString] = """
SELECT t.priority, count(*)::integer,
       count(*) FILTER (WHERE t.assigned_technician_id IS NULL)::integer,
       count(*) FILTER (WHERE t.sla_due_at < %(now)s)::integer,
       count(*) FILTER (WHERE t.sla_due_at >= %(now)s AND t.sla_due_at < %(near)s)::integer
FROM tickets t
WHERE t.status NOT IN ('resolved', 'closed', 'cancelled')
  AND (%(dealer_id)s::bigint IS NULL OR t.dealer_id = %(dealer_id)s)
GROUP BY t.priority
"""


def health(
    conn: Conn, *, dealer_id: int | None, now: datetime, near: timedelta = NEAR_SLA
) -> Health:
    row = conn.execute(MACHINE_COUNTS, {"dealer_id": dealer_id}).fetchone()
    assert row is not None  # an aggregate always answers
    machines, online, offline, unknown, red, amber = (int(v) for v in row)  # type: ignore[call-overload]
    by_priority = dict.fromkeys(Priority, 0)
    unassigned = breached = near_due = 0
    params = {"dealer_id": dealer_id, "now": now, "near": now + near}
    for priority, n, free, late, close in conn.execute(LIVE_TICKET_COUNTS, params).fetchall():
        by_priority[Priority(str(priority))] = int(n)  # type: ignore[call-overload]
        unassigned += int(free)  # type: ignore[call-overload]
        breached += int(late)  # type: ignore[call-overload]
        near_due += int(close)  # type: ignore[call-overload]
    return Health(
        machines=machines,
        online=online,
        offline=offline,
        unknown=unknown,
        red=red,
        amber=amber,
        open_tickets=sum(by_priority.values()),
        by_priority=by_priority,
        unassigned=unassigned,
        sla_breached=breached,
        sla_near=near_due,
    )


@dataclass(frozen=True, slots=True)
class Position:
    serial: str
    kind: str
    model: str
    dealer_code: str
    lat: float
    lon: float
    last_seen: datetime | None
    online: bool | None
    open_tickets: int
    worst_priority: str | None  # of the live tickets; None without any


# Machines with a known position only: a map has nowhere to put the others. The bounding box is
# optional (all four NULL), in GeoJSON's order: west, south, east, north.
POSITIONS: Final[LiteralString] = """
SELECT m.serial, m.kind, m.model, d.code AS dealer_code, s.lat, s.lon, s.ts AS last_seen,
       s.online, coalesce(k.n, 0)::integer AS open_tickets,
       (ARRAY['low', 'normal', 'high', 'critical'])[k.worst] AS worst_priority
FROM machines m
JOIN dealers d ON d.id = m.dealer_id
JOIN machine_state s ON s.machine_id = m.id
LEFT JOIN LATERAL (
    SELECT count(*) AS n,
           max(array_position(ARRAY['low', 'normal', 'high', 'critical'], t.priority)) AS worst
    FROM tickets t
    WHERE t.machine_id = m.id AND t.status NOT IN ('resolved', 'closed', 'cancelled')
) k ON true
WHERE m.active AND s.lat IS NOT NULL AND s.lon IS NOT NULL
  AND (%(dealer_id)s::bigint IS NULL OR m.dealer_id = %(dealer_id)s)
  AND (%(online)s::boolean IS NULL OR s.online IS NOT DISTINCT FROM %(online)s)
  AND (NOT %(with_tickets)s OR k.n > 0)
  AND (%(west)s::float8 IS NULL OR (s.lon BETWEEN %(west)s AND %(east)s
                                     AND s.lat BETWEEN %(south)s AND %(north)s))
  AND m.serial > %(after)s
ORDER BY m.serial
LIMIT %(limit)s
"""


def positions(
    conn: Conn,
    *,
    dealer_id: int | None,
    online: bool | None = None,
    with_tickets: bool = False,
    bbox: tuple[float, float, float, float] | None = None,
    after: str = "",
    limit: int = 1000,
) -> list[Position]:
    west, south, east, north = bbox if bbox else (None, None, None, None)
    params = {
        "dealer_id": dealer_id,
        "online": online,
        "with_tickets": with_tickets,
        "west": west,
        "south": south,
        "east": east,
        "north": north,
        "after": after,
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(Position)) as cur:
        return cur.execute(POSITIONS, params).fetchall()
