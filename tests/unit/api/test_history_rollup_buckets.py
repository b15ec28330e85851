from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.history.params import Range, parse_bucket, rolls_up, whole_hours

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
