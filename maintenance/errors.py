"""Domain errors with a stable slug; the API renders them once (api/problems.py). No HTTP here."""

from __future__ import annotations


class DomainError(Exception):
    slug = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    slug = "not-found"


class Conflict(DomainError):
    slug = "conflict"


class Invalid(DomainError):
    slug = "invalid"


class InvalidTransition(Conflict):
    """A ticket status change the status machine (maintenance.tickets.policy.TRANSITIONS) does not
    allow from the ticket's current status."""

    slug = "invalid-transition"


class AlreadyRated(Conflict):
    """The owner has rated this ticket already; a score is given once and never replaced."""

    slug = "already-rated"
