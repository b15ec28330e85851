from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.history.params import Range, parse_bucket, rolls_up, served_by_rollup, whole_hours

T = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("bucket", "expected"), [
    ("1h", True), ("6h", True), ("1d", True), ("7d", True), ("90m", False), ("30m", False),
    ("3599s", False), ("60m", True),
])  # fmt: skip
def test_only_buckets_of_whole_hours_roll_up(bucket: str, expected: bool) -> None:
    assert rolls_up(parse_bucket(bucket)) is expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T, T + 3 * HOUR, (T, T + 3 * HOUR)),
        (T + timedelta(minutes=17), T + 3 * HOUR + timedelta(seconds=1), (T + HOUR, T + 3 * HOUR)),
        (T + timedelta(minutes=10), T + timedelta(minutes=50), (T + HOUR, T + HOUR)),
        (T - timedelta(microseconds=1), T + HOUR - timedelta(microseconds=1), (T, T)),
    ],
)
def test_whole_hours_leave_out_the_partial_hours_at_either_edge(
    start: datetime, end: datetime, expected: tuple[datetime, datetime]
) -> None:
    assert whole_hours(Range(start, end, HOUR)) == expected


M = timedelta(minutes=1)
# 07:20 to 13:40: whole hours 08:00 to 13:00.
SPAN = Range(T + 20 * M, T + 6 * HOUR + 40 * M, HOUR)


def test_the_rollup_serves_the_settled_whole_hours_and_readings_the_edges() -> None:
    got = served_by_rollup(SPAN, watermark=T + 12 * HOUR, dirty=[])
    assert (got.lo, got.hi, got.dirty) == (T + HOUR, T + 6 * HOUR, ())
    assert got.raw == ((T + 20 * M, T + HOUR), (T + 6 * HOUR, T + 6 * HOUR + 40 * M))


def test_hours_from_the_watermark_on_are_read_from_readings() -> None:
    got = served_by_rollup(SPAN, watermark=T + 4 * HOUR, dirty=[])
    assert (got.lo, got.hi) == (T + HOUR, T + 4 * HOUR)
    assert got.raw == ((T + 20 * M, T + HOUR), (T + 4 * HOUR, SPAN.end))


@pytest.mark.parametrize("watermark", [None, T - 48 * HOUR, T + HOUR])
def test_before_the_first_refresh_or_behind_the_range_everything_is_raw(
    watermark: datetime | None,
) -> None:
    got = served_by_rollup(SPAN, watermark=watermark, dirty=[])
    assert got.lo == got.hi == T + HOUR
    assert got.raw == ((SPAN.start, SPAN.end),)


def test_dirty_hours_are_read_raw_and_adjacent_spans_merge() -> None:
    dirty = [T + 3 * HOUR, T + HOUR, T + 4 * HOUR, T + 9 * HOUR, T - HOUR, T + 3 * HOUR]
    got = served_by_rollup(SPAN, watermark=T + 12 * HOUR, dirty=dirty)
    assert got.dirty == (T + HOUR, T + 3 * HOUR, T + 4 * HOUR)  # outside [lo, hi) dropped
    assert got.raw == (
        (T + 20 * M, T + 2 * HOUR),  # the leading edge and 08:00
        (T + 3 * HOUR, T + 5 * HOUR),  # 10:00 and 11:00
        (T + 6 * HOUR, SPAN.end),
    )


def test_a_range_inside_one_hour_is_one_raw_span() -> None:
    span = Range(T + 10 * M, T + 50 * M, HOUR)
    got = served_by_rollup(span, watermark=T + 12 * HOUR, dirty=[T])
    assert got.lo == got.hi
    assert got.raw == ((span.start, span.end),)
