"""An owner asks for service: a service_requests row and a manual ticket, opened through the same
path as a rule's finding (maintenance.tickets.flows.apply_findings: priority by the owner's grade,
SLA, technician, outbox), all in one transaction.

A machine has at most one live request ticket (rule key REQUEST_RULE_KEY holds the (machine, rule)
slot like any rule): a second request while it is live adds its evidence there. An idempotency key
seen before answers with that request's ticket and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, LiteralString

import psycopg

from maintenance.errors import Conflict, Invalid
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets import lifecycle
from maintenance.tickets.flows import apply_findings

Conn = psycopg.Connection[tuple[object, ...]]

REQUEST_RULE_KEY: Final = "owner-request"
MAX_TITLE_CHARS: Final = 80

INSERT_REQUEST: Final[LiteralString] = """
INSERT INTO service_requests (owner_id, machine_id, idempotency_key, description, preferred_date,
                              requested_at)
VALUES (%(owner_id)s, %(machine_id)s, %(key)s, %(description)s, %(preferred_date)s, %(now)s)
ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id
"""
REQUEST_BY_KEY: Final[LiteralString] = """
SELECT machine_id, description, preferred_date, ticket_id FROM service_requests
WHERE owner_id = %(owner_id)s AND idempotency_key = %(key)s
"""
LINK_TICKET: Final[LiteralString] = (
    "UPDATE service_requests SET ticket_id = %(ticket_id)s WHERE id = %(id)s"
)


@dataclass(frozen=True, slots=True)
class Requested:
    request_id: int | None  # None for a replayed idempotency key
    ticket_id: int


def request_service(
    conn: Conn,
    *,
    owner_id: int,
    machine_id: int,
    description: str,
    preferred_date: date | None,
    idempotency_key: str | None,
    now: datetime,
) -> Requested:
    """The caller has checked the machine is the owner's. Raises Invalid (empty or overlong text)
    or Conflict (the key was used for a different request)."""
    text = description.strip()
    if not text or len(text) > lifecycle.MAX_TEXT_CHARS:
        raise Invalid(f"the description must be 1 to {lifecycle.MAX_TEXT_CHARS} characters")
    params: dict[str, object] = {
        "owner_id": owner_id,
        "machine_id": machine_id,
        "key": idempotency_key,
        "description": text,
        "preferred_date": preferred_date,
        "now": now,
    }
    with conn.transaction():
        # A concurrent request with the same key waits here for the first to commit, then finds it.
        row = conn.execute(INSERT_REQUEST, params).fetchone()
        if row is None:
            return _replay(conn, params)
        request_id = int(row[0])  # type: ignore[call-overload]
        evidence: dict[str, object] = {
            "service_request_id": request_id,
            "requested_at": now.isoformat(),
            "description": text,
            "preferred_date": preferred_date.isoformat() if preferred_date else None,
        }
        finding = Finding(
            machine_id=machine_id,
            rule_key=REQUEST_RULE_KEY,
            rule_kind="manual",
            title=_title(text),
            priority=Priority.NORMAL,
            evidence=evidence,
        )
        applied = apply_findings(conn, [finding], now=now)
        # The evidence names this request, so it is new to any ticket: opened or appended.
        ticket_id = (applied.opened + applied.appended)[0]
        conn.execute(LINK_TICKET, {"ticket_id": ticket_id, "id": request_id})
        conn.execute(
            lifecycle.INSERT_EVENT,
            {
                "ticket_id": ticket_id,
                "at": now,
                "actor": f"owner:{owner_id}",
                "kind": "requested",
                "detail": json.dumps(evidence),
            },
        )
    return Requested(request_id, ticket_id)


def _replay(conn: Conn, params: dict[str, object]) -> Requested:
    row = conn.execute(REQUEST_BY_KEY, params).fetchone()
    assert row is not None  # the insert conflicted with it
    machine_id, text, preferred, ticket_id = row
    if (machine_id, text, preferred) != (
        params["machine_id"],
        params["description"],
        params["preferred_date"],
    ):
        raise Conflict(
            f"idempotency key {params['key']!r} was used for a different request; use a new key"
        )
    assert isinstance(ticket_id, int)
    return Requested(None, ticket_id)


def _title(text: str) -> str:
    line = text.splitlines()[0]
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 1] + "…"
    return f"Owner request: {line}"
