"""Findings -> tickets, evidence and parts requests, in the caller's transaction.

One open ticket per (machine, rule) is enforced by a partial unique index; a repeated finding
with new
evidence appends to the open ticket instead of opening another. A new ticket's parts are requested
at its dealer and reserved there or backordered before the transaction ends, so no request is left
'requested'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg

from maintenance.parts import repo as parts
from maintenance.rules.engine import Finding
from maintenance.tickets.model import SLA_BY_PRIORITY

# Old evidence is dropped beyond this many entries so a long-running fault cannot grow a row
# forever.
MAX_EVIDENCE: Final = 50

OPEN_OR_APPEND: Final[LiteralString] = """
INSERT INTO tickets AS t (machine_id, owner_id, dealer_id, rule_key, kind, title, priority,
                          sla_due_at, opened_at, last_seen_at, evidence, evidence_key)
SELECT m.id, m.owner_id, m.dealer_id, %(rule_key)s, %(kind)s, %(title)s, %(priority)s,
       %(sla_due_at)s, %(now)s, %(now)s, jsonb_build_array(%(evidence)s::jsonb), %(evidence_key)s
FROM machines m WHERE m.id = %(machine_id)s
ON CONFLICT (machine_id, rule_key) WHERE status NOT IN ('resolved', 'closed', 'cancelled')
DO UPDATE SET
    occurrences = t.occurrences + 1,
    last_seen_at = EXCLUDED.last_seen_at,
    evidence_key = EXCLUDED.evidence_key,
    evidence = (CASE WHEN jsonb_array_length(t.evidence) >= %(max_evidence)s
                     THEN t.evidence - 0 ELSE t.evidence END) || EXCLUDED.evidence
WHERE t.evidence_key IS DISTINCT FROM EXCLUDED.evidence_key
RETURNING id, dealer_id, (xmax = 0) AS opened
"""
INSERT_EVENT: Final[LiteralString] = """
INSERT INTO ticket_events (ticket_id, at, actor, kind, detail)
VALUES (%(ticket_id)s, %(at)s, %(actor)s, %(kind)s, %(detail)s::jsonb)
"""
INSERT_PARTS_REQUEST: Final[LiteralString] = """
INSERT INTO parts_requests (ticket_id, dealer_id, part_no, description, qty)
VALUES (%(ticket_id)s, %(dealer_id)s, %(part_no)s, %(description)s, %(qty)s)
RETURNING id
"""
RULES_ACTOR: Final = "rules"


@dataclass(frozen=True, slots=True)
class Applied:
    opened: list[int]
    appended: list[int]


def evidence_key(finding: Finding) -> str:
    """What makes a finding new: a fault's report time and occurrence count, an interval's due
    point."""
    e = finding.evidence
    if finding.rule_kind == "fault_code":
        return f"{e.get('reported_at')}|{e.get('oc')}"
    if finding.rule_kind == "service_interval":
        return f"due@{e.get('due_at_h')}"
    return json.dumps(e, sort_keys=True, default=str)


def apply_findings(
    conn: psycopg.Connection[tuple[object, ...]], findings: Sequence[Finding], *, now: datetime
) -> Applied:
    opened: list[int] = []
    appended: list[int] = []
    requested: list[int] = []
    # Before any ticket row, in one sorted pass: writers cataloguing the same new part numbers
    # then queue instead of deadlocking.
    parts.catalogue_on_first_use(
        conn, ((p.part_no, p.description) for f in findings for p in f.parts)
    )
    # A fixed order keeps concurrent writers (several ingest workers) from deadlocking.
    for f in sorted(findings, key=lambda f: (f.machine_id, f.rule_key)):
        row = conn.execute(
            OPEN_OR_APPEND,
            {
                "machine_id": f.machine_id,
                "rule_key": f.rule_key,
                "kind": f.rule_kind,
                "title": f.title,
                "priority": str(f.priority),
                "sla_due_at": now + SLA_BY_PRIORITY[f.priority],
                "now": now,
                "evidence": json.dumps(f.evidence, default=str),
                "evidence_key": evidence_key(f),
                "max_evidence": MAX_EVIDENCE,
            },
        ).fetchone()
        if row is None:
            continue  # the open ticket already holds this evidence, or the machine is gone
        ticket_id, dealer_id, was_opened = int(row[0]), int(row[1]), bool(row[2])  # type: ignore[call-overload]
        if was_opened:
            opened.append(ticket_id)
            conn.execute(
                INSERT_EVENT,
                {
                    "ticket_id": ticket_id,
                    "at": now,
                    "actor": RULES_ACTOR,
                    "kind": "opened",
                    "detail": json.dumps({"rule_key": f.rule_key, "priority": str(f.priority)}),
                },
            )
            for p in f.parts:
                request = conn.execute(
                    INSERT_PARTS_REQUEST,
                    {
                        "ticket_id": ticket_id,
                        "dealer_id": dealer_id,
                        "part_no": p.part_no,
                        "description": p.description,
                        "qty": p.qty,
                    },
                ).fetchone()
                assert request is not None
                requested.append(int(request[0]))  # type: ignore[call-overload]
        else:
            appended.append(ticket_id)
    # Stock rows are locked only after every ticket row, all at once in one sorted order, so
    # concurrent writers opening tickets at the same dealer cannot deadlock on them.
    parts.reserve_for_requests(conn, parts_request_ids=requested, actor=RULES_ACTOR)
    return Applied(opened=opened, appended=appended)
