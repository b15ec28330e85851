"""Job slots: a periodic job's fire time floored to its interval, counted from the Unix epoch. No
I/O. Every scheduler computes the same slot for the same fire time, so (job, slot) names one run
whichever process fires it (maintenance.job_runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def interval_us(every_s: float) -> int:
    """The interval in whole microseconds (timestamptz's resolution); ValueError if below one."""
    step = round(every_s * 1_000_000)
    if step < 1:
        raise ValueError(f"a job interval must be at least 1 µs, got {every_s!r} s")
    return step


def slot_of(fire_time: datetime, *, every_s: float) -> datetime:
    """The start of the interval holding `fire_time` (aware): a daily job's slot is UTC midnight,
    a minutely one the minute. Integer microseconds, so no float rounding moves a boundary."""
    if fire_time.tzinfo is None:
        raise ValueError("fire_time must be timezone-aware")
    step = interval_us(every_s)
    elapsed = (fire_time - EPOCH) // _MICROSECOND
    return EPOCH + (elapsed - elapsed % step) * _MICROSECOND
