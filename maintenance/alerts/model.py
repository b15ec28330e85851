"""Alert vocabulary and the values that cross the outbox's module boundaries. No I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from uuid import UUID

import msgspec

from maintenance.rules.model import Priority


class AlertKind(enum.StrEnum):
    """What recipients subscribe to. The ticket events behind the ticket kinds are chosen in
    maintenance.alerts.outbox.ENQUEUE_FOR_TICKET_EVENT; service_due comes from the service-due
    forecast (maintenance.alerts.service_due), digest from the calendar (maintenance.alerts.digest).
    """

    OPENED = "opened"
    ESCALATED = "escalated"  # priority raised (a sustained anomaly, the SLA job)
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    REOPENED = "reopened"
    SLA_NEAR = "sla_near"
    SLA_BREACHED = "sla_breached"
    SERVICE_DUE = "service_due"
    DIGEST = "digest"


# The kinds about one ticket: their payload is Payload, their webhook type "ticket.<kind>".
TICKET_KINDS: Final = frozenset(
    {
        AlertKind.OPENED,
        AlertKind.ESCALATED,
        AlertKind.RESOLVED,
        AlertKind.CANCELLED,
        AlertKind.REOPENED,
        AlertKind.SLA_NEAR,
        AlertKind.SLA_BREACHED,
    }
)


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class Audience(enum.StrEnum):
    OWNER = "owner"
    DEALER = "dealer"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A local wall-clock span in `timezone` (IANA name); start > end spans midnight."""

    start: time
    end: time
    timezone: str


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    owner_id: int | None
    dealer_id: int | None
    channel: Channel
    target: str
    event_kinds: list[AlertKind]
    quiet: QuietHours | None
    active: bool
    dealer_code: str | None = None  # a dealer's subscription: the dealer's code


# The payload snapshot the outbox SQL builds with each event (jsonb), decoded and checked here.
class EventPart(msgspec.Struct, frozen=True):
    id: int
    kind: AlertKind
    at: datetime
    actor: str
    note: str | None = None
    # An SLA breach that raised the ticket's priority: the priority before (the ticket part has
    # the new one).
    raised_from: Priority | None = None


class TicketPart(msgspec.Struct, frozen=True):
    id: int
    title: str
    kind: str
    rule_key: str
    priority: Priority
    status: str
    opened_at: datetime
    sla_due_at: datetime


class MachinePart(msgspec.Struct, frozen=True):
    serial: str
    kind: str
    model: str


class PartyPart(msgspec.Struct, frozen=True):
    id: int
    name: str
    code: str | None = None


class Payload(msgspec.Struct, frozen=True):
    event: EventPart
    ticket: TicketPart
    machine: MachinePart
    owner: PartyPart
    dealer: PartyPart


class ServicePart(msgspec.Struct, frozen=True):
    """One service interval as forecast: reached on `expected`, between `earliest` and `latest`
    (None: maybe never, if the machine stops working)."""

    rule_key: str
    title: str
    every_h: float
    due_at_h: float
    engine_hours: float
    hours_left: float
    expected: date
    earliest: date
    latest: date | None
    hours_per_week: float


class ServiceDuePayload(msgspec.Struct, frozen=True):
    service: ServicePart
    machine: MachinePart
    owner: PartyPart
    dealer: PartyPart


class DigestMachine(msgspec.Struct, frozen=True):
    """One machine's lines in a digest; a machine with none of them is left out."""

    serial: str
    kind: str
    model: str
    open_tickets: list[str] = []  # "#12 Coolant temperature above normal (high)"
    services_due: list[str] = []  # "500-hour service around 2026-12-01"
    silent_since: datetime | None = None
    active_faults: list[str] = []  # "SPN 110 FMI 0"


class DigestPayload(msgspec.Struct, frozen=True):
    owner: PartyPart
    day: date
    timezone: str
    machines: list[DigestMachine]


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row a deliverer holds the lease on. `attempts` counts this one: it is the
    fencing token the deliverer's outcome is recorded against."""

    id: int
    idempotency_key: UUID
    kind: AlertKind
    priority: Priority
    payload: dict[str, object]
    attempts: int
    created_at: datetime
    channel: Channel
    target: str
    secret: str | None
    quiet: QuietHours | None
    active: bool


# What a channel reports for one attempt.
@dataclass(frozen=True, slots=True)
class Sent:
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    error: str
    # The receiver said no for a reason a retry will not change (4xx other than 408/429, SMTP 5xx).
    permanent: bool = False
    # The receiver asked for this delay (Retry-After); a retry waits at least this long.
    retry_after_s: float | None = None


Outcome = Sent | Failed
