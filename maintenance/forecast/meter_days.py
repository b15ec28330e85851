"""Which local days of a machine's hour meter the hourly rollup can answer, and which need a probe
of readings. Pure: the caller reads the day bounds, the rollup's watermark and the dirty hours.

The meter at the end of a day is its last reading's engine_hours, which is the day's highest: the
hour meter only rises (a swapped controller's lower reading shows as a day whose meter went back
either way, and usage_from_meter leaves that day unknown). readings_hourly
(telemetry.hourly_rollup) holds the maximum per UTC hour, so a day is the maximum of its hours
when the rollup has every one of them as it stands:
- the day starts and ends on whole UTC hours (true in every zone but the half- and quarter-hour
  ones: India, Iran, Nepal, Newfoundland, central Australia, ...), so its hours are its own;
- every hour starts before the watermark (rolled_up_before; None: the rollup never ran);
- none of its hours is dirty (late readings since the hour was rolled up).
Any other day is read from readings, one index probe for its last reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from telemetry.rollup_hours import floor_hour


@dataclass(frozen=True, slots=True)
class LocalDay:
    """A calendar day in a time zone as the UTC interval [start, end)."""

    day: date
    start: datetime
    end: datetime


def rollup_days(
    days: Sequence[LocalDay], *, watermark: datetime | None, dirty: Iterable[datetime]
) -> set[date]:
    """The days the rollup holds completely (see the module docstring); `dirty` are one machine's
    dirty hours (UTC hour starts)."""
    if watermark is None:
        return set()
    dirty_hours = tuple(dirty)  # iterated once per day
    served: set[date] = set()
    for d in days:
        if d.end > watermark or floor_hour(d.start) != d.start or floor_hour(d.end) != d.end:
            continue
        if any(d.start <= h < d.end for h in dirty_hours):
            continue
        served.add(d.day)
    return served
