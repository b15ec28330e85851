"""Pure hour arithmetic of the hourly rollup (telemetry.hourly_rollup): which (machine, hour)
pairs a batch touches, and which hours a refresh may claim. Hours are UTC hours, the same
boundaries as time_bucket('1 hour', ts) and date_trunc('hour', ts, 'UTC').
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from telemetry.wire import Reading

HOUR: Final = timedelta(hours=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def floor_hour(ts: datetime) -> datetime:
    """The start of the UTC hour holding `ts` (an aware datetime)."""
    return _EPOCH + (ts - _EPOCH) // HOUR * HOUR


def ceil_hour(ts: datetime) -> datetime:
    """The first UTC hour boundary at or after `ts`."""
    floor = floor_hour(ts)
    return floor if floor == ts else floor + HOUR


def batch_hours(readings: Iterable[tuple[int, Reading]]) -> tuple[list[int], list[datetime]]:
    """The distinct (machine id, hour) pairs of a batch as two aligned columns, sorted: every
    ingest worker then locks the pairs it marks in the same order, so two never deadlock."""
    pairs = sorted({(machine_id, floor_hour(r.ts)) for machine_id, r in readings})
    return [m for m, _ in pairs], [h for _, h in pairs]


def claim_before(now: datetime, settle: timedelta) -> datetime:
    """Hours starting before this have ended at least `settle` ago: a refresh claims only them,
    so the hour still filling (and readings a few seconds late for the one before) is not
    recomputed every minute."""
    return floor_hour(now - settle)
