"""Pure stock allocation: reserve or backorder a request, and which backorders a delivery fills.

A request is reserved in full or backordered in full, never split. A technician needs the whole
quantity to do the job, so a part of it on the shelf only blocks units another ticket could use,
and a split would need a second request row per remainder to track what is still missing.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Decision(enum.StrEnum):
    """The parts request status a decision leads to."""

    RESERVE = "reserved"
    BACKORDER = "backordered"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A backordered request, as receive() sees it."""

    request_id: int
    qty: int


def allocate(*, available: int, qty: int) -> Decision:
    """available is on_hand - reserved at the request's dealer, read under the stock row's lock."""
    if qty <= 0:
        raise ValueError(f"a parts request needs a positive quantity, got {qty}")
    return Decision.RESERVE if available >= qty else Decision.BACKORDER


def fill_backorders(*, available: int, waiting: Sequence[Waiting]) -> list[int]:
    """The request ids a delivery reserves: `waiting` oldest first, stopping at the first that does
    not fit. A smaller, younger request is not let past: the oldest promise is kept first, and
    would otherwise wait for as long as small requests keep arriving."""
    filled: list[int] = []
    for request in waiting:
        if allocate(available=available, qty=request.qty) is Decision.BACKORDER:
            break
        filled.append(request.request_id)
        available -= request.qty
    return filled
