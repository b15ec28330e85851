"""A size- and time-bounded buffer with an injected clock; no paho, no psycopg.

Ingest adds items as messages arrive and flushes when the batch is full or its oldest item has
waited
long enough, so a trickle of messages is still committed (and acknowledged) promptly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, *, max_items: int, max_wait_s: float, clock: Callable[[], float]) -> None:
        if max_items < 1 or max_wait_s <= 0:
            raise ValueError("max_items must be >= 1 and max_wait_s > 0")
        self._max_items = max_items
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._items: list[T] = []
        self._first_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> None:
        if self._first_at is None:
            self._first_at = self._clock()
        self._items.append(item)

    def extend(self, items: list[T]) -> None:
        """Adds items arriving together (one network read): the batch may end up to len(items) - 1
        over max_items, and is due at once."""
        if items:
            if self._first_at is None:
                self._first_at = self._clock()
            self._items.extend(items)

    def due(self) -> bool:
        if not self._items:
            return False
        assert self._first_at is not None
        return (
            len(self._items) >= self._max_items
            or self._clock() - self._first_at >= self._max_wait_s
        )

    def wait_s(self) -> float:
        """Seconds until the current batch is due by age (max_wait_s when empty)."""
        if self._first_at is None:
            return self._max_wait_s
        return max(0.0, self._max_wait_s - (self._clock() - self._first_at))

    def take(self) -> list[T]:
        items, self._items, self._first_at = self._items, [], None
        return items
