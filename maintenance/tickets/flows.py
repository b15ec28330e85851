"""Findings -> tickets, evidence, assignment and parts requests; clears -> auto-resolution; all in
the caller's transaction.

One open ticket per (machine, rule) is enforced by a partial unique index; a repeated finding
with new evidence appends to the open ticket instead of opening another, and a finding with the
evidence of a finished ticket (the same DM1 report, the same due point) opens nothing. A new
ticket gets its priority from the rule and the owner's grade, an SLA deadline from that priority
and a technician of its servicing dealer (policy.pick_technician). Its parts are requested at its
dealer and reserved there or backordered before the transaction ends, so no request is left
'requested'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg

from maintenance.crm.grading import GradeLetter
from maintenance.parts import repo as parts
from maintenance.rules.findings import Clear, Finding
from maintenance.rules.model import Priority
from maintenance.tickets import lifecycle, policy
from maintenance.tickets.model import Status

# Old evidence is dropped beyond this many entries so a long-running fault cannot grow a row
# forever.
MAX_EVIDENCE: Final = 50

OPEN_OR_APPEND: Final[LiteralString] = """
INSERT INTO tickets AS t (machine_id, owner_id, dealer_id, rule_key, kind, title, priority,
                          sla_due_at, opened_at, last_seen_at, evidence, evidence_key,
                          rule_set_version)
SELECT m.id, m.owner_id, m.dealer_id, %(rule_key)s, %(kind)s, %(title)s, %(priority)s,
       %(sla_due_at)s, %(now)s, %(now)s, jsonb_build_array(%(evidence)s::jsonb), %(evidence_key)s,
       %(rule_set_version)s
FROM machines m
WHERE m.id = %(machine_id)s
  -- Evidence a finished ticket already settled is not a new problem: a rule evaluated on a
  -- snapshot taken before a DTC cleared, or a due point whose ticket a dispatcher cancelled.
  AND NOT EXISTS (SELECT 1 FROM tickets d
                  WHERE d.machine_id = m.id AND d.rule_key = %(rule_key)s
                    AND d.evidence_key = %(evidence_key)s
                    AND d.status IN ('resolved', 'closed', 'cancelled'))
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
# The grade decides the priority before the row exists, so it is read for the whole batch first.
OWNER_GRADES_OF_MACHINES: Final[LiteralString] = """
SELECT m.id, o.grade FROM machines m JOIN owners o ON o.id = m.owner_id
WHERE m.id = ANY(%(machine_ids)s)
"""
# Load = live tickets assigned to the technician. Concurrent writers may both count a load before
# either commits and pick the same technician: the balance is a heuristic, not worth serialising
# ingest on technician rows for.
TECHNICIAN_CANDIDATES: Final[LiteralString] = """
SELECT t.dealer_id, t.id, t.skills, t.active,
       (SELECT count(*) FROM tickets k
        WHERE k.assigned_technician_id = t.id
          AND k.status NOT IN ('resolved', 'closed', 'cancelled'))::integer AS load
FROM technicians t
WHERE t.dealer_id = ANY(%(dealer_ids)s) AND t.active
ORDER BY t.dealer_id, t.id
"""
# Only tickets nobody has started on are resolved by a clear: once a technician works one, they
# own the outcome (and resolve it with notes).
LOCK_CLEARABLE_TICKETS: Final[LiteralString] = """
SELECT t.id
FROM tickets t
JOIN unnest(%(machine_ids)s::bigint[], %(rule_keys)s::text[]) AS c (machine_id, rule_key)
  ON c.machine_id = t.machine_id AND c.rule_key = t.rule_key
WHERE t.status IN ('open', 'scheduled') AND t.kind = ANY(%(kinds)s)
ORDER BY t.machine_id, t.rule_key
FOR UPDATE OF t
"""
INSERT_PARTS_REQUEST: Final[LiteralString] = """
INSERT INTO parts_requests (ticket_id, dealer_id, part_no, description, qty)
VALUES (%(ticket_id)s, %(dealer_id)s, %(part_no)s, %(description)s, %(qty)s)
RETURNING id
"""
# A repeated finding that asks for a higher priority (an anomaly that has been sustained) raises
# the open ticket's priority and brings its promise forward, never back.
ESCALATE: Final[LiteralString] = """
UPDATE tickets
SET priority = %(priority)s, sla_due_at = LEAST(sla_due_at, %(sla_due_at)s)
WHERE id = %(ticket_id)s
  AND array_position(%(ladder)s::text[], priority)
      < array_position(%(ladder)s::text[], %(priority)s)
RETURNING id
"""
RULES_ACTOR: Final = "rules"
# Rule kinds whose clearing condition says the problem went away by itself: a temperature back
# under its clearing level, a silent machine reporting again. A fault code or a due service needs
# someone to act, whatever the machine reports next.
# An anomaly episode that ended by itself was a blip (maintenance.anomaly.findings).
AUTO_RESOLVE_KINDS: Final = frozenset({"threshold", "silence", "anomaly"})


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
    if finding.rule_kind == "anomaly":  # an episode raises once and is sustained once
        return f"{e.get('episode_start')}|{e.get('event')}"
    return json.dumps(e, sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class _Opened:
    ticket_id: int
    dealer_id: int
    skills: frozenset[str]


def apply_findings(
    conn: psycopg.Connection[tuple[object, ...]],
    findings: Sequence[Finding],
    *,
    now: datetime,
    rule_set_version: int | None = None,
) -> Applied:
    opened: list[_Opened] = []
    appended: list[int] = []
    requested: list[int] = []
    if not findings:
        return Applied(opened=[], appended=[])
    grades = _owner_grades(conn, sorted({f.machine_id for f in findings}))
    # Before any ticket row, in one sorted pass: writers cataloguing the same new part numbers
    # then queue instead of deadlocking.
    parts.catalogue_on_first_use(
        conn, ((p.part_no, p.description) for f in findings for p in f.parts)
    )
    # A fixed order keeps concurrent writers (several ingest workers) from deadlocking.
    for f in sorted(findings, key=lambda f: (f.machine_id, f.rule_key)):
        grade = grades.get(f.machine_id)
        ticket_priority = policy.priority(f.priority, owner_grade=grade)
        row = conn.execute(
            OPEN_OR_APPEND,
            {
                "machine_id": f.machine_id,
                "rule_key": f.rule_key,
                "kind": f.rule_kind,
                "title": f.title,
                "priority": str(ticket_priority),
                "sla_due_at": policy.sla_due(ticket_priority, opened_at=now),
                "now": now,
                "evidence": json.dumps(f.evidence, default=str),
                "evidence_key": evidence_key(f),
                "max_evidence": MAX_EVIDENCE,
                "rule_set_version": rule_set_version,
            },
        ).fetchone()
        if row is None:
            continue  # the open ticket already holds this evidence, or the machine is gone
        ticket_id, dealer_id, was_opened = int(row[0]), int(row[1]), bool(row[2])  # type: ignore[call-overload]
        if not was_opened:
            appended.append(ticket_id)
            _escalate(conn, ticket_id, ticket_priority, now=now)
            continue
        skills = policy.required_skills(f.rule_kind, f.evidence)
        opened.append(_Opened(ticket_id, dealer_id, frozenset(skills)))
        conn.execute(
            lifecycle.INSERT_EVENT,
            {
                "ticket_id": ticket_id,
                "at": now,
                "actor": RULES_ACTOR,
                "kind": "opened",
                "detail": json.dumps(
                    {
                        "rule_key": f.rule_key,
                        "priority": str(ticket_priority),
                        "rule_priority": str(f.priority),
                        "owner_grade": grade,
                        "rule_set_version": rule_set_version,
                    }
                ),
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
    _auto_assign(conn, opened, now=now)
    # Stock rows are locked only after every ticket row, all at once in one sorted order, so
    # concurrent writers opening tickets at the same dealer cannot deadlock on them.
    parts.reserve_for_requests(conn, parts_request_ids=requested, actor=RULES_ACTOR)
    return Applied(opened=[o.ticket_id for o in opened], appended=appended)


def _escalate(
    conn: psycopg.Connection[tuple[object, ...]],
    ticket_id: int,
    ticket_priority: Priority,
    *,
    now: datetime,
) -> None:
    row = conn.execute(
        ESCALATE,
        {
            "ticket_id": ticket_id,
            "priority": str(ticket_priority),
            "sla_due_at": policy.sla_due(ticket_priority, opened_at=now),
            "ladder": [str(p) for p in policy.LADDER],
        },
    ).fetchone()
    if row is not None:
        conn.execute(
            lifecycle.INSERT_EVENT,
            {
                "ticket_id": ticket_id,
                "at": now,
                "actor": RULES_ACTOR,
                "kind": "escalated",
                "detail": json.dumps({"priority": str(ticket_priority)}),
            },
        )


def _owner_grades(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> dict[int, GradeLetter | None]:
    rows = conn.execute(OWNER_GRADES_OF_MACHINES, {"machine_ids": machine_ids}).fetchall()
    return {int(m): GradeLetter(str(g)) if g is not None else None for m, g in rows}  # type: ignore[call-overload]


def _auto_assign(
    conn: psycopg.Connection[tuple[object, ...]], opened: Sequence[_Opened], *, now: datetime
) -> None:
    """Gives each opened ticket a technician of its dealer (policy.pick_technician), counting the
    tickets assigned earlier in this batch into the loads."""
    if not opened:
        return
    rows = conn.execute(
        TECHNICIAN_CANDIDATES, {"dealer_ids": sorted({o.dealer_id for o in opened})}
    ).fetchall()
    by_dealer: dict[int, list[policy.Candidate]] = {}
    for dealer_id, tech_id, skills, active, load in rows:
        by_dealer.setdefault(int(dealer_id), []).append(  # type: ignore[call-overload]
            policy.Candidate(
                id=int(tech_id),  # type: ignore[call-overload]
                skills=frozenset(skills),  # type: ignore[call-overload]
                active=bool(active),
                load=int(load),  # type: ignore[call-overload]
            )
        )
    assignments: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    for o in opened:
        candidates = by_dealer.get(o.dealer_id, [])
        chosen = policy.pick_technician(candidates, required_skills=o.skills)
        if chosen is None:
            continue  # nobody active at this dealer: the dispatcher's queue shows it unassigned
        tech = next(c for c in candidates if c.id == chosen)
        by_dealer[o.dealer_id] = [
            policy.Candidate(c.id, c.skills, c.active, c.load + 1) if c.id == chosen else c
            for c in candidates
        ]
        assignments.append({"ticket_id": o.ticket_id, "technician_id": chosen, "at": now})
        events.append(
            {
                "ticket_id": o.ticket_id,
                "at": now,
                "actor": RULES_ACTOR,
                "kind": "assigned",
                "detail": json.dumps(
                    {
                        "technician_id": chosen,
                        "previous": None,
                        "required_skills": sorted(o.skills),
                        "skilled": o.skills <= tech.skills,
                        "load": tech.load,
                    }
                ),
            }
        )
    if assignments:
        with conn.cursor() as cur:
            cur.executemany(lifecycle.SET_ASSIGNEE, assignments)
            cur.executemany(lifecycle.INSERT_EVENT, events)


def resolve_cleared(
    conn: psycopg.Connection[tuple[object, ...]], *, clears: Sequence[Clear], now: datetime
) -> list[int]:
    """Resolves, as actor 'rules', the tickets a clear verdict settles: the live ticket of the
    clear's (machine, rule_key), opened by a rule of an AUTO_RESOLVE_KINDS kind, that nobody has
    started on (open or scheduled). The clear's evidence is the resolution. Nothing was done on the
    machine, so reserved parts are released (not consumed) and no service record is written (it
    would be service history, and spend, for work nobody did). Returns the resolved ticket ids.

    Clears without such a ticket (most of them: a healthy machine clears on every batch) cost
    nothing beyond the one query that finds none.
    """
    wanted = sorted({(c.machine_id, c.rule_key): c for c in clears}.items())
    if not wanted:
        return []
    locked = conn.execute(
        LOCK_CLEARABLE_TICKETS,
        {
            "machine_ids": [m for (m, _), _ in wanted],
            "rule_keys": [r for (_, r), _ in wanted],
            "kinds": sorted(AUTO_RESOLVE_KINDS),
        },
    ).fetchall()
    ticket_ids = [int(r[0]) for r in locked]  # type: ignore[call-overload]
    if len(ticket_ids) > 1:
        lifecycle.lock_stock_of_tickets(conn, ticket_ids=ticket_ids)
    by_key = dict(wanted)
    resolved: list[int] = []
    for ticket_id in ticket_ids:
        ticket = lifecycle.lock_ticket(conn, ticket_id=ticket_id)  # locked already: the full row
        policy.check_transition(Status(ticket.status), to=Status.RESOLVED)
        clear = by_key[(ticket.machine_id, ticket.rule_key)]
        evidence = json.dumps(clear.evidence, sort_keys=True, default=str)
        lifecycle.apply_transition(
            conn,
            ticket,
            to=Status.RESOLVED,
            actor=RULES_ACTOR,
            note=f"condition cleared: {evidence}",
            at=now,
            work_done=False,
            extra={"cleared": clear.evidence},
        )
        resolved.append(ticket_id)
    return resolved
