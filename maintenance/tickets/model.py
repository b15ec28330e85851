"""Ticket vocabulary: statuses, SLA policy by priority."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Final

from maintenance.rules.model import Priority


class Status(enum.StrEnum):
    OPEN = "open"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    WAITING_PARTS = "waiting_parts"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


CLOSED_STATUSES: Final = frozenset({Status.RESOLVED, Status.CLOSED, Status.CANCELLED})

# Promised response time from opening: a red-stop fault is answered within half a working day.
SLA_BY_PRIORITY: Final[dict[Priority, timedelta]] = {
    Priority.CRITICAL: timedelta(hours=4),
    Priority.HIGH: timedelta(hours=24),
    Priority.NORMAL: timedelta(hours=72),
    Priority.LOW: timedelta(days=7),
}
