"""The owner's daily digest: for each owner subscribed to it whose local morning has come
(digest_content.SEND_AT_LOCAL) and who has no digest for that local day yet, what their machines
need (maintenance.alerts.digest_content), recorded in owner_digests and enqueued in one statement.
In the caller's transaction.

The owner's day is their dealer's calendar day (dealers.timezone; owners carry no time zone of
their own), UTC for an owner without a dealer. At most once per owner and local day, across runs
and failovers: owner_digests' primary key makes a second insert do nothing, and the outbox rows
are written only by the statement that inserted it. A day with nothing to say is recorded too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, LiteralString, TypeAlias

import msgspec
import psycopg

from maintenance.alerts import digest_content
from maintenance.alerts.digest_content import FaultCode, MachineFacts, OpenTicket
from maintenance.alerts.model import DigestPayload, PartyPart
from maintenance.forecast.repo import service_forecasts

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# A summary, never worth waking anyone: it waits for quiet hours to end.
PRIORITY: Final = "low"

# Owners due a digest now: subscribed to it, past their local send time, none for their day yet.
OWNERS_DUE: Final[LiteralString] = """
SELECT o.id, o.name, o.code, z.tz, z.local::date AS day
FROM owners o
LEFT JOIN dealers d ON d.id = o.dealer_id
CROSS JOIN LATERAL (
    SELECT coalesce(d.timezone, 'UTC') AS tz,
           %(now)s::timestamptz AT TIME ZONE coalesce(d.timezone, 'UTC') AS local
) z
WHERE z.local::time >= %(send_at)s
  AND EXISTS (SELECT 1 FROM alert_subscriptions s
              WHERE s.owner_id = o.id AND s.active AND 'digest' = ANY(s.event_kinds))
  AND NOT EXISTS (SELECT 1 FROM owner_digests g
                  WHERE g.owner_id = o.id AND g.local_day = z.local::date)
ORDER BY o.id
"""
OWNER_MACHINES: Final[LiteralString] = """
SELECT m.id, m.serial, m.kind, m.model, s.ts, coalesce(s.active_faults, '[]'::jsonb)
FROM machines m
LEFT JOIN machine_state s ON s.machine_id = m.id
WHERE m.owner_id = %(owner_id)s AND m.active
ORDER BY m.serial
"""
OWNER_OPEN_TICKETS: Final[LiteralString] = """
SELECT machine_id, id, title, priority FROM tickets
WHERE owner_id = %(owner_id)s AND status NOT IN ('resolved', 'closed', 'cancelled')
ORDER BY id
"""
ENQUEUE_DIGEST: Final[LiteralString] = """
WITH k AS (
    INSERT INTO owner_digests (owner_id, local_day, items, created_at)
    VALUES (%(owner_id)s, %(day)s, %(items)s, %(now)s)
    ON CONFLICT DO NOTHING
    RETURNING owner_id
), rows AS (
    INSERT INTO alert_outbox (event_key, subscription_id, kind, priority, payload, created_at,
                              next_attempt_at)
    SELECT %(event_key)s, s.id, 'digest', %(priority)s, %(payload)s::jsonb, %(now)s, %(now)s
    FROM k
    JOIN alert_subscriptions s
      ON s.owner_id = k.owner_id AND s.active AND 'digest' = ANY(s.event_kinds)
    WHERE %(items)s > 0
    ON CONFLICT (event_key, subscription_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM rows)
"""


@dataclass(frozen=True, slots=True)
class OwnerDue:
    id: int
    name: str
    code: str
    timezone: str
    day: date


@dataclass(frozen=True, slots=True)
class Digested:
    owners: int  # examined
    sent: list[int]  # owner ids whose digest was enqueued
    rows: int


def owners_due(conn: Conn, *, now: datetime) -> list[OwnerDue]:
    rows = conn.execute(
        OWNERS_DUE, {"now": now, "send_at": digest_content.SEND_AT_LOCAL}
    ).fetchall()
    return [
        OwnerDue(int(i), str(n), str(c), str(tz), d)  # type: ignore[call-overload, arg-type]
        for i, n, c, tz, d in rows
    ]


def machine_facts(conn: Conn, *, owner_id: int, now: datetime) -> list[MachineFacts]:
    """Each active machine of the owner with its state, live tickets and service forecast."""
    tickets: defaultdict[int, list[OpenTicket]] = defaultdict(list)
    for machine_id, tid, title, priority in conn.execute(
        OWNER_OPEN_TICKETS, {"owner_id": owner_id}
    ):
        tickets[int(machine_id)].append(OpenTicket(int(tid), str(title), str(priority)))  # type: ignore[call-overload]
    machines = conn.execute(OWNER_MACHINES, {"owner_id": owner_id}).fetchall()
    forecasts = service_forecasts(
        conn,
        machine_ids=[int(m[0]) for m in machines],  # type: ignore[call-overload]
        now=now,
    )
    out: list[MachineFacts] = []
    for machine_id, serial, kind, model, ts, faults in machines:
        mid = int(machine_id)  # type: ignore[call-overload]
        mf = forecasts.get(mid)
        out.append(
            MachineFacts(
                serial=str(serial),
                kind=str(kind),
                model=str(model),
                last_seen=ts if isinstance(ts, datetime) else None,
                active_faults=tuple(
                    FaultCode(int(f["spn"]), int(f["fmi"]))
                    for f in (faults if isinstance(faults, list) else [])
                ),
                open_tickets=tuple(tickets[mid]),
                services=tuple(mf.forecast.services) if mf else (),
                today=mf.today if mf else None,
            )
        )
    return out


def enqueue(
    conn: Conn, owner: OwnerDue, digest: DigestPayload | None, *, now: datetime
) -> int | None:
    """The digest's outbox rows; None when the owner's day has one already."""
    items = sum(digest_content.items(m) for m in digest.machines) if digest else 0
    row = conn.execute(
        ENQUEUE_DIGEST,
        {
            "owner_id": owner.id,
            "day": owner.day,
            "items": items,
            "now": now,
            "event_key": f"digest:{owner.id}:{owner.day.isoformat()}",
            "priority": PRIORITY,
            "payload": json.dumps(msgspec.to_builtins(digest)) if digest else "{}",
        },
    ).fetchone()
    assert row is not None
    keys, rows = row
    return int(rows) if keys else None  # type: ignore[call-overload]


def run(conn: Conn, *, now: datetime, lead_days: int) -> Digested:
    owners = owners_due(conn, now=now)
    sent: list[int] = []
    total = 0
    for owner in owners:
        digest = digest_content.build(
            PartyPart(owner.id, owner.name, owner.code),
            day=owner.day,
            timezone=owner.timezone,
            machines=machine_facts(conn, owner_id=owner.id, now=now),
            now=now,
            lead_days=lead_days,
        )
        n = enqueue(conn, owner, digest, now=now)
        if n:
            sent.append(owner.id)
            total += n
    return Digested(owners=len(owners), sent=sent, rows=total)
