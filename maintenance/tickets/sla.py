"""SLA escalation as pure functions: which live tickets are near their deadline or past it, and
the priority a breach raises them to. No I/O; the SQL side is maintenance.tickets.sla_escalation.

Each ticket gets each step once: `sla_near` when less than `near_fraction` of its SLA window
(opening to deadline) is left, `sla_breached` once the deadline has passed, which also raises its
priority one step up policy.LADDER. A ticket first seen past its deadline gets only the breach:
"due soon" after the fact is noise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from maintenance.rules.model import Priority
from maintenance.tickets.policy import LADDER


class SlaStep(enum.StrEnum):
    """The ticket event kind each step writes (and the alert kind it becomes)."""

    NEAR = "sla_near"
    BREACHED = "sla_breached"


@dataclass(frozen=True, slots=True)
class SlaTicket:
    id: int
    priority: Priority
    opened_at: datetime
    sla_due_at: datetime
    near_sent: bool  # the ticket has an sla_near event
    breached_sent: bool  # ... an sla_breached event


@dataclass(frozen=True, slots=True)
class SlaAction:
    ticket_id: int
    step: SlaStep
    remaining_s: int  # to the deadline; negative once past it
    priority: Priority
    raise_to: Priority | None  # a breach's new priority; None for near, or already critical


def check_fraction(near_fraction: float) -> None:
    if not 0 < near_fraction < 1:
        raise ValueError(f"near_fraction must be within (0, 1), got {near_fraction!r}")


def near_from(ticket: SlaTicket, *, near_fraction: float) -> datetime:
    """When the ticket becomes near: `near_fraction` of its window before the deadline."""
    window = max(ticket.sla_due_at - ticket.opened_at, timedelta(0))
    return ticket.sla_due_at - window * near_fraction


def step_one_up(priority: Priority) -> Priority | None:
    """The next priority up the ladder; None at the top."""
    level = LADDER.index(priority) + 1
    return LADDER[level] if level < len(LADDER) else None


def step(ticket: SlaTicket, *, now: datetime, near_fraction: float) -> SlaStep | None:
    if now > ticket.sla_due_at:
        return None if ticket.breached_sent else SlaStep.BREACHED
    if ticket.near_sent or ticket.breached_sent:
        return None
    return SlaStep.NEAR if now >= near_from(ticket, near_fraction=near_fraction) else None


def due_actions(
    tickets: Iterable[SlaTicket], *, now: datetime, near_fraction: float
) -> list[SlaAction]:
    """The steps due now, in ticket id order."""
    check_fraction(near_fraction)
    actions: list[SlaAction] = []
    for t in sorted(tickets, key=lambda t: t.id):
        due = step(t, now=now, near_fraction=near_fraction)
        if due is None:
            continue
        actions.append(
            SlaAction(
                ticket_id=t.id,
                step=due,
                remaining_s=int((t.sla_due_at - now).total_seconds()),
                priority=t.priority,
                raise_to=step_one_up(t.priority) if due is SlaStep.BREACHED else None,
            )
        )
    return actions
