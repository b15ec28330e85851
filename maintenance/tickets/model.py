"""Ticket vocabulary: statuses and events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Final


class Status(enum.StrEnum):
    OPEN = "open"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    WAITING_PARTS = "waiting_parts"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


CLOSED_STATUSES: Final = frozenset({Status.RESOLVED, Status.CLOSED, Status.CANCELLED})
# Tickets that hold the (machine, rule) slot of the partial unique index and count as a
# technician's load.
LIVE_STATUSES: Final = frozenset(Status) - CLOSED_STATUSES


@dataclass(frozen=True, slots=True)
class TicketEvent:
    id: int
    ticket_id: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, object]
