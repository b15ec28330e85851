"""Checks for the owner's history requests, pure: the telemetry range, its bucket and signals,
and the keyset cursor of the fault history. Every refusal names the value and says what would do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from maintenance.errors import Invalid
from telemetry.signals import BY_NAME
from telemetry.wire import Kind

# A chart is at most a couple of thousand points wide; more buckets only cost the database and
# the network. Past this the request is refused with the smallest bucket that would do.
MAX_BUCKETS: Final = 2000
# One year and a day: a season-on-season comparison, while bounding the rows one request reads.
MAX_RANGE: Final = timedelta(days=366)
DEFAULT_RANGE: Final = timedelta(hours=24)
# Bucket starts are multiples of the bucket from this Monday (TimescaleDB's own default origin),
# passed explicitly so the count checked here is the count the query returns.
ORIGIN: Final = datetime(2000, 1, 3, tzinfo=UTC)
# What `bucket` defaults to: the smallest of these giving at most MAX_BUCKETS for the range.
NICE_BUCKETS: Final = tuple(
    timedelta(seconds=s)
    for s in (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
              86400, 7 * 86400)
)  # fmt: skip
DEFAULT_SIGNALS: Final = ("engine_hours", "rpm", "load_pct", "coolant_c", "fuel_pct")
HOUR: Final = timedelta(hours=1)
_UNIX: Final = datetime(1970, 1, 1, tzinfo=UTC)
_BUCKET = re.compile(r"^([1-9][0-9]{0,6})(s|m|h|d)$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    end: datetime
    bucket: timedelta


def parse_bucket(text: str) -> timedelta:
    match = _BUCKET.match(text.strip())
    if match is None:
        raise Invalid(f"bucket {text!r} is not a whole number of s, m, h or d (e.g. 30s, 5m, 1h)")
    return timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])


def bucket_text(bucket: timedelta) -> str:
    seconds = int(bucket.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


def bucket_count(start: datetime, end: datetime, bucket: timedelta) -> int:
    """How many buckets [start, end) touches, aligned to ORIGIN."""
    first = (start - ORIGIN) // bucket
    last = (end - ORIGIN - timedelta(microseconds=1)) // bucket
    return last - first + 1


def rolls_up(bucket: timedelta) -> bool:
    """Whether buckets of this size are unions of whole UTC hours, so that they can be served from
    the hourly rollup (telemetry.hourly_rollup): a whole number of hours counted from ORIGIN,
    which is itself on an hour boundary."""
    return bucket % HOUR == timedelta(0) and (ORIGIN - _UNIX) % HOUR == timedelta(0)


def whole_hours(span: Range) -> tuple[datetime, datetime]:
    """The whole UTC hours inside [start, end) as [first, end) (empty: first == end); the
    partial hours at either edge are outside it."""
    first = _UNIX + -((_UNIX - span.start) // HOUR) * HOUR  # ceiling
    last = _UNIX + (span.end - _UNIX) // HOUR * HOUR
    return first, max(first, last)


@dataclass(frozen=True, slots=True)
class Served:
    """How a range of whole-hour buckets is read: hours in [lo, hi) but not in `dirty` from the
    rollup, and the `raw` spans (sorted, disjoint, inside the range) from readings."""

    lo: datetime
    hi: datetime
    dirty: tuple[datetime, ...]
    raw: tuple[tuple[datetime, datetime], ...]


def served_by_rollup(
    span: Range, *, watermark: datetime | None, dirty: Sequence[datetime]
) -> Served:
    """Split `span` between the hourly rollup and readings, given the rollup's watermark (hours
    before it are settled and rolled up; None: never run) and the machine's dirty hours (late
    readings since their hour was rolled up). The rollup serves the whole hours before the
    watermark that are not dirty; readings serve the partial hours at either edge, the hours from
    the watermark on and the dirty hours, as few spans as cover them."""
    lo, hour_hi = whole_hours(span)
    hi = lo if watermark is None else max(lo, min(hour_hi, watermark))
    dirty_in = tuple(sorted({h for h in dirty if lo <= h < hi}))
    pieces = [(span.start, lo), *((h, h + HOUR) for h in dirty_in), (hi, span.end)]
    raw: list[tuple[datetime, datetime]] = []
    for a, b in pieces:
        a, b = max(a, span.start), min(b, span.end)
        if a >= b:
            continue
        if raw and a <= raw[-1][1]:  # touching or overlapping the previous span: extend it
            raw[-1] = (raw[-1][0], max(raw[-1][1], b))
        else:
            raw.append((a, b))
    return Served(lo, hi, dirty_in, tuple(raw))


def utc(value: datetime, *, name: str) -> datetime:
    if value.tzinfo is None:
        raise Invalid(f"{name} {value.isoformat()} has no time zone; give one, e.g. Z for UTC")
    return value.astimezone(UTC)


def telemetry_range(
    start: datetime | None, end: datetime | None, bucket: str | None, *, now: datetime
) -> Range:
    """`end` defaults to now, `start` to DEFAULT_RANGE before `end`, `bucket` to the smallest of
    NICE_BUCKETS that fits MAX_BUCKETS."""
    end = utc(end, name="to") if end else now
    start = utc(start, name="from") if start else end - DEFAULT_RANGE
    if start >= end:
        raise Invalid(f"from {start.isoformat()} must be before to {end.isoformat()}")
    if end - start > MAX_RANGE:
        raise Invalid(f"from..to spans {end - start}; at most {MAX_RANGE.days} days a request")
    if bucket is None:
        size = next(b for b in NICE_BUCKETS if bucket_count(start, end, b) <= MAX_BUCKETS)
        return Range(start, end, size)
    size = parse_bucket(bucket)
    count = bucket_count(start, end, size)
    if count > MAX_BUCKETS:
        need = math.ceil((end - start).total_seconds() / (MAX_BUCKETS - 1))
        raise Invalid(
            f"bucket {bucket} gives {count} buckets from {start.isoformat()} to"
            f" {end.isoformat()}; at most {MAX_BUCKETS}: use a bucket of at least"
            f" {bucket_text(timedelta(seconds=need))} or a shorter range"
        )
    return Range(start, end, size)


def signals_for(requested: Sequence[str], *, kind: Kind) -> list[str]:
    """The signals asked for (comma-separated or repeated), in order, once each; DEFAULT_SIGNALS
    when none. Unknown names, and signals this kind of machine does not report, are refused."""
    names = [n.strip() for text in requested for n in text.split(",") if n.strip()]
    if not names:
        return list(DEFAULT_SIGNALS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise Invalid(
            f"unknown signal {', '.join(map(repr, unknown))}; known: {', '.join(sorted(BY_NAME))}"
        )
    foreign = [n for n in names if kind not in BY_NAME[n].kinds]
    if foreign:
        raise Invalid(f"a {kind} does not report {', '.join(map(repr, foreign))}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class FaultCursor:
    """Keyset position in a fault history ordered by (onset, spn, fmi) descending."""

    onset: datetime
    spn: int
    fmi: int

    def text(self) -> str:
        return f"{(self.onset - ORIGIN) // timedelta(microseconds=1)}.{self.spn}.{self.fmi}"

    @classmethod
    def parse(cls, text: str) -> FaultCursor:
        try:
            micros, spn, fmi = (int(part) for part in text.split("."))
            return cls(ORIGIN + timedelta(microseconds=micros), spn, fmi)
        except (ValueError, OverflowError):
            raise Invalid("before must be the next_before value of a previous page") from None
