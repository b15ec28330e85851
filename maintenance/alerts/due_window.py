"""Which forecast services are worth a service-due alert now. Pure: values in, values out; the
shell is maintenance.alerts.service_due.

A service is alerted once, when its expected date first comes within `lead_days` of the
machine's day: not every hour after, and not again when the forecast moves the date. Its key is
(machine, rule, due point): the next interval of the same rule is a new service and alerted anew.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from maintenance.forecast.service_due import ServiceDue

# Owners plan a service a week ahead: a workshop slot, the machine brought in between jobs.
DEFAULT_LEAD_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class DueKey:
    machine_id: int
    rule_key: str
    due_at_h: float  # one decimal, as stored (service_due_alerts.due_at_h numeric(10, 1))


def due_key(machine_id: int, rule_key: str, due_at_h: float) -> DueKey:
    return DueKey(machine_id, rule_key, round(due_at_h, 1))


@dataclass(frozen=True, slots=True)
class MachineDue:
    """One machine's forecast: its own day (the dealer's calendar), its hour meter, usage and
    services, and the rules with a live service ticket (the ticket's own alert covers those)."""

    machine_id: int
    today: date
    engine_hours: float | None
    hours_per_week: float
    services: tuple[ServiceDue, ...]
    open_ticket_rules: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DueAlert:
    key: DueKey
    service: ServiceDue
    engine_hours: float
    hours_per_week: float
    expected: date
    earliest: date


def due_alerts(
    machines: Iterable[MachineDue], *, lead_days: int, alerted: Collection[DueKey]
) -> list[DueAlert]:
    """Services expected within `lead_days` of their machine's day (overdue ones included: their
    expected day is today) that have no alert yet and no live ticket, in machine and rule order."""
    if lead_days < 0:
        raise ValueError(f"lead_days must be 0 or more, got {lead_days}")
    out: list[DueAlert] = []
    for m in sorted(machines, key=lambda m: m.machine_id):
        if m.engine_hours is None:
            continue
        horizon = m.today + timedelta(days=lead_days)
        for s in sorted(m.services, key=lambda s: s.rule_key):
            if s.expected is None or s.due_at_h is None or s.expected > horizon:
                continue
            if s.rule_key in m.open_ticket_rules:
                continue
            key = due_key(m.machine_id, s.rule_key, s.due_at_h)
            if key in alerted:
                continue
            out.append(
                DueAlert(
                    key=key,
                    service=s,
                    engine_hours=m.engine_hours,
                    hours_per_week=m.hours_per_week,
                    expected=s.expected,
                    earliest=s.earliest or s.expected,
                )
            )
    return out
