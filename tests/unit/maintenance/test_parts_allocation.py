from __future__ import annotations

import pytest

from maintenance.parts.allocation import Decision, Waiting, allocate, fill_backorders


@pytest.mark.parametrize(
    ("available", "qty", "expected"),
    [
        (5, 1, Decision.RESERVE),
        (2, 2, Decision.RESERVE),  # the last units go
        (1, 2, Decision.BACKORDER),  # never split: one unit on the shelf is not a reservation of 2
        (0, 1, Decision.BACKORDER),
        (-1, 1, Decision.BACKORDER),  # over-reserved stock (should not happen) reserves nothing
    ],
)
def test_a_request_is_reserved_in_full_or_backordered(
    available: int, qty: int, expected: Decision
) -> None:
    assert allocate(available=available, qty=qty) is expected


@pytest.mark.parametrize("qty", [0, -1])
def test_a_request_for_no_units_is_refused(qty: int) -> None:
    with pytest.raises(ValueError, match="positive quantity"):
        allocate(available=3, qty=qty)


def test_decisions_are_the_request_statuses_they_lead_to() -> None:
    assert {str(d) for d in Decision} == {"reserved", "backordered"}


@pytest.mark.parametrize(
    ("available", "waiting", "expected"),
    [
        (0, [(1, 1)], []),
        (3, [], []),
        (3, [(1, 1), (2, 1), (3, 1), (4, 1)], [1, 2, 3]),  # oldest first while stock lasts
        (4, [(1, 2), (2, 2)], [1, 2]),
        # the oldest does not fit: a younger, smaller request does not jump the queue
        (2, [(1, 3), (2, 1)], []),
        (4, [(1, 1), (2, 5), (3, 1)], [1]),
    ],
)
def test_a_delivery_fills_backorders_oldest_first_and_stops_at_the_first_that_does_not_fit(
    available: int, waiting: list[tuple[int, int]], expected: list[int]
) -> None:
    queue = [Waiting(request_id=i, qty=q) for i, q in waiting]
    assert fill_backorders(available=available, waiting=queue) == expected
