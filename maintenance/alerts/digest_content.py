"""What an owner's daily digest says: per machine, its live tickets, services due soon, silence and
active fault codes; nothing at all when none of them applies. Pure: values in, values out; the
shell is maintenance.alerts.digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from maintenance.alerts.model import DigestMachine, DigestPayload, PartyPart
from maintenance.forecast.service_due import ServiceDue

# The digest is a morning read: the first run at or after this local time sends the day's.
SEND_AT_LOCAL: Final = time(7, 0)
# Silent this long: something to look at (the default rule set's silence rule says the same).
SILENT_AFTER: Final = timedelta(hours=24)
# Silent longer than this: parked for the season or gone. Its silence ticket said so long ago, and
# repeating it every morning for months is the noise owners unsubscribe over.
SILENT_AT_MOST: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class OpenTicket:
    id: int
    title: str
    priority: str


@dataclass(frozen=True, slots=True)
class FaultCode:
    spn: int
    fmi: int


@dataclass(frozen=True, slots=True)
class MachineFacts:
    serial: str
    kind: str
    model: str
    last_seen: datetime | None  # newest reading; None: never reported
    active_faults: tuple[FaultCode, ...] = ()
    open_tickets: tuple[OpenTicket, ...] = ()
    services: tuple[ServiceDue, ...] = ()  # the forecast's, any date
    today: date | None = None  # the machine's day the forecast was made on


def services_due(
    services: Iterable[ServiceDue], *, today: date, lead_days: int
) -> list[ServiceDue]:
    horizon = today + timedelta(days=lead_days)
    return sorted(
        (s for s in services if s.expected is not None and s.expected <= horizon),
        key=lambda s: (s.expected, s.rule_key),
    )


def machine_lines(m: MachineFacts, *, now: datetime, lead_days: int) -> DigestMachine | None:
    silent = (
        m.last_seen
        if m.last_seen is not None and SILENT_AFTER <= now - m.last_seen <= SILENT_AT_MOST
        else None
    )
    due = services_due(m.services, today=m.today, lead_days=lead_days) if m.today else []
    out = DigestMachine(
        serial=m.serial,
        kind=m.kind,
        model=m.model,
        open_tickets=[f"#{t.id} {t.title} ({t.priority})" for t in m.open_tickets],
        services_due=[
            f"{s.title} around {s.expected}"  # str(date): ISO
            + (f" (due at {s.due_at_h:g} h)" if s.due_at_h is not None else "")
            for s in due
        ],
        silent_since=silent,
        active_faults=[f"SPN {f.spn} FMI {f.fmi}" for f in m.active_faults],
    )
    return out if items(out) else None


def items(m: DigestMachine) -> int:
    return (
        len(m.open_tickets)
        + len(m.services_due)
        + (m.silent_since is not None)
        + len(m.active_faults)
    )


def build(
    owner: PartyPart,
    *,
    day: date,
    timezone: str,
    machines: Sequence[MachineFacts],
    now: datetime,
    lead_days: int,
) -> DigestPayload | None:
    """The digest, machines by serial; None when there is nothing to say."""
    lines = [
        d
        for m in sorted(machines, key=lambda m: m.serial)
        if (d := machine_lines(m, now=now, lead_days=lead_days)) is not None
    ]
    if not lines:
        return None
    return DigestPayload(owner=owner, day=day, timezone=timezone, machines=lines)
