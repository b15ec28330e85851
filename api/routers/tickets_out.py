"""Turns ticket rows and their parts requests into response models (shared by owner and
dispatch)."""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg

from api.schemas.owner import PartsRequestOut, TicketOut
from maintenance.tickets import queue, repo

T = TypeVar("T", bound=TicketOut)


def parts_out(p: repo.PartsRequestRow) -> PartsRequestOut:
    return PartsRequestOut(
        id=p.id,
        part_no=p.part_no,
        description=p.description,
        qty=p.qty,
        status=p.status,
        dealer=p.dealer_code,
    )


def ticket_out(
    r: repo.TicketRow | queue.QueueRow,
    parts: list[repo.PartsRequestRow],
    model: type[T],
    **extra: Any,
) -> T:
    """The fields every audience sees, as `model` (TicketOut or a subclass given its `extra`)."""
    return model(
        id=r.id,
        serial=r.serial,
        owner=r.owner_name,
        dealer=r.dealer_code,
        rule_key=r.rule_key,
        kind=r.kind,
        title=r.title,
        priority=r.priority,
        status=r.status,
        sla_due_at=r.sla_due_at,
        opened_at=r.opened_at,
        last_seen_at=r.last_seen_at,
        occurrences=r.occurrences,
        evidence=r.evidence,
        parts=[parts_out(p) for p in parts],
        **extra,
    )


def tickets_out(
    conn: psycopg.Connection[tuple[object, ...]], rows: list[repo.TicketRow]
) -> list[TicketOut]:
    parts = repo.parts_for_tickets(conn, [r.id for r in rows])
    return [ticket_out(r, parts[r.id], TicketOut) for r in rows]
