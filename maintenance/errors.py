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
